//! Packs the staged kernel snap into a squashfs GRUB 2.06 can read (gzip), deterministically,
//! through `mksquashfs`. Written to a temporary file beside the target and renamed on success.

use anyhow::{Context, Result};
use std::path::Path;

/// Packs `dir` into the snap file `out`.
pub fn pack_dir(dir: &Path, out: &Path) -> Result<()> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".snapsmith-")
        .suffix(".snap.tmp")
        .tempfile_in(parent)
        .with_context(|| format!("creating a temporary file beside {}", out.display()))?;
    let time = crate::repro::build_time()?.to_string();
    crate::exec::Cmd::new("mksquashfs")
        .arg(dir)
        .arg(tmp.path())
        .args([
            "-noappend",
            "-comp",
            "gzip",
            "-all-root",
            "-no-xattrs",
            "-quiet",
            "-no-progress",
        ])
        // mksquashfs takes every timestamp from SOURCE_DATE_EPOCH when it is set.
        .env("SOURCE_DATE_EPOCH", &time)
        .run()
        .with_context(|| format!("packing {}", out.display()))?;
    // Temporary files are created private; a snap is an ordinary readable file.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    tmp.persist(out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
