//! Frees the initramfs before the switch into the base: everything on the initramfs's own
//! filesystem is deleted (as util-linux's switch_root does), without crossing into other
//! mounts such as the new root. It acts only when `/` really is the initramfs (ramfs or tmpfs),
//! so it can never touch a disk.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

const RAMFS_MAGIC: i64 = 0x8584_58f6;
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// True when `/` is an in-memory filesystem (the initramfs's rootfs).
fn root_is_in_memory() -> bool {
    let mut stat = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: the path is a valid C string and `stat` is large enough for the result.
    let rc = unsafe { libc::statfs(c"/".as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return false;
    }
    // SAFETY: statfs succeeded, so the struct is initialized. f_type's integer type differs
    // between architectures, hence the conversion.
    #[allow(clippy::useless_conversion)]
    let kind = i64::from(unsafe { stat.assume_init() }.f_type);
    kind == RAMFS_MAGIC || kind == TMPFS_MAGIC
}

/// Deletes the initramfs contents except `keep` (the new root's mount point); best effort,
/// returns how many entries were removed.
pub fn free_initramfs(keep: &Path) -> usize {
    if !root_is_in_memory() {
        return 0;
    }
    let Ok(root) = std::fs::symlink_metadata("/") else {
        return 0;
    };
    remove_children(Path::new("/"), root.dev(), keep)
}

fn remove_children(dir: &Path, dev: u64, keep: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        // Other filesystems (the new root and anything mounted inside) stay untouched.
        if path == keep || meta.dev() != dev {
            continue;
        }
        if meta.is_dir() {
            removed += remove_children(&path, dev, keep);
            removed += usize::from(std::fs::remove_dir(&path).is_ok());
        } else {
            removed += usize::from(std::fs::remove_file(&path).is_ok());
        }
    }
    removed
}
