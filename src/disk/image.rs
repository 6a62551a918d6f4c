//! The image file itself: created at its full size as a sparse file (nothing allocated until
//! written), readable like the other outputs, and flushed when complete. Where it is created
//! (a staging directory) and what happens to it on failure is the caller's business.

use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// An image being written: the open file and its path (external tools write through the path).
pub struct ImageFile<'p> {
    file: File,
    path: &'p Path,
}

impl<'p> ImageFile<'p> {
    /// Creates (or truncates) `path` as an empty sparse file of `size` bytes.
    pub fn create(path: &'p Path, size: u64) -> Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.set_len(size)
            .with_context(|| format!("sizing {} to {size} bytes", path.display()))?;
        // A finished image is an ordinary output file, readable like the manifest and packed
        // snaps beside it, whatever the umask.
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
        Ok(ImageFile { file, path })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn path(&self) -> &Path {
        self.path
    }

    /// Flushes the image to its storage.
    pub fn finish(self) -> Result<()> {
        self.file
            .sync_all()
            .with_context(|| format!("flushing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_image_is_sparse_and_readable_by_all() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("pc.img");
        ImageFile::create(&target, 1 << 20)
            .unwrap()
            .finish()
            .unwrap();
        let meta = std::fs::metadata(&target).unwrap();
        let mode = meta.permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "mode {mode:o}");
        assert_eq!(meta.len(), 1 << 20);
    }
}
