//! Failures of the host rather than of the image: QEMU, OVMF or a host-check tool missing, no
//! room for the scenarios' disk copies. [`preflight`] checks them before any VM starts, and a
//! boot that could not be prepared or started is one too; `snapsmith validate` exits with
//! [`EXIT_CODE`] for them, so CI tells a broken runner from a broken image.

use super::planner::BootPath;
use std::path::Path;

/// The exit code of `snapsmith validate` when the host failed (docs/validate.md lists them all).
pub const EXIT_CODE: u8 = 3;

/// The host cannot run the validation.
#[derive(Debug, thiserror::Error)]
#[error("host failure: {0}")]
pub struct HostFailure(pub String);

/// Tools the runner and the host checks run.
const TOOLS: &[(&str, &str)] = &[
    (super::spec::QEMU, "qemu-system-x86"),
    ("cp", "coreutils"),
    ("sfdisk", "fdisk"),
    ("debugfs", "e2fsprogs"),
    ("e2fsck", "e2fsprogs"),
    ("mcopy", "mtools"),
    ("fsck.vfat", "dosfstools"),
    ("grub-editenv", "grub-common"),
];

/// The tools the runner and the host checks need are installed (checked first of all, before
/// the image is read: reading it uses some of them).
pub fn tools() -> Result<(), HostFailure> {
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(tool, _)| crate::exec::which(tool).is_none())
        .map(|(tool, package)| format!("{tool} (Debian package {package})"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(HostFailure(format!(
        "not installed: {}",
        missing.join(", ")
    )))
}

/// Checks the host before a run: the tools, OVMF when the image boots through firmware, and
/// free space in `work` for `copies` sparse copies of `image` (its allocated bytes each).
pub fn preflight(
    boot: BootPath,
    image: &Path,
    work: &Path,
    copies: usize,
) -> Result<(), HostFailure> {
    tools()?;
    if boot == BootPath::Firmware && super::ovmf().is_none() {
        return Err(HostFailure(
            "no OVMF firmware found (install the ovmf package)".into(),
        ));
    }
    let need = allocated(image)?.saturating_mul(copies as u64);
    let free = free_bytes(work)?;
    if free < need {
        return Err(HostFailure(format!(
            "{} has {} MiB free; {copies} copies of {} need {} MiB",
            work.display(),
            free >> 20,
            image.display(),
            need >> 20
        )));
    }
    Ok(())
}

fn allocated(image: &Path) -> Result<u64, HostFailure> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(image)
        .map(|m| m.blocks() * 512)
        .map_err(|e| HostFailure(format!("reading {}: {e}", image.display())))
}

/// Bytes an unprivileged writer may still use on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> Result<u64, HostFailure> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| HostFailure(format!("{}: path contains a NUL byte", dir.display())))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a valid C string and a buffer statvfs fills on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(HostFailure(format!(
            "{}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: statvfs returned 0, so the buffer is filled.
    let st = unsafe { st.assume_init() };
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_little_room_is_a_host_failure_naming_the_figures() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("pc.img");
        std::fs::write(&image, vec![1u8; 1 << 20]).unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        let copies = usize::try_from(free / (1 << 20) + 2).unwrap();
        let err = preflight(BootPath::DirectKernel, &image, dir.path(), copies)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("host failure:") && err.contains("MiB free"),
            "{err}"
        );
        preflight(BootPath::DirectKernel, &image, dir.path(), 2).unwrap();
    }
}
