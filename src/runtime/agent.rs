//! The agent: what snapsmith does as PID 1 after switching into the base in run mode. It checks
//! the boot's health, commits a tried kernel (grubenv on ubuntu-boot, rewritten in place) and
//! base (modeenv), cleans up after a rollback, installs updates from a `snapsmith-update` disk
//! in try mode (through the installer, called by [`super::pid1`] between [`settle`] and
//! [`finish`]), and finally idles (powering off when asked). Every decision comes from
//! [`crate::boot::state`] and [`crate::boot::update`]; this file does the I/O and the markers
//! (listed in docs/agent.md).

use super::bootdisk::{self, Role};
use super::bootenv::{self, Order};
use super::cmdline::Options;
use super::health::{self, Health};
use super::shared::{MARKER, WRITABLE, console, read_modeenv, write_synced};
use super::sys;
use super::watchdog::Watchdog;
use super::{power, shared::MARKER_ERROR};
use crate::boot::grubenv::Grubenv;
use crate::boot::modeenv::Modeenv;
use crate::boot::state;
use crate::boot::update::{self, Then};
use anyhow::{Context, Result, bail};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;
use sys_mount::{Mount, UnmountFlags};

/// What was booted.
#[derive(Debug, Clone)]
pub struct Booted {
    pub kernel: String,
    pub base: String,
    pub opts: Options,
    /// Armed by the init; fed up to its boot deadline until the agent settles the boot.
    pub watchdog: Watchdog,
}

/// Mounted filesystems the agent works with; unmounted before reboot or poweroff.
pub struct Mounts {
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

/// A settled boot: health checked, tried kernel or base committed or rolled back, and the
/// update medium mounted when one is attached.
pub struct Settled {
    pub mounts: Mounts,
    /// A directory for temporary mount points.
    pub scratch: PathBuf,
    pub modeenv_path: PathBuf,
    /// modeenv and grubenv as they are now on disk.
    pub modeenv: Modeenv,
    pub grubenv: Option<Grubenv>,
}

/// Checks health and settles the boot state; an error makes the init print it and reboot.
pub fn settle(booted: &Booted) -> Result<Settled> {
    console(&format!(
        "{MARKER} run kernel={} base={}",
        booted.kernel, booted.base
    ));
    let scratch = scratch_dir()?;
    let mounts = Mounts {
        // Read-only but while the agent or the installer writes (see sys::writable).
        boot: bootdisk::mount_role(&booted.opts, Role::Boot, &scratch.join("boot"), true)?,
        // Only ever read: mounted read-only, found by its partition type.
        update: bootdisk::update_partition()
            .map(|dev| bootdisk::mount_vfat(&dev, &scratch.join("update"), true))
            .transpose()
            .context("the update disk")?,
    };
    let modeenv_path = Path::new(WRITABLE).join(crate::seed::MODEENV_PATH);
    let env = read_modeenv(&modeenv_path)?;
    let boot = mounts.boot.as_deref();
    let grub = boot
        .map(|b| bootenv::read(b, &booted.kernel))
        .transpose()?
        .flatten();
    let trying = state::is_try_boot(&env, grub.as_ref(), &booted.kernel, &booted.base);
    judge_health(&booted.watchdog, trying)?;
    let settled = state::settle(&env, grub.as_ref(), &booted.kernel, &booted.base);
    if let (Some(next), Some(b)) = (&settled.grubenv, boot) {
        sys::writable(boot, || bootenv::write(b, next, Order::Commit))?;
    }
    if let (Some(in_force), Some(b)) = (settled.grubenv.as_ref().or(grub.as_ref()), boot) {
        let stale = bootenv::stale(b, in_force);
        if !stale.is_empty() {
            sys::writable(boot, || bootenv::repair(b, in_force, &stale))?;
        }
    }
    if let Some(next) = &settled.modeenv {
        write_synced(&modeenv_path, next.encode().as_bytes())?;
    }
    for event in &settled.events {
        console(&format!("{MARKER} {}", event.marker()));
    }
    booted.watchdog.feed_forever();
    Ok(Settled {
        mounts,
        scratch,
        modeenv_path,
        modeenv: settled.modeenv.unwrap_or(env),
        grubenv: settled.grubenv.or(grub),
    })
}

/// Reboots when `staged` updates wait to be tried, else idles as the command line asks (or
/// until the power button is pressed); returns only with an error (the kernel refused to reboot or power off).
pub fn finish(mut s: Settled, staged: usize, poweroff_idle: bool) -> Result<Infallible> {
    if staged > 0 {
        shutdown(&mut s.mounts, Then::Reboot);
    }
    let then = update::idle_action(poweroff_idle);
    // Listening before the marker: a press right after it is not missed.
    let (presses, _) = power::listen();
    console(&format!("{MARKER} idle"));
    match then {
        Then::Stay => match power::wait(&presses) {
            power::Wake::Button => {
                console(&format!("{MARKER} power button pressed: powering off"));
                shutdown(&mut s.mounts, Then::Poweroff);
            }
            power::Wake::Reboot => {
                console(&format!("{MARKER} reboot requested: rebooting"));
                shutdown(&mut s.mounts, Then::Reboot);
            }
        },
        then => shutdown(&mut s.mounts, then),
    }
    bail!("the kernel refused to {then:?}")
}

/// A try boot is confirmed only when healthy: a failed check is an error (the init reboots and
/// the boot state rolls the try back); a hung one stops feeding the watchdog, which resets the
/// machine. A committed system has nothing to fall back to: it reports and stays up.
fn judge_health(dog: &Watchdog, trying: bool) -> Result<()> {
    if trying {
        dog.feed_for(health::TIMEOUT + Duration::from_secs(5));
    } else {
        dog.feed_forever();
    }
    let limit = health::TIMEOUT.as_secs();
    match health::check(health::TIMEOUT) {
        Health::Good => Ok(()),
        Health::Failed(why) if trying => bail!("health check failed: {why}"),
        Health::Hung if trying && dog.armed() => {
            console(&format!(
                "{MARKER_ERROR} health check hung for {limit}s: the try boot is not confirmed, \
                 waiting for the watchdog"
            ));
            dog.stop_feeding();
            sys::reap_forever()
        }
        Health::Hung if trying => bail!("health check hung for {limit}s (no watchdog)"),
        Health::Failed(why) => {
            console(&format!(
                "{MARKER} health check failed: {why}; the committed system stays up"
            ));
            Ok(())
        }
        Health::Hung => {
            console(&format!(
                "{MARKER} health check hung for {limit}s; the committed system stays up"
            ));
            Ok(())
        }
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

/// Unmounts, makes ubuntu-data read-only and does `then`; returns only for `stay` after
/// reaping forever, or when the kernel refused the reboot or poweroff.
fn shutdown(mounts: &mut Mounts, then: Then) {
    if then == Then::Stay {
        sys::reap_forever();
    }
    super::apps::stop();
    mounts.release();
    let _ = sys::remount(Path::new(WRITABLE), true);
    match then {
        Then::Poweroff => sys::poweroff(),
        Then::Reboot | Then::Stay => sys::reboot(),
    }
}
