//! The init's options, read from the kernel command line (pure parsing, unit-tested).
//!
//! `snapsmith.data=NAME` GPT partition name of the data partition (default `ubuntu-data`,
//! matched case-insensitively); `snapsmith.base=FILE` or `snap_core=FILE` the base snap under
//! `system-data/var/lib/snapd/snaps/`; `snapsmith.timeout=SECONDS` how long to wait for the
//! disk (default 30); `snapsmith.init=PATH` the base's init (default `/sbin/init`).
//!
//! Run mode (the boot protocol of docs/agent.md): `snapsmith.mode=run`, `snapsmith.kernel=FILE`
//! the booted kernel snap (checked against modeenv's current_kernels), `snapsmith.boot=NAME`
//! the GPT name of ubuntu-boot, `snapsmith.poweroff=idle` power off once nothing is pending.
//! Recover mode (docs/recovery.md): `snapsmith.mode=recover`, `snapsmith.system=LABEL` the
//! recovery system on ubuntu-seed.
//!
//! The boot disk's identity (`snapsmith.disk=GUID`, `snapsmith.{seed,boot,save,data}-uuid=`,
//! parsed by [`crate::boot::diskid`]): when given, partitions come only from that disk, by UUID,
//! and the partition names above are not used.

use crate::boot::diskid::DiskIds;
use std::time::Duration;

/// Where the data partition keeps snaps, as snapd lays it out.
pub const SNAPS_DIR: &str = "system-data/var/lib/snapd/snaps";

/// The init's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub data_partition: String,
    pub base: Option<String>,
    pub disk_timeout: Duration,
    pub base_init: String,
    /// `run` for the run-mode protocol; otherwise the base named by `base` is booted directly.
    pub mode: Option<String>,
    pub kernel: Option<String>,
    pub boot_partition: String,
    pub poweroff_idle: bool,
    /// Recover mode: the recovery system's label on ubuntu-seed (`snapsmith.system=`).
    pub system: Option<String>,
    /// The boot disk's identity, as GRUB passes it.
    pub disk: Option<DiskIds>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data_partition: "ubuntu-data".to_string(),
            base: None,
            disk_timeout: Duration::from_secs(30),
            base_init: "/sbin/init".to_string(),
            mode: None,
            kernel: None,
            boot_partition: "ubuntu-boot".to_string(),
            poweroff_idle: false,
            system: None,
            disk: None,
        }
    }
}

/// Parses a kernel command line; unknown words are left to the kernel and the base.
pub fn parse(cmdline: &str) -> Result<Options, String> {
    let mut opts = Options {
        disk: DiskIds::from_cmdline(cmdline)?,
        ..Options::default()
    };
    for word in cmdline.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        match key {
            "snapsmith.data" => opts.data_partition = value.to_string(),
            "snapsmith.base" | "snap_core" if !value.is_empty() => {
                opts.base = Some(value.to_string())
            }
            "snapsmith.timeout" => {
                let secs: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        format!("snapsmith.timeout={value} is not a number of seconds")
                    })?;
                opts.disk_timeout = Duration::from_secs_f64(secs);
            }
            "snapsmith.init" => opts.base_init = value.to_string(),
            "snapsmith.mode" if !value.is_empty() => opts.mode = Some(value.to_string()),
            "snapsmith.kernel" if !value.is_empty() => opts.kernel = Some(value.to_string()),
            "snapsmith.boot" => opts.boot_partition = value.to_string(),
            "snapsmith.poweroff" => opts.poweroff_idle = value == "idle",
            "snapsmith.system" if !value.is_empty() => opts.system = Some(value.to_string()),
            _ => {}
        }
    }
    for (what, name) in [
        ("base", &opts.base),
        ("kernel", &opts.kernel),
        ("recovery system", &opts.system),
    ] {
        if name
            .as_deref()
            .is_some_and(|b| b.contains('/') || b == "..")
        {
            return Err(format!("{what} name {name:?} must be a file name"));
        }
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(parse("console=ttyS0 quiet").unwrap(), Options::default());
        let opts =
            parse("snapsmith.data=Writable snap_core=core_1.snap snapsmith.timeout=2.5").unwrap();
        assert_eq!(opts.data_partition, "Writable");
        assert_eq!(opts.base.as_deref(), Some("core_1.snap"));
        assert_eq!(opts.disk_timeout, Duration::from_millis(2500));
        let opts = parse("snap_core=a.snap snapsmith.base=b.snap").unwrap();
        assert_eq!(opts.base.as_deref(), Some("b.snap"));
    }

    #[test]
    fn rejects_bad_values() {
        assert!(
            parse("snapsmith.timeout=soon")
                .unwrap_err()
                .contains("snapsmith.timeout")
        );
        assert!(parse("snapsmith.timeout=-1").is_err());
        assert!(parse("snap_core=../x").is_err());
        assert!(parse("snapsmith.kernel=a/b").is_err());
    }

    #[test]
    fn run_mode_options() {
        let opts = parse(
            "console=ttyS0 panic=-1 snapsmith.mode=run snapsmith.kernel=pc-kernel_1.snap \
             snapsmith.poweroff=idle",
        )
        .unwrap();
        assert_eq!(opts.mode.as_deref(), Some("run"));
        assert_eq!(opts.kernel.as_deref(), Some("pc-kernel_1.snap"));
        assert!(opts.poweroff_idle);
        assert_eq!(opts.boot_partition, "ubuntu-boot");
        assert!(!parse("snapsmith.poweroff=never").unwrap().poweroff_idle);
        let opts = parse("snapsmith.mode=recover snapsmith.system=20260101").unwrap();
        assert_eq!(opts.system.as_deref(), Some("20260101"));
        assert!(parse("snapsmith.system=../x").is_err());
    }
}
