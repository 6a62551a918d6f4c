//! Recover mode (docs/recovery.md), the I/O: GRUB booted the recovery system's kernel from
//! ubuntu-seed with `snapsmith.mode=recover snapsmith.system=<label>`. The init mounts the seed
//! read-only, verifies the system (model, snap assertions, every snap file's digest:
//! [`crate::assertion::seed_trust`] decides), loop-mounts the seed's own base (never the run
//! system's) on /root and makes ubuntu-data available read-only at /writable when it mounts
//! at all, without replaying its journal: recover mode never writes it. After the switch this
//! process stays PID 1, reports `snapsmith: mode=recover` and idles.
//!
//! Run mode asks for recover mode with [`request`] when ubuntu-data cannot be mounted or its
//! base cannot be found: the seed's grubenv gets `snapd_recovery_mode=recover`, and the next
//! boot is the recovery system. GRUB sets the mode back to `run` as it boots the recovery
//! system (one shot), so leaving recover mode is a reboot, and no failure loops.

use super::bootdisk::{self, Role};
use super::cmdline::Options;
use super::power::Wake;
use super::shared::{GRUBENV, MARKER, WRITABLE, console, mount_snap, read_grubenv, write_grubenv};
use super::sys;
use super::trust::SEED_PARTITION;
use super::watchdog::Watchdog;
use crate::assertion::seed_trust::{self, SeedFile, SystemFiles};
use anyhow::{Context, Result, bail};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Instant;
use sys_mount::{Mount, MountFlags, UnmountFlags};

/// Where the seed is mounted in the initramfs (hidden, still mounted, after the switch: the
/// base's loop device reads from it).
const SEED_DIR: &str = "/seed";

/// A recovery system mounted on /root, ready for the switch.
#[derive(Debug)]
pub struct Prepared {
    pub label: String,
    /// The seed's kernel and base snap files.
    pub kernel: String,
    pub base: String,
    pub loop_dev: PathBuf,
    /// `read-only`, or why ubuntu-data is not available.
    pub data: String,
}

/// After the switch: what recover mode booted.
#[derive(Debug)]
pub struct Recovered {
    pub prepared: Prepared,
    pub poweroff_idle: bool,
    pub watchdog: Watchdog,
}

/// Mounts and verifies the seed, mounts its base on /root and ubuntu-data read-only on
/// /writable when it can. An error is a refusal: the caller must not boot the system.
pub fn prepare(opts: &Options) -> Result<Prepared> {
    let label = opts
        .system
        .clone()
        .context("recover mode needs snapsmith.system=<label> on the kernel command line")?;
    let started = Instant::now();
    let seed_dev = bootdisk::wait(opts, Role::Seed, opts.disk_timeout)?;
    std::fs::create_dir_all(SEED_DIR).with_context(|| format!("creating {SEED_DIR}"))?;
    Mount::builder()
        .fstype("vfat")
        .flags(MountFlags::RDONLY)
        .mount(&seed_dev, SEED_DIR)
        .with_context(|| format!("mounting {} ({SEED_PARTITION})", seed_dev.display()))?;
    let seed = Path::new(SEED_DIR);
    let system = verify(seed, &label).context("recover refused")?;
    console(&format!(
        "{MARKER} recover verified system={label} kernel={} base={} ms={}",
        system.kernel,
        system.base,
        started.elapsed().as_millis()
    ));
    let loop_dev = mount_snap(&seed.join(&system.base), Path::new("/root"))?;
    let data = mount_data_readonly(opts);
    let name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    Ok(Prepared {
        label,
        kernel: name(&system.kernel),
        base: name(&system.base),
        loop_dev,
        data,
    })
}

/// Reads the recovery system `label` and digests every snap file of the seed, then verifies.
fn verify(seed: &Path, label: &str) -> Result<seed_trust::RecoverySystem> {
    let dir = format!("systems/{label}");
    let read = |rel: &str| {
        let path = seed.join(&dir).join(rel);
        std::fs::read(&path).with_context(|| format!("reading {dir}/{rel} on {SEED_PARTITION}"))
    };
    let (model, etc, snaps) = (
        read("model")?,
        read("assertions/model-etc")?,
        read("assertions/snaps")?,
    );
    let extra = read("assertions/extra-snaps").unwrap_or_default();
    let mut files = Vec::new();
    for sub in ["snaps".to_string(), format!("{dir}/snaps")] {
        for name in snap_files(&seed.join(&sub))? {
            let rel = format!("{sub}/{name}");
            let digest = crate::snap::digest(&seed.join(&rel))?;
            files.push(SeedFile {
                path: rel,
                sha3_384: digest.sha3_384,
                size: digest.size,
            });
        }
    }
    let sys = SystemFiles {
        label,
        model: &model,
        model_etc: &etc,
        snaps: &snaps,
        extra_snaps: &extra,
    };
    Ok(seed_trust::check_system(
        &sys,
        &files,
        time::OffsetDateTime::now_utc(),
    )?)
}

/// The `.snap` files in `dir`, sorted (none when it is missing).
fn snap_files(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".snap"))
        .collect();
    names.sort();
    Ok(names)
}

/// Mounts ubuntu-data read-only on /writable without journal replay (`noload`), so not one
/// byte of it changes; returns `read-only` or why it is not available.
fn mount_data_readonly(opts: &Options) -> String {
    let dev = match bootdisk::locate(opts, Role::Data) {
        Ok(Some(dev)) => dev,
        Ok(None) => return format!("unavailable (no partition {})", opts.data_partition),
        Err(e) => return format!("unavailable ({e:#})"),
    };
    let mounted = Mount::builder()
        .fstype("ext4")
        .flags(MountFlags::RDONLY)
        .data("noload")
        .mount(&dev, WRITABLE);
    match mounted {
        Ok(_) => "read-only".to_string(),
        Err(e) => format!(
            "unavailable ({} does not mount as ext4: {e})",
            dev.display()
        ),
    }
}

/// True when ubuntu-data is mounted on /writable (it then moves into the base).
pub fn data_mounted(p: &Prepared) -> bool {
    p.data == "read-only"
}

/// Run mode cannot boot (`why`): sets the seed's grubenv to recover mode so the next boot is
/// the recovery system. Fails when the seed has no grubenv to set.
pub fn request(opts: &Options, why: &str) -> Result<()> {
    request_at(opts, Path::new("/seed-request"), None)?;
    console(&format!("{MARKER} recover requested: {why}"));
    Ok(())
}

/// Mounts the seed on `at` and asks for recover mode in its grubenv, of recovery system
/// `system` when given (else of the system the grubenv names); unmounts again.
pub fn request_at(opts: &Options, at: &Path, system: Option<&str>) -> Result<()> {
    let mounted = bootdisk::mount_role(opts, Role::Seed, at, false)?
        .with_context(|| format!("no {SEED_PARTITION} partition to recover from"))?;
    let result = set_request(&mounted, system);
    let _ = sys_mount::unmount(&mounted, UnmountFlags::empty());
    result
}

/// Sets `snapd_recovery_mode=recover` (and `snapd_recovery_system`) in the grubenv of the
/// seed mounted at `seed`, rewritten in place. A system the seed does not hold is refused, and
/// the grubenv is left as it was.
fn set_request(seed: &Path, system: Option<&str>) -> Result<()> {
    let path = seed.join(GRUBENV);
    let mut env = read_grubenv(&path)?;
    if let Some(label) = system {
        crate::boot::label::validate_label(label)?;
        if !seed.join("systems").join(label).join("model").is_file() {
            bail!("{SEED_PARTITION} has no recovery system {label} (no systems/{label}/model)");
        }
        env.set("snapd_recovery_system", label)?;
    }
    if env
        .get("snapd_recovery_system")
        .unwrap_or_default()
        .is_empty()
    {
        bail!("{SEED_PARTITION} {GRUBENV} names no recovery system");
    }
    env.set("snapd_recovery_mode", "recover")?;
    write_grubenv(&path, &env)
}

/// PID 1 in the recovery system's base: reports the mode and idles; the power button (or
/// `snapsmith.poweroff=idle`) powers off. Returns only if the kernel refused.
pub fn idle(r: &Recovered) -> Result<Infallible> {
    let p = &r.prepared;
    console(&format!(
        "{MARKER} mode=recover system={} data={} kernel={} base={}",
        p.label, p.data, p.kernel, p.base
    ));
    r.watchdog.feed_forever();
    let (presses, _) = super::power::listen();
    console(&format!("{MARKER} idle"));
    let wake = match r.poweroff_idle {
        true => Wake::Button,
        false => super::power::wait(&presses),
    };
    match wake {
        Wake::Button if !r.poweroff_idle => {
            console(&format!("{MARKER} power button pressed: powering off"));
        }
        Wake::Button => {}
        Wake::Reboot => console(&format!("{MARKER} reboot requested: rebooting")),
    }
    if data_mounted(p) {
        let _ = sys_mount::unmount(WRITABLE, UnmountFlags::empty());
    }
    match wake {
        Wake::Button => sys::poweroff(),
        Wake::Reboot => sys::reboot(),
    }
    bail!("the kernel refused to {wake:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::Grubenv;

    fn seed_with(systems: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("EFI/ubuntu")).unwrap();
        let env = crate::boot::grubcfg::seed_env("20260101").unwrap();
        std::fs::write(dir.path().join(GRUBENV), env).unwrap();
        for s in systems {
            std::fs::create_dir_all(dir.path().join("systems").join(s)).unwrap();
            std::fs::write(dir.path().join("systems").join(s).join("model"), "m").unwrap();
        }
        dir
    }

    fn env_of(seed: &Path) -> Grubenv {
        read_grubenv(&seed.join(GRUBENV)).unwrap()
    }

    #[test]
    fn a_request_names_the_mode_and_the_system() {
        let seed = seed_with(&["20260101", "spare"]);
        set_request(seed.path(), Some("spare")).unwrap();
        let env = env_of(seed.path());
        assert_eq!(env.get("snapd_recovery_mode"), Some("recover"));
        assert_eq!(env.get("snapd_recovery_system"), Some("spare"));
        let seed = seed_with(&["20260101"]);
        set_request(seed.path(), None).unwrap();
        assert_eq!(
            env_of(seed.path()).get("snapd_recovery_system"),
            Some("20260101")
        );
    }

    #[test]
    fn a_system_the_seed_lacks_is_refused_and_nothing_changes() {
        let seed = seed_with(&["20260101"]);
        let before = std::fs::read(seed.path().join(GRUBENV)).unwrap();
        let err = set_request(seed.path(), Some("spare")).unwrap_err();
        assert!(
            err.to_string()
                .contains("ubuntu-seed has no recovery system spare"),
            "{err}"
        );
        assert!(set_request(seed.path(), Some("../x")).is_err());
        assert_eq!(std::fs::read(seed.path().join(GRUBENV)).unwrap(), before);
    }
}
