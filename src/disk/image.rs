//! The image file itself: a sparse temporary file beside the target that is renamed into place
//! on success and removed on failure. Writing into it goes through [`crate::window`].

use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// An image being written: a temporary file in the target's directory.
pub struct PendingImage {
    temp: NamedTempFile,
    target: PathBuf,
}

impl PendingImage {
    /// Creates an empty sparse file of `size` bytes beside `target`.
    pub fn create(target: &Path, size: u64) -> Result<Self> {
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary image in {}", dir.display()))?;
        temp.as_file()
            .set_len(size)
            .with_context(|| format!("sizing {} to {size} bytes", temp.path().display()))?;
        Ok(PendingImage {
            temp,
            target: target.to_owned(),
        })
    }

    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// Where the bytes are while the image is being written (external tools write here).
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Flushes and renames the file to its target.
    pub fn commit(self) -> Result<PathBuf> {
        // Temporary files are created 0600; a finished image is an ordinary output file,
        // readable like the manifest and packed snaps beside it.
        self.temp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("setting the mode of {}", self.temp.path().display()))?;
        self.temp
            .as_file()
            .sync_all()
            .with_context(|| format!("flushing {}", self.temp.path().display()))?;
        self.temp
            .persist(&self.target)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming the image to {}", self.target.display()))?;
        Ok(self.target)
    }

    /// Keeps the partial file for debugging and returns its path.
    pub fn keep(self) -> Result<PathBuf> {
        let (_, path) = self
            .temp
            .keep()
            .map_err(|e| e.error)
            .context("keeping the failed image")?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn committed_image_is_readable_by_all() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("pc.img");
        let pending = PendingImage::create(&target, 4096).unwrap();
        let path = pending.commit().unwrap();
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "mode {mode:o}");
    }
}
