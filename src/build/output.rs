//! Atomic build output, owned here alone: everything is written into a staging directory inside
//! the output directory and moved to its final name only when the whole build succeeded. While
//! it lives, [`Staging`] holds an exclusive `flock` on its directory. On failure the directory
//! is removed, or kept and named in the error with `--keep-failed`, so a failed or interrupted
//! build never leaves a file at an output path. Interruption: the command installs one
//! [`crate::interrupt::InterruptGuard`] for its whole run (the CLI does), so Ctrl-C and SIGTERM
//! make the writers fail at their next chunk and end here, in the cleanup.
//!
//! A build killed outright (`kill -9`) cannot clean up; the next build into the same directory
//! removes every `.snapsmith-build-*` directory whose lock it can take. A live build holds its
//! lock, so its directory is never taken for a stale one; directories kept by `--keep-failed`
//! end in `-kept` and stay until removed by hand.

use crate::disk::{self, Checked, WriteOptions};
use anyhow::{Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Name prefix of staging directories.
const PREFIX: &str = ".snapsmith-build-";
/// Name prefix while a staging directory is created, before its lock is held.
const NEW_PREFIX: &str = ".snapsmith-new-";
/// Name suffix of staging directories kept by `--keep-failed`.
const KEPT_SUFFIX: &str = "-kept";

/// Where and how a command's images are written.
#[derive(Clone, Copy)]
pub struct OutputOptions<'a> {
    pub out_dir: &'a Path,
    /// Keep the partial output of a failed write (named in the error) instead of removing it.
    pub keep_failed: bool,
    pub write: WriteOptions<'a>,
    /// The images' format once written (they are written raw, then converted).
    pub format: super::format::OutputFormat,
}

/// Writes the images of a checked plan into a staging directory in `out.out_dir`, lets
/// `finish` add files beside them (it gets the staging directory with the raw images and
/// returns the names it wrote), converts the images to `out.format` and moves everything into
/// place. Returns the final paths: images, then `finish`'s.
pub fn write_staged(
    plan: Checked,
    out: &OutputOptions,
    finish: impl FnOnce(&Path) -> Result<Vec<String>>,
) -> Result<Vec<PathBuf>> {
    let staging = Staging::create(out.out_dir, out.keep_failed)?;
    let staged = disk::write_image(plan, staging.path(), &out.write).and_then(|written| {
        let mut names = Vec::new();
        for path in &written {
            let name = path.file_name().context("an image path without a name")?;
            names.push(name.to_string_lossy().into_owned());
        }
        crate::interrupt::check()?;
        let extra = finish(staging.path())?;
        if out.format != super::format::OutputFormat::Raw {
            out.write.progress.timed("convert");
            for name in &mut names {
                let converted = out.format.convert(&staging.path().join(&*name))?;
                *name = converted
                    .file_name()
                    .context("a converted image without a name")?
                    .to_string_lossy()
                    .into_owned();
            }
        }
        names.extend(extra);
        Ok(names)
    });
    match staged {
        Ok(names) => {
            out.write.progress.timed("commit");
            staging.commit(&names)
        }
        Err(err) => Err(staging.fail(err)),
    }
}

/// A staging directory beside the outputs.
#[derive(Debug)]
pub struct Staging {
    dir: Option<PathBuf>,
    out_dir: PathBuf,
    keep_failed: bool,
    /// Open directory holding the exclusive lock; released when dropped.
    _lock: File,
}

impl Staging {
    /// Creates `out_dir` if needed, removes stale staging directories in it and creates a
    /// locked staging directory. With `keep_failed` a failed build's directory is kept.
    pub fn create(out_dir: &Path, keep_failed: bool) -> Result<Staging> {
        std::fs::create_dir_all(out_dir)
            .with_context(|| format!("creating output directory {}", out_dir.display()))?;
        remove_stale(out_dir);
        let (dir, lock) = locked_dir(out_dir)
            .with_context(|| format!("creating a staging directory in {}", out_dir.display()))?;
        Ok(Staging {
            dir: Some(dir),
            out_dir: out_dir.to_path_buf(),
            keep_failed,
            _lock: lock,
        })
    }

    /// Where outputs are written before they are committed.
    pub fn path(&self) -> &Path {
        self.dir.as_deref().unwrap_or(&self.out_dir)
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
            std::fs::remove_dir_all(&dir).context("removing the staging directory")?;
        }
        Ok(done)
    }

    /// Ends a failed build: the staging directory is removed, or kept and named in the error.
    pub fn fail(mut self, err: anyhow::Error) -> anyhow::Error {
        let Some(dir) = self.dir.take() else {
            return err;
        };
        if self.keep_failed {
            let kept = keep(&dir);
            return err.context(format!(
                "build failed; partial output kept in {}",
                kept.display()
            ));
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => err,
            Err(e) => err.context(format!("removing the staging directory also failed: {e}")),
        }
    }
}

impl Drop for Staging {
    /// A staging directory neither committed nor failed (a panic) goes like a failed one.
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if self.keep_failed {
                keep(&dir);
            } else {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
}

/// Renames a failed staging directory out of the reach of [`remove_stale`]; returns its path.
fn keep(dir: &Path) -> PathBuf {
    let mut kept = dir.as_os_str().to_owned();
    kept.push(KEPT_SUFFIX);
    let kept = PathBuf::from(kept);
    match std::fs::rename(dir, &kept) {
        Ok(()) => kept,
        Err(_) => dir.to_path_buf(),
    }
}

/// Creates a staging directory and takes its lock before giving it the name [`remove_stale`]
/// looks for, so no other build can see it unlocked.
fn locked_dir(out_dir: &Path) -> Result<(PathBuf, File)> {
    let new = tempfile::Builder::new()
        .prefix(NEW_PREFIX)
        .tempdir_in(out_dir)?;
    let lock = File::open(new.path())?;
    lock.lock()?;
    let name = new
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(NEW_PREFIX))
        .context("unexpected staging directory name")?
        .to_string();
    let dir = out_dir.join(format!("{PREFIX}{name}"));
    std::fs::rename(new.path(), &dir)?;
    // Renamed away: the TempDir has nothing left to remove.
    let _ = new.keep();
    Ok((dir, lock))
}

/// Removes the staging directories in `out_dir` whose lock can be taken: their build is gone.
/// Best effort: what cannot be read or removed stays.
fn remove_stale(out_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(out_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(PREFIX) || name.ends_with(KEPT_SUFFIX) {
            continue;
        }
        let path = entry.path();
        let Ok(dir) = File::open(&path) else { continue };
        if dir.try_lock().is_ok() {
            tracing::debug!("removing stale staging directory {}", path.display());
            let _ = std::fs::remove_dir_all(&path);
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
        let s = Staging::create(&out.path().join("o"), false).unwrap();
        std::fs::write(s.path().join("pc.img"), b"img").unwrap();
        std::fs::write(s.path().join("manifest.json"), b"{}").unwrap();
        s.commit(&["pc.img".into(), "manifest.json".into()])
            .unwrap();
        assert_eq!(entries(&out.path().join("o")), ["manifest.json", "pc.img"]);
    }

    #[test]
    fn failure_leaves_nothing_unless_kept() {
        let out = tempfile::tempdir().unwrap();
        let s = Staging::create(out.path(), false).unwrap();
        std::fs::write(s.path().join("pc.img"), b"img").unwrap();
        let err = s.fail(anyhow::anyhow!("boom"));
        assert_eq!(format!("{err:#}"), "boom");
        assert!(entries(out.path()).is_empty());

        let s = Staging::create(out.path(), true).unwrap();
        std::fs::write(s.path().join("pc.img"), b"img").unwrap();
        let err = format!("{:#}", s.fail(anyhow::anyhow!("boom")));
        assert!(err.contains("partial output kept in"), "{err}");
        let kept = entries(out.path());
        assert_eq!(kept.len(), 1);
        assert!(kept[0].starts_with(".snapsmith-build-"));
        assert!(err.contains(&kept[0]), "{err}");
        // A kept directory is not stale: the next build leaves it alone.
        Staging::create(out.path(), false)
            .unwrap()
            .commit(&[])
            .unwrap();
        assert_eq!(entries(out.path()), kept);
    }

    #[test]
    fn stale_staging_directories_are_removed() {
        let out = tempfile::tempdir().unwrap();
        // What a build killed with SIGKILL leaves: a staging directory nobody holds a lock on.
        let stale = out.path().join(".snapsmith-build-dead");
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("pc.img"), b"partial").unwrap();
        let other = out.path().join("unrelated");
        std::fs::create_dir(&other).unwrap();
        let s = Staging::create(out.path(), false).unwrap();
        assert!(!stale.exists(), "{:?}", entries(out.path()));
        assert!(other.exists());
        s.commit(&[]).unwrap();
        assert_eq!(entries(out.path()), ["unrelated"]);
    }

    #[test]
    fn a_live_builds_staging_directory_is_kept() {
        let out = tempfile::tempdir().unwrap();
        let first = Staging::create(out.path(), false).unwrap();
        std::fs::write(first.path().join("pc.img"), b"img").unwrap();
        let second = Staging::create(out.path(), false).unwrap();
        assert!(first.path().join("pc.img").exists());
        assert_ne!(first.path(), second.path());
        second.commit(&[]).unwrap();
        first.commit(&["pc.img".into()]).unwrap();
        assert_eq!(entries(out.path()), ["pc.img"]);
    }
}
