//! The example device's four snaps: the kernel snap from a Debian kernel package (with
//! snapsmith's initramfs), the busybox base (`examples/core` plus the host's static busybox and
//! the mount points snapsmith's init needs), the app and the gadget. Trees are written with
//! explicit modes (0755 directories and executables, 0644 files) so the snaps do not depend on
//! the umask.

use super::sources::SourceTree;
use crate::kernel::{KernelSnapOptions, KernelSnapReport, KernelTree, build_kernel_snap};
use crate::snap::{self, PackOptions};
use anyhow::{Context, Result};
use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where Debian's `busybox-static` puts its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Empty directories a busybox base needs: `bin` for busybox, and what snapsmith's init, the
/// base's own init and the app runtime (`/snap`, `/var/snap`: docs/apps.md) mount over.
pub const MOUNT_POINTS: &[&str] = &[
    "bin", "dev", "proc", "sys", "run", "tmp", "writable", "boot/efi", "snap", "var/snap",
];

/// Creates `rel` under `root` and every missing directory on the way, each with mode 0755.
fn make_dirs(root: &Path, rel: &Path) -> Result<()> {
    let mut dir = root.to_path_buf();
    for part in std::iter::once(None).chain(rel.components().map(Some)) {
        if let Some(part) = part {
            dir.push(part);
        }
        if !dir.is_dir() {
            std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755))
            .with_context(|| format!("setting the mode of {}", dir.display()))?;
    }
    Ok(())
}

fn write_file(root: &Path, rel: &str, bytes: &[u8], executable: bool) -> Result<()> {
    let path = root.join(rel);
    if let Some(parent) = Path::new(rel).parent() {
        make_dirs(root, parent)?;
    }
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(&path, Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// Writes a compiled-in source tree under `root`.
pub fn write_tree(root: &Path, tree: &SourceTree) -> Result<()> {
    make_dirs(root, Path::new(""))?;
    for file in tree.files {
        write_file(root, file.path, file.bytes, file.executable)?;
    }
    Ok(())
}

/// Adds `busybox` as `bin/busybox` and the empty [`MOUNT_POINTS`] to the tree at `root`.
pub fn busybox_root(root: &Path, busybox: &Path) -> Result<()> {
    for dir in MOUNT_POINTS {
        make_dirs(root, Path::new(dir))?;
    }
    let bytes = std::fs::read(busybox).with_context(|| format!("reading {}", busybox.display()))?;
    write_file(root, "bin/busybox", &bytes, true)
}

/// Packs a compiled-in source tree (app or gadget) into `out`, staging it in `work`.
pub fn source_snap(tree: &SourceTree, work: &Path, out: &Path, pack: &PackOptions) -> Result<()> {
    let root = work.join(tree.dir.replace('/', "-"));
    write_tree(&root, tree)?;
    snap::pack_dir(&root, out, pack).with_context(|| format!("packing {}", tree.dir))?;
    Ok(())
}

/// Where the base offers root the device command: snapsmith's runtime executable, which
/// answers to that name ([`crate::runtime::device`]).
pub const DEVICE_COMMAND: &str = "usr/bin/snapsmith-device";

/// Packs the busybox base: [`super::sources::CORE`] plus [`busybox_root`], and the runtime
/// executable `init` as [`DEVICE_COMMAND`] with the shared libraries it needs (the
/// initramfs's copy is gone once the base runs).
pub fn base_snap(
    (busybox, init): (&Path, &Path),
    work: &Path,
    out: &Path,
    pack: &PackOptions,
) -> Result<()> {
    let root = work.join("core");
    write_tree(&root, &super::sources::CORE)?;
    busybox_root(&root, busybox)?;
    let exe = std::fs::read(init).with_context(|| format!("reading {}", init.display()))?;
    for (dest, source) in crate::kernel::initramfs::library_closure(&exe)? {
        let bytes =
            std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
        write_file(&root, dest.trim_start_matches('/'), &bytes, true)?;
    }
    write_file(&root, DEVICE_COMMAND, &exe, true)?;
    snap::pack_dir(&root, out, pack).context("packing the busybox base")?;
    Ok(())
}

/// Builds the `pc-kernel` snap at `out` from the Debian kernel package `deb`; `init` (the
/// snapsmith runtime executable) becomes the initramfs's `/init`, `mtime` the files' time.
pub fn kernel_snap(deb: &Path, init: &Path, mtime: i64, out: &Path) -> Result<KernelSnapReport> {
    let tree = KernelTree::from_deb(deb)?;
    let opts = KernelSnapOptions {
        name: "pc-kernel".into(),
        extra_modules: Vec::new(),
        init: init.to_path_buf(),
        mtime,
    };
    build_kernel_snap(&tree, &opts, out)
        .with_context(|| format!("building the kernel snap from {}", deb.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_get_explicit_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("hello");
        write_tree(&root, &super::super::sources::HELLO).unwrap();
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("bin/hello"), 0o755);
        assert_eq!(mode("meta/snap.yaml"), 0o644);
        assert_eq!(mode("meta"), 0o755);
        assert_eq!(mode(""), 0o755);
    }
}
