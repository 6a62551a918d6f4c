//! The agent: what snapsmith does as PID 1 after switching into the base in run mode. It checks
//! the boot's health, commits a tried kernel (grubenv on ubuntu-boot, rewritten in place) and
//! base (modeenv), cleans up after a rollback, installs updates from a `snapsmith-update` disk
//! in try mode, and finally idles (powering off when asked). Every decision comes from
//! [`crate::boot::state`] and [`crate::boot::update`]; this file does the I/O and the markers
//! (listed in docs/agent.md).

use super::cmdline::Options;
use super::init::{block_uevents, console, find_partition};
use super::{MARKER, install, sys};
use crate::boot::grubenv::{self, Grubenv};
use crate::boot::modeenv::Modeenv;
use crate::boot::state;
use crate::boot::update::{self, DataState, Manifest, Then};
use anyhow::{Context, Result, bail};
use std::convert::Infallible;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use sys_mount::{Mount, MountFlags, UnmountFlags};

/// The base's optional health check.
pub const HEALTH: &str = "/snapsmith/health";
/// Where ubuntu-data is mounted inside the base.
pub const WRITABLE: &str = "/writable";
/// grubenv on ubuntu-boot.
pub const GRUBENV: &str = "EFI/ubuntu/grubenv";

/// What was booted.
#[derive(Debug, Clone)]
pub struct Booted {
    pub kernel: String,
    pub base: String,
    pub opts: Options,
}

/// Mounted filesystems the agent works with; unmounted before reboot or poweroff.
pub(super) struct Mounts {
    pub boot: Option<PathBuf>,
    pub update: Option<PathBuf>,
}

impl Mounts {
    fn release(&mut self) {
        for dir in [self.update.take(), self.boot.take()].into_iter().flatten() {
            let _ = sys_mount::unmount(&dir, UnmountFlags::empty());
        }
    }
}

/// Runs the agent; returns only with an error (the init then prints it and reboots).
pub fn run(booted: &Booted) -> Result<Infallible> {
    console(&format!(
        "{MARKER} run kernel={} base={}",
        booted.kernel, booted.base
    ));
    health()?;
    let scratch = scratch_dir()?;
    let mut mounts = Mounts {
        boot: mount_named(&booted.opts.boot_partition, &scratch.join("boot"), false)?,
        update: mount_named(update::PARTITION, &scratch.join("update"), true)?,
    };
    let modeenv_path = Path::new(WRITABLE).join(crate::seed::MODEENV_PATH);
    let env = read_modeenv(&modeenv_path)?;
    let grub_path = mounts.boot.as_ref().map(|b| b.join(GRUBENV));
    let grub = match &grub_path {
        Some(p) if p.exists() => Some(read_grubenv(p)?),
        _ => None,
    };
    let settled = state::settle(&env, grub.as_ref(), &booted.kernel, &booted.base);
    if let (Some(next), Some(path)) = (&settled.grubenv, &grub_path) {
        write_grubenv(path, next)?;
    }
    if let Some(next) = &settled.modeenv {
        write_synced(&modeenv_path, next.encode().as_bytes())?;
    }
    for event in &settled.events {
        console(&format!("{MARKER} {}", event.marker()));
    }
    let manifest = match &mounts.update {
        Some(dir) => Some(read_manifest(dir)?),
        None => None,
    };
    if let (Some(m), Some(dir)) = (&manifest, &mounts.update) {
        write_data(m)?;
        let env = settled.modeenv.unwrap_or(env);
        let grub = settled.grubenv.or(grub);
        let ctx = install::Context {
            update_dir: dir,
            boot_dir: mounts.boot.as_deref(),
            modeenv_path: &modeenv_path,
            scratch: &scratch,
        };
        if install::stage_all(&ctx, m, env, grub)? > 0 {
            shutdown(&mut mounts, Then::Reboot);
        }
    }
    console(&format!("{MARKER} idle"));
    let then = update::idle_action(manifest.as_ref(), booted.opts.poweroff_idle);
    shutdown(&mut mounts, then);
    bail!("the kernel refused to {then:?}")
}

/// Runs the base's health check, when it has one; its output goes to the console.
fn health() -> Result<()> {
    if std::fs::symlink_metadata(HEALTH).is_err() {
        return Ok(());
    }
    let status = crate::exec::Cmd::new(HEALTH)
        .spawn(Stdio::inherit(), Stdio::inherit())
        .and_then(|mut child| child.wait().context("waiting for the health check"));
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => bail!("health check failed: {HEALTH} exited with {status}"),
        Err(err) => bail!("health check failed: {err:#}"),
    }
}

/// A tmpfs for mount points: /run when the base has it, else a directory on ubuntu-data.
fn scratch_dir() -> Result<PathBuf> {
    let run = Path::new("/run");
    let dir = if run.is_dir() {
        Mount::builder()
            .fstype("tmpfs")
            .mount("tmpfs", run)
            .context("mounting tmpfs on /run")?;
        run.join("snapsmith")
    } else {
        Path::new(WRITABLE).join("system-data/var/lib/snapsmith/mnt")
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Mounts the vfat partition with GPT name `name` on `target` when the disk has it.
fn mount_named(name: &str, target: &Path, readonly: bool) -> Result<Option<PathBuf>> {
    let uevents = block_uevents();
    let Some(dev) = find_partition(uevents.iter().map(String::as_str), name) else {
        return Ok(None);
    };
    std::fs::create_dir_all(target)?;
    let flags = if readonly {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    };
    Mount::builder()
        .fstype("vfat")
        .flags(flags)
        .mount(Path::new("/dev").join(&dev), target)
        .with_context(|| format!("mounting /dev/{dev} ({name}) as vfat"))?;
    Ok(Some(target.to_path_buf()))
}

pub(super) fn read_modeenv(path: &Path) -> Result<Modeenv> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Modeenv::decode(&text).with_context(|| format!("reading {}", path.display()))
}

pub(super) fn read_grubenv(path: &Path) -> Result<Grubenv> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Grubenv::decode(&bytes).with_context(|| format!("reading {}", path.display()))
}

/// Rewrites the 1024-byte grubenv in place (GRUB's save_env relies on its sectors staying).
pub(super) fn write_grubenv(path: &Path, env: &Grubenv) -> Result<()> {
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

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(update::MANIFEST);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Manifest::parse(&text).with_context(|| format!("reading {}", path.display()))
}

/// The manifest's data files under system-data/: written once, reported on every boot.
fn write_data(m: &Manifest) -> Result<()> {
    let data = Path::new(WRITABLE).join("system-data");
    for (rel, content) in &m.write {
        let path = data.join(rel);
        let current = std::fs::read(&path).ok();
        let state = DataState::of(current.as_deref(), content);
        if state == DataState::Written {
            write_synced(&path, content.as_bytes())?;
        }
        console(&format!("{MARKER} data {} {rel}", state.word()));
    }
    Ok(())
}

/// Unmounts, makes ubuntu-data read-only and does `then`; returns only for `stay` after
/// reaping forever, or when the kernel refused the reboot or poweroff.
fn shutdown(mounts: &mut Mounts, then: Then) {
    if then == Then::Stay {
        sys::reap_forever();
    }
    mounts.release();
    let _ = sys::remount_readonly(Path::new(WRITABLE));
    match then {
        Then::Poweroff => sys::poweroff(),
        Then::Reboot | Then::Stay => sys::reboot(),
    }
}
