//! The seed's GRUB files, as pure text generation: the seed ("recovery") `grub.cfg` on
//! ubuntu-seed, its `grubenv`, and each recovery system's own `systems/<label>/grubenv`, which
//! names the system's kernel snap (`snapd_recovery_kernel`, as snapd writes it).
//!
//! The seed config is a GRUB menu that boots its default entry at once (`timeout=0`, hidden):
//! run mode, or recover mode when the seed's grubenv asks for it. A person at the console
//! sees the menu by pressing Esc (or an entry's hotkey) while GRUB starts, and can pick run
//! mode, recover mode, or recover mode of any recovery system on the seed.
//! docs/recovery.md describes the modes, docs/boot-protocol.md the protocol.

use super::diskid::BootDisk;
use super::grubcfg::{
    BOOT_LABEL, GRUB_DIR, GRUB_RECOVER_MARKER, STATIC_ARGS, check_args, check_file_name, disk_args,
    find_boot, quoted,
};
use super::grubenv::{Grubenv, GrubenvError};
use anyhow::{Result, bail};

/// Printed by GRUB when the recovery system it was asked to boot has no `grubenv` naming its
/// kernel on the seed (`<prefix> <label>`); the boot goes on in run mode.
pub const GRUB_NO_SYSTEM_MARKER: &str = "snapsmith: error grub has no recovery system";

/// The per-system grubenv, relative to the system's directory.
pub const SYSTEM_GRUBENV: &str = "grubenv";

/// What the seed config needs to know at build time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedConfig {
    /// The current recovery system label: the seed grubenv's `snapd_recovery_system` as built,
    /// and the system the config falls back to.
    pub label: String,
    /// Every recovery system on the seed, `label` among them, in menu order.
    pub systems: Vec<String>,
    pub extra_args: Vec<String>,
    /// The boot disk's identity; `None` searches ubuntu-boot by label on every disk.
    pub disk: Option<BootDisk>,
}

/// The seed's `EFI/ubuntu/grub.cfg` (read by the GRUB image from its own partition).
pub fn seed_config(cfg: &SeedConfig) -> Result<String> {
    check_args(&cfg.extra_args)?;
    super::label::validate_label(&cfg.label)?;
    for system in &cfg.systems {
        super::label::validate_label(system)?;
    }
    if !cfg.systems.contains(&cfg.label) {
        bail!(
            "the current recovery system {} is not among the seed's systems",
            cfg.label
        );
    }
    let disk = cfg.disk.as_ref();
    let entries: String = cfg
        .systems
        .iter()
        .map(|s| SYSTEM_ENTRY_TEMPLATE.replace("@ONE@", s))
        .collect();
    Ok(SEED_TEMPLATE
        .replace("@ENTRIES@", &entries)
        .replace("@FIND_BOOT@", &find_boot(disk).replace('\n', "\n  "))
        .replace("@STATIC@", STATIC_ARGS)
        .replace(
            "@EXTRA@",
            &format!("{}{}", disk_args(disk), quoted(&cfg.extra_args)),
        )
        .replace("@DIR@", GRUB_DIR)
        .replace("@LABEL@", BOOT_LABEL)
        .replace("@SYSTEM@", &cfg.label)
        .replace("@ENV@", SYSTEM_GRUBENV)
        .replace("@NOSYSTEM@", GRUB_NO_SYSTEM_MARKER)
        .replace("@RECOVER@", GRUB_RECOVER_MARKER))
}

/// The seed's initial environment: run mode, this recovery system.
pub fn seed_env(label: &str) -> Result<Vec<u8>, GrubenvError> {
    let mut env = Grubenv::new();
    env.set("snapd_recovery_mode", "run")?;
    env.set("snapd_recovery_system", label)?;
    env.encode()
}

/// A recovery system's own `systems/<label>/grubenv`: its kernel snap's path on the seed
/// (`snaps/pc-kernel_1.snap`), written with a leading `/` as snapd does.
pub fn system_env(kernel: &str) -> Result<Vec<u8>> {
    if kernel
        .split('/')
        .any(|part| check_file_name("recovery kernel path", part).is_err())
    {
        bail!("recovery kernel path {kernel:?} is not a plain relative path");
    }
    let mut env = Grubenv::new();
    env.set("snapd_recovery_kernel", &format!("/{kernel}"))?;
    Ok(env.encode()?)
}

/// One menu entry per recovery system.
const SYSTEM_ENTRY_TEMPLATE: &str = r#"menuentry "recover mode: recovery system @ONE@" --id recover-@ONE@ {
  set snapd_recovery_system="@ONE@"
  snapsmith_recover menu
  snapsmith_run
}
"#;

/// The seed: run mode (or an empty mode: preinstalled images start in run mode) hands over to
/// ubuntu-boot's config; recover mode boots the named recovery system's kernel snap from the
/// seed, after setting the mode back to run and the system back to the current one (one shot:
/// leaving recover mode is a reboot). A system with no grubenv naming its kernel is refused,
/// and the boot goes on in run mode. When ubuntu-boot's config returns without booting (no
/// kernel it can load), GRUB falls back to recover mode in the same boot: the named system,
/// else the current one. Menu entries run in their own variable context: what they read is
/// exported.
const SEED_TEMPLATE: &str = r#"# snapsmith seed boot configuration (generated; see docs/recovery.md)
# The default entry boots at once; Esc while GRUB starts shows the menu.
set timeout=0
set timeout_style=hidden
set snapd_recovery_mode=""
set snapd_recovery_system="@SYSTEM@"
load_env -f $prefix/grubenv snapd_recovery_mode snapd_recovery_system
export snapd_recovery_mode
export snapd_recovery_system

function snapsmith_recover {
  set snapsmith_system="$snapd_recovery_system"
  set snapd_recovery_mode=run
  set snapd_recovery_system="@SYSTEM@"
  save_env -f $prefix/grubenv snapd_recovery_mode snapd_recovery_system
  set snapd_recovery_kernel=""
  if [ -f "($root)/systems/$snapsmith_system/@ENV@" ]; then
    load_env -f "($root)/systems/$snapsmith_system/@ENV@" snapd_recovery_kernel
  fi
  if [ -z "$snapd_recovery_kernel" ]; then
    echo "@NOSYSTEM@ $snapsmith_system"
  else
    echo "@RECOVER@ system=$snapsmith_system reason=$1"
    loopback loop "($root)$snapd_recovery_kernel"
    linux (loop)/vmlinuz @STATIC@ snapsmith.mode=recover "snapsmith.system=$snapsmith_system"@EXTRA@
    initrd (loop)/initrd.img
    boot
    echo "snapsmith: error grub could not load the recovery kernel $snapd_recovery_kernel"
    loopback -d loop
  fi
}

function snapsmith_run {
  @FIND_BOOT@
  if [ -n "$boot" -a -f ($boot)/@DIR@/grub.cfg ]; then
    configfile ($boot)/@DIR@/grub.cfg
  fi
  echo "snapsmith: grub found no bootable kernel on @LABEL@"
  snapsmith_recover no-run-kernel
  if [ "$snapsmith_system" != "@SYSTEM@" ]; then
    snapsmith_recover no-run-kernel
  fi
}

if [ -z "$snapd_recovery_mode" -o "$snapd_recovery_mode" = "run" ]; then
  set default=run
elif [ "$snapd_recovery_mode" = "recover" ]; then
  set default=recover
else
  echo "snapsmith: error grub does not know recovery mode $snapd_recovery_mode"
  set timeout=-1
fi

menuentry "run mode" --id run {
  snapsmith_run
}
menuentry "recover mode" --id recover --hotkey=r {
  snapsmith_recover requested
  snapsmith_run
}
@ENTRIES@"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn config(systems: &[&str]) -> Result<String> {
        seed_config(&SeedConfig {
            label: "20260101".into(),
            systems: systems.iter().map(|s| s.to_string()).collect(),
            extra_args: vec![],
            disk: None,
        })
    }

    #[test]
    fn seed_config_hands_over_to_ubuntu_boot() {
        let cfg = config(&["20260101"]).unwrap();
        assert!(cfg.contains("configfile ($boot)/EFI/ubuntu/grub.cfg"));
        assert!(cfg.contains("set snapd_recovery_system=\"20260101\""));
        assert!(cfg.contains("set timeout=0\nset timeout_style=hidden\n"));
        assert!(cfg.contains("export snapd_recovery_mode\nexport snapd_recovery_system\n"));
        // One shot: mode and system are back to run and the current system before the kernel
        // of the system asked for is looked up and booted.
        let recover = cfg.find("function snapsmith_recover").unwrap();
        let reset = cfg
            .find("save_env -f $prefix/grubenv snapd_recovery_mode snapd_recovery_system")
            .unwrap();
        let kernel = cfg
            .find("loopback loop \"($root)$snapd_recovery_kernel\"")
            .unwrap();
        assert!(recover < reset && reset < kernel);
        assert!(cfg.contains(
            "load_env -f \"($root)/systems/$snapsmith_system/grubenv\" snapd_recovery_kernel"
        ));
        assert!(cfg.contains("snapsmith.mode=recover \"snapsmith.system=$snapsmith_system\"\n"));
        assert!(!cfg.contains('@'), "a placeholder was left: {cfg}");
    }

    #[test]
    fn the_default_entry_follows_the_mode_and_every_system_has_an_entry() {
        let cfg = config(&["20260101", "spare"]).unwrap();
        assert!(cfg.contains("= \"run\" ]; then\n  set default=run\n"));
        assert!(cfg.contains("= \"recover\" ]; then\n  set default=recover\n"));
        assert!(cfg.contains("menuentry \"run mode\" --id run {\n  snapsmith_run\n}"));
        assert!(cfg.contains(
            "menuentry \"recover mode\" --id recover --hotkey=r {\n  snapsmith_recover requested\n"
        ));
        for s in ["20260101", "spare"] {
            assert!(cfg.contains(&format!(
                "menuentry \"recover mode: recovery system {s}\" --id recover-{s} {{\n  \
                 set snapd_recovery_system=\"{s}\"\n  snapsmith_recover menu\n"
            )));
        }
        // An unknown mode boots nothing: the menu waits for a person.
        assert!(
            cfg.contains("does not know recovery mode $snapd_recovery_mode\"\n  set timeout=-1")
        );
    }

    #[test]
    fn a_missing_system_is_refused_and_run_mode_follows() {
        let cfg = config(&["20260101"]).unwrap();
        assert!(cfg.contains(
            "if [ -z \"$snapd_recovery_kernel\" ]; then\n    \
             echo \"snapsmith: error grub has no recovery system $snapsmith_system\"\n  else"
        ));
        // The fallback from run mode retries with the current system.
        assert!(cfg.contains(
            "snapsmith_recover no-run-kernel\n  if [ \"$snapsmith_system\" != \"20260101\" ]; \
             then\n    snapsmith_recover no-run-kernel\n"
        ));
        let err = config(&["spare"]).unwrap_err().to_string();
        assert!(err.contains("20260101 is not among"), "{err}");
        assert!(config(&["20260101", "Bad"]).is_err());
    }

    #[test]
    fn a_system_env_names_its_kernel() {
        let env = Grubenv::decode(&system_env("snaps/pc-kernel_1.snap").unwrap()).unwrap();
        assert_eq!(
            env.get("snapd_recovery_kernel"),
            Some("/snaps/pc-kernel_1.snap")
        );
        assert!(system_env("../k.snap").is_err());
        let env = Grubenv::decode(&seed_env("dev").unwrap()).unwrap();
        assert_eq!(env.get("snapd_recovery_mode"), Some("run"));
        assert_eq!(env.get("snapd_recovery_system"), Some("dev"));
    }
}
