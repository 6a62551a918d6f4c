//! What the init, the agent and the update installer share, and the only runtime file they all
//! import: console markers, finding partitions by GPT name in sysfs (for `bootdisk`), synced writes, the boot-state file
//! codecs on disk (modeenv, grubenv rewritten in place), and loop-mounting snaps. It imports no
//! other runtime file, so init, agent and install depend on it and never on each other.

use crate::boot::grubenv::{self, Grubenv};
use crate::boot::modeenv::Modeenv;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use sys_mount::{Mount, MountFlags, UnmountFlags};

/// The version of the marker protocol (docs/validate.md): raised when an existing marker changes
/// its meaning.
pub const MARKER_PROTOCOL: u32 = 1;
/// Marker printed first, as soon as the console is usable.
pub const MARKER_INIT: &str = "snapsmith: init";
/// Marker printed just before control passes to the base's init.
pub const MARKER_READY: &str = "snapsmith: ready";
/// Marker printed once on a fatal error, just before the init reboots.
pub const MARKER_ERROR: &str = "snapsmith: error";
/// Prefix of the run-mode markers (`snapsmith: run ...`, `snapsmith: commit ...`, ...).
pub const MARKER: &str = "snapsmith:";

/// Where ubuntu-data is mounted (in the initramfs, and inside the base after the switch).
pub const WRITABLE: &str = "/writable";
/// grubenv on ubuntu-boot.
pub const GRUBENV: &str = "EFI/ubuntu/grubenv";

/// Writes one line to the console in a single write, so kernel messages do not split it.
pub fn console(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

/// The device name of the partition whose `PARTNAME` equals `name` (ignoring ASCII case),
/// given the `uevent` texts of `/sys/class/block/*`.
pub fn find_partition<'a>(
    uevents: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Option<String> {
    uevents.into_iter().find_map(|text| {
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        };
        field("PARTNAME")
            .filter(|p| p.eq_ignore_ascii_case(name))
            .and(field("DEVNAME"))
            .map(str::to_string)
    })
}

/// The `uevent` texts of every block device, sorted.
pub fn block_uevents() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/sys/class/block") else {
        return Vec::new();
    };
    let mut out: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("uevent")).ok())
        .collect();
    out.sort();
    out
}

/// Writes `bytes` to a temporary file beside `path`, fsyncs it and renames it over `path`. The
/// temporary name is fixed: random names would wait on the kernel's entropy early in boot.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().context("path has no file name")?;
    let temp = dir.join(format!(".{}.new", name.to_string_lossy()));
    let mut file =
        std::fs::File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("renaming into {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Copies `from` to `to` through [`write_synced`].
pub fn copy_synced(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    write_synced(to, &bytes)
}

/// Reads and decodes modeenv at `path`.
pub fn read_modeenv(path: &Path) -> Result<Modeenv> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Modeenv::decode(&text).with_context(|| format!("reading {}", path.display()))
}

/// Reads and decodes the grubenv at `path`.
pub fn read_grubenv(path: &Path) -> Result<Grubenv> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Grubenv::decode(&bytes).with_context(|| format!("reading {}", path.display()))
}

/// Rewrites the 1024-byte grubenv in place (GRUB's save_env relies on its sectors staying).
pub fn write_grubenv(path: &Path, env: &Grubenv) -> Result<()> {
    let bytes = env.encode()?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata()?.len();
    if usize::try_from(len).ok() != Some(grubenv::SIZE) {
        bail!(
            "{} is {len} bytes, expected {}",
            path.display(),
            grubenv::SIZE
        );
    }
    file.write_all_at(&bytes, 0)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Attaches `snap` to a free loop device, read-only and cleared on its last close, and mounts
/// it read-only as squashfs on `at`. Returns the loop device's path; on a failed mount the
/// device is detached again.
pub fn mount_snap(snap: &Path, at: &Path) -> Result<PathBuf> {
    let control = loopdev::LoopControl::open().context("opening /dev/loop-control")?;
    let device = control.next_free().context("finding a free loop device")?;
    device
        .with()
        .read_only(true)
        .autoclear(true)
        .attach(snap)
        .with_context(|| format!("attaching {} to a loop device", snap.display()))?;
    let dev = device.path().context("loop device has no path")?;
    let mounted = Mount::builder()
        .fstype("squashfs")
        .flags(MountFlags::RDONLY)
        .mount(&dev, at)
        .with_context(|| {
            format!(
                "mounting {} from {} as squashfs",
                snap.display(),
                dev.display()
            )
        });
    if let Err(err) = mounted {
        let _ = device.detach();
        return Err(err);
    }
    Ok(dev)
}

/// Loop-mounts the snap read-only on `at` (see [`mount_snap`]), runs `f` on it and unmounts
/// (the loop device clears itself).
pub fn with_mounted<T>(snap: &Path, at: &Path, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    std::fs::create_dir_all(at).with_context(|| format!("creating {}", at.display()))?;
    mount_snap(snap, at)?;
    let out = f(at);
    let _ = sys_mount::unmount(at, UnmountFlags::empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_partition_by_name_ignoring_case() {
        let uevents = [
            "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n",
            "MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\nPARTN=1\nPARTNAME=ubuntu-boot\n",
            "MAJOR=254\nMINOR=2\nDEVNAME=vda2\nDEVTYPE=partition\nPARTN=2\nPARTNAME=Ubuntu-Data\n",
        ];
        assert_eq!(
            find_partition(uevents, "ubuntu-data").as_deref(),
            Some("vda2")
        );
        assert_eq!(
            find_partition(uevents, "UBUNTU-BOOT").as_deref(),
            Some("vda1")
        );
        assert_eq!(find_partition(uevents, "ubuntu-save"), None);
        assert_eq!(find_partition(uevents, "ubuntu"), None);
    }
}
