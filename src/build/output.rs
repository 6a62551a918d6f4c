//! Atomic build output: everything is written into a staging directory inside the output
//! directory, and moved to its final name only when the whole build succeeded. On failure the
//! staging directory is removed, or kept (and named in the error) with `--keep-failed`, so a
//! failed or interrupted build never leaves a file at an output path.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A staging directory beside the outputs.
#[derive(Debug)]
pub struct Staging {
    dir: Option<tempfile::TempDir>,
    out_dir: PathBuf,
}

impl Staging {
    /// Creates `out_dir` if needed and a hidden staging directory inside it.
    pub fn create(out_dir: &Path) -> Result<Staging> {
        std::fs::create_dir_all(out_dir)
            .with_context(|| format!("creating output directory {}", out_dir.display()))?;
        let dir = tempfile::Builder::new()
            .prefix(".snapsmith-build-")
            .tempdir_in(out_dir)
            .with_context(|| format!("creating a staging directory in {}", out_dir.display()))?;
        Ok(Staging {
            dir: Some(dir),
            out_dir: out_dir.to_path_buf(),
        })
    }

    /// Where outputs are written before they are committed.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().map_or(&self.out_dir, |d| d.path())
    }

    /// Moves `names` (in order) from staging into the output directory and removes staging.
    /// Renames stay within one filesystem, so each output appears whole.
    pub fn commit(mut self, names: &[String]) -> Result<Vec<PathBuf>> {
        let mut done = Vec::new();
        for name in names {
            let from = self.path().join(name);
            let to = self.out_dir.join(name);
            std::fs::rename(&from, &to)
                .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
            done.push(to);
        }
        if let Some(dir) = self.dir.take() {
            dir.close().context("removing the staging directory")?;
        }
        Ok(done)
    }

    /// Ends a failed build: the staging directory is removed, or kept and named in the error.
    pub fn fail(mut self, err: anyhow::Error, keep: bool) -> anyhow::Error {
        let Some(dir) = self.dir.take() else {
            return err;
        };
        if keep {
            let kept = dir.keep();
            return err.context(format!(
                "build failed; partial output kept in {}",
                kept.display()
            ));
        }
        match dir.close() {
            Ok(()) => err,
            Err(e) => err.context(format!("removing the staging directory also failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn commit_moves_outputs_and_cleans_up() {
        let out = tempfile::tempdir().unwrap();
        let s = Staging::create(&out.path().join("o")).unwrap();
        std::fs::write(s.path().join("pc.img"), b"img").unwrap();
        std::fs::write(s.path().join("manifest.json"), b"{}").unwrap();
        s.commit(&["pc.img".into(), "manifest.json".into()])
            .unwrap();
        assert_eq!(entries(&out.path().join("o")), ["manifest.json", "pc.img"]);
    }

    #[test]
    fn failure_leaves_nothing_unless_kept() {
        let out = tempfile::tempdir().unwrap();
        let s = Staging::create(out.path()).unwrap();
        std::fs::write(s.path().join("pc.img"), b"img").unwrap();
        let err = s.fail(anyhow::anyhow!("boom"), false);
        assert_eq!(format!("{err:#}"), "boom");
        assert!(entries(out.path()).is_empty());

        let s = Staging::create(out.path()).unwrap();
        std::fs::write(s.path().join("pc.img"), b"img").unwrap();
        let err = format!("{:#}", s.fail(anyhow::anyhow!("boom"), true));
        assert!(err.contains("partial output kept in"), "{err}");
        let kept = entries(out.path());
        assert_eq!(kept.len(), 1);
        assert!(kept[0].starts_with(".snapsmith-build-"));
    }
}
