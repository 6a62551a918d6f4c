//! The GRUB configuration files snapsmith writes, as pure text generation: the run-mode
//! `grub.cfg` on ubuntu-boot with the kernel try/trying/rollback state machine and its initial
//! environment block, and the parts the seed's files ([`super::seedcfg`]: the seed `grub.cfg`
//! that hands run mode over to ubuntu-boot, its grubenv) share with it.
//! docs/boot-protocol.md describes the protocol they implement.
//!
//! With the boot disk's identity ([`BootDisk`], GPT images) GRUB takes ubuntu-boot only from the
//! disk it was loaded from: the disk named in `$cmdpath`, partition number as built, confirmed
//! by `probe --part-uuid`; the identity goes on the kernel command line for the runtime.
//! Without it (MBR images) GRUB finds ubuntu-boot by its filesystem label (`search --label`),
//! which compares exactly: snapsmith's FAT writer stores the label in the same case.

use super::diskid::BootDisk;
use super::grubenv::Grubenv;
use anyhow::{Result, bail};

pub use super::seedcfg::{SeedConfig, seed_config, seed_env, system_env};

/// Directory of the GRUB files on both ESP-like partitions.
pub const GRUB_DIR: &str = "EFI/ubuntu";
/// The filesystem label GRUB searches to find the run-mode boot partition.
pub const BOOT_LABEL: &str = "ubuntu-boot";
/// Kernel arguments every boot gets: the serial console, and an immediate reboot on a panic so
/// a broken try kernel falls back by itself.
pub const STATIC_ARGS: &str = "console=ttyS0 panic=-1";
/// Printed by GRUB when it rolls a kernel back (`<prefix> kernel=<tried> running=<good>`).
pub const GRUB_ROLLBACK_MARKER: &str = "snapsmith: grub rollback";
/// Printed by GRUB just before it loads a kernel (`<prefix> kernel=<file> status=<s>`).
pub const GRUB_BOOT_MARKER: &str = "snapsmith: grub boot";

/// Printed by the seed's GRUB config as it boots the recovery system
/// (`<prefix> system=<label> reason=requested|no-run-kernel`).
pub const GRUB_RECOVER_MARKER: &str = "snapsmith: grub recover";

/// What the run-mode config needs to know at build time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunConfig {
    /// Extra kernel arguments (the gadget's `kernel-cmdline: append`), each one word.
    pub extra_args: Vec<String>,
    /// `snapsmith.base=<file>` for inits that take the base from the command line instead of
    /// the modeenv; `None` leaves the choice to the modeenv.
    pub legacy_base: Option<String>,
    /// The boot disk's identity; `None` searches ubuntu-boot by label on every disk.
    pub disk: Option<BootDisk>,
    /// The known-good kernel GRUB boots when neither grubenv copy can be read (the image's).
    pub default_kernel: Option<String>,
}

/// Checks that kernel arguments can be placed in a GRUB script single-quoted: one word each,
/// printable ASCII, no quote.
pub fn check_args(args: &[String]) -> Result<()> {
    for arg in args {
        if arg.is_empty() || arg.bytes().any(|b| !b.is_ascii_graphic() || b == b'\'') {
            bail!(
                "kernel argument {arg:?} must be one word of printable ASCII without single quotes"
            );
        }
    }
    Ok(())
}

pub(super) fn quoted(args: &[String]) -> String {
    args.iter().map(|a| format!(" '{a}'")).collect()
}

/// The GRUB lines that set `$boot` to ubuntu-boot (`hdN,gptM`), or leave it empty with an
/// error line when the disk GRUB was loaded from has no such partition.
pub(super) fn find_boot(disk: Option<&BootDisk>) -> String {
    let Some(d) = disk else {
        return format!("search --no-floppy --label {BOOT_LABEL} --set=boot");
    };
    FIND_BOOT_TEMPLATE
        .replace("@N@", &d.boot_number.to_string())
        .replace("@UUID@", &d.ids.boot)
}

/// The identity's kernel arguments, with a leading space (empty without one).
pub(super) fn disk_args(disk: Option<&BootDisk>) -> String {
    disk.map(|d| format!(" {}", d.ids.kernel_args()))
        .unwrap_or_default()
}

/// `$cmdpath` is `(hdN,gptM)/EFI/boot`: the disk is what precedes the first comma. GRUB 2.06's
/// `search` knows no partition UUIDs, so the partition is taken by number and confirmed.
const FIND_BOOT_TEMPLATE: &str = r#"set boot=""
set snapsmith_disk=""
regexp --set=1:snapsmith_disk '^\(([^,)]+)' "$cmdpath"
set snapsmith_uuid=""
if [ -n "$snapsmith_disk" ]; then
  probe --set=snapsmith_uuid --part-uuid ($snapsmith_disk,gpt@N@)
fi
if [ "$snapsmith_uuid" = "@UUID@" ]; then
  set boot="$snapsmith_disk,gpt@N@"
else
  echo "snapsmith: error grub: the boot disk ($snapsmith_disk, from $cmdpath) has no ubuntu-boot @UUID@ at partition @N@"
fi"#;

/// File names (`<name>_<rev>.snap`) go into GRUB commands and kernel arguments unquoted.
pub(super) fn check_file_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if !ok || name.starts_with('.') {
        bail!("{what} {name:?} is not a plain file name GRUB can use");
    }
    Ok(())
}

/// The run-mode `EFI/ubuntu/grub.cfg` of ubuntu-boot.
pub fn run_config(cfg: &RunConfig) -> Result<String> {
    check_args(&cfg.extra_args)?;
    let mut extra = quoted(&cfg.extra_args);
    if let Some(base) = &cfg.legacy_base {
        check_file_name("base snap", base)?;
        extra = format!(" snapsmith.base={base}{extra}");
    }
    let disk = cfg.disk.as_ref();
    let default = match &cfg.default_kernel {
        Some(k) => {
            check_file_name("default kernel snap", k)?;
            DEFAULT_TEMPLATE.replace("@KERNEL@", k)
        }
        None => String::new(),
    };
    Ok(RUN_TEMPLATE
        .replace("@DEFAULT@", &default)
        .replace("@FIND_BOOT@", &find_boot(disk))
        .replace("@STATIC@", STATIC_ARGS)
        .replace("@EXTRA@", &format!("{}{extra}", disk_args(disk)))
        .replace("@DIR@", GRUB_DIR)
        .replace("@LABEL@", BOOT_LABEL)
        .replace("@BOOT@", GRUB_BOOT_MARKER)
        .replace("@ROLLBACK@", GRUB_ROLLBACK_MARKER)
        .replace("@BACKUP@", GRUBENV_BACKUP)
        .replace("@ENV@", GRUB_ENV_MARKER))
}

/// ubuntu-boot's initial environment: `kernel` current, nothing being tried. All three keys
/// are present from the start, so neither GRUB nor the runtime ever has to grow the block.
pub fn run_env(kernel: &str) -> Result<Vec<u8>> {
    check_file_name("kernel snap", kernel)?;
    let mut env = Grubenv::new();
    env.set("kernel_status", "")?;
    env.set("snap_kernel", kernel)?;
    env.set("snap_try_kernel", "")?;
    Ok(env.encode()?)
}

/// The second copy of ubuntu-boot's grubenv, read when the first does not load.
pub const GRUBENV_BACKUP: &str = "grubenv2";
/// Printed by GRUB when it reads the second copy or falls back to its default kernel.
pub const GRUB_ENV_MARKER: &str = "snapsmith: grub env";

/// Neither copy named a kernel: the known-good default, nothing tried.
const DEFAULT_TEMPLATE: &str = r#"if [ -z "$snap_kernel" ]; then
  set kernel_status=""
  set snap_try_kernel=""
  set snap_kernel="@KERNEL@"
  echo "@ENV@ unreadable: booting the default kernel @KERNEL@"
fi
"#;

/// Run mode: GRUB reads the kernel state from ubuntu-boot's grubenv, moves `try` to `trying`
/// (and boots the try kernel) or `trying` to empty (the try boot never committed: roll back),
/// and boots the chosen kernel's extracted `vmlinuz` + `initrd.img` (or a unified
/// `kernel.efi`). A try kernel that cannot even be loaded rolls back at once.
const RUN_TEMPLATE: &str = r#"# snapsmith run-mode boot configuration (generated; see docs/boot-protocol.md)
set timeout=0
@FIND_BOOT@
set kernel_status=""
set snap_kernel=""
set snap_try_kernel=""
set snapsmith_env="grubenv"
if load_env -f ($boot)/@DIR@/grubenv kernel_status snap_kernel snap_try_kernel; then
  set snapsmith_env="grubenv"
elif load_env -f ($boot)/@DIR@/@BACKUP@ kernel_status snap_kernel snap_try_kernel; then
  set snapsmith_env="@BACKUP@"
  echo "@ENV@ grubenv unreadable: using @BACKUP@"
fi
@DEFAULT@
# Both copies, the first first; snapsmith_saved is empty when either write failed.
function snapsmith_save {
  set snapsmith_saved=""
  if save_env -f ($boot)/@DIR@/grubenv kernel_status; then
    if save_env -f ($boot)/@DIR@/@BACKUP@ kernel_status; then
      set snapsmith_saved="yes"
    fi
  fi
}

set kernel="$snap_kernel"
if [ "$kernel_status" = "try" -a -n "$snap_try_kernel" ]; then
  set kernel_status="trying"
  snapsmith_save
  if [ -n "$snapsmith_saved" ]; then
    set kernel="$snap_try_kernel"
  else
    # A try that cannot be recorded as begun would be tried forever.
    set kernel_status=""
    echo "@ENV@ not written: not trying $snap_try_kernel"
  fi
elif [ "$kernel_status" = "trying" ]; then
  # The try boot never committed: back to the last good kernel.
  set kernel_status=""
  snapsmith_save
  echo "@ROLLBACK@ kernel=$snap_try_kernel running=$snap_kernel"
fi

function snapsmith_boot {
  echo "@BOOT@ kernel=$1 status=$kernel_status"
  if [ -f ($boot)/@DIR@/$1/vmlinuz ]; then
    linux ($boot)/@DIR@/$1/vmlinuz @STATIC@ snapsmith.mode=run snapsmith.kernel=$1@EXTRA@
    initrd ($boot)/@DIR@/$1/initrd.img
    boot
  elif [ -f ($boot)/@DIR@/$1/kernel.efi ]; then
    chainloader ($boot)/@DIR@/$1/kernel.efi @STATIC@ snapsmith.mode=run snapsmith.kernel=$1@EXTRA@
    boot
  fi
}

snapsmith_boot "$kernel"
if [ "$kernel" != "$snap_kernel" ]; then
  # The try kernel could not be loaded at all.
  set kernel_status=""
  snapsmith_save
  echo "@ROLLBACK@ kernel=$kernel running=$snap_kernel"
  snapsmith_boot "$snap_kernel"
fi
echo "snapsmith: error grub could not load kernel $snap_kernel from ($boot)/@DIR@"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_config_carries_the_state_machine_and_arguments() {
        let cfg = run_config(&RunConfig {
            extra_args: vec!["snapsmith.poweroff=idle".into(), "quiet".into()],
            legacy_base: Some("core_x1.snap".into()),
            disk: None,
            default_kernel: None,
        })
        .unwrap();
        assert!(cfg.contains("search --no-floppy --label ubuntu-boot --set=boot"));
        assert!(cfg.contains("load_env -f ($boot)/EFI/ubuntu/grubenv kernel_status"));
        assert!(cfg.contains(
            "set kernel_status=\"trying\"\n  snapsmith_save\n  if [ -n \"$snapsmith_saved\" ]; then\n    \
             set kernel=\"$snap_try_kernel\""
        ));
        assert!(cfg.contains(
            "if save_env -f ($boot)/EFI/ubuntu/grubenv kernel_status; then\n    \
             if save_env -f ($boot)/EFI/ubuntu/grubenv2 kernel_status; then"
        ));
        assert!(cfg.contains("elif load_env -f ($boot)/EFI/ubuntu/grubenv2 kernel_status"));
        assert!(cfg.contains(
            "linux ($boot)/EFI/ubuntu/$1/vmlinuz console=ttyS0 panic=-1 snapsmith.mode=run \
             snapsmith.kernel=$1 snapsmith.base=core_x1.snap 'snapsmith.poweroff=idle' 'quiet'\n"
        ));
        let plain = run_config(&RunConfig::default()).unwrap();
        assert!(plain.contains("snapsmith.kernel=$1\n"));
        assert!(!plain.contains("snapsmith.base"));
        assert!(!plain.contains('@'), "a placeholder was left: {plain}");
    }

    #[test]
    fn bad_arguments_and_names_are_refused() {
        for bad in ["a b", "it's", "", "x\ny"] {
            let err = run_config(&RunConfig {
                extra_args: vec![bad.into()],
                legacy_base: None,
                disk: None,
                default_kernel: None,
            })
            .unwrap_err();
            assert!(err.to_string().contains("kernel argument"), "{err}");
        }
        let err = run_config(&RunConfig {
            extra_args: vec![],
            legacy_base: Some("core;reboot".into()),
            disk: None,
            default_kernel: None,
        })
        .unwrap_err();
        assert!(err.to_string().contains("base snap"), "{err}");
        assert!(run_env("../x.snap").is_err());
    }

    fn boot_disk() -> BootDisk {
        BootDisk {
            ids: super::super::diskid::DiskIds {
                disk: "d0000000-0000-4000-8000-000000000000".into(),
                seed: "a0000000-0000-4000-8000-000000000001".into(),
                boot: "b0000000-0000-4000-8000-000000000002".into(),
                save: None,
                data: "c0000000-0000-4000-8000-000000000004".into(),
            },
            boot_number: 2,
        }
    }

    #[test]
    fn with_an_identity_grub_stays_on_its_own_disk() {
        let cfg = run_config(&RunConfig {
            extra_args: vec!["quiet".into()],
            legacy_base: None,
            disk: Some(boot_disk()),
            default_kernel: Some("pc-kernel_1.snap".into()),
        })
        .unwrap();
        assert!(!cfg.contains("search"), "{cfg}");
        assert!(cfg.contains(
            "if [ -z \"$snap_kernel\" ]; then\n  set kernel_status=\"\"\n  set snap_try_kernel=\"\"\n  \
             set snap_kernel=\"pc-kernel_1.snap\"\n"
        ));
        assert!(cfg.contains("regexp --set=1:snapsmith_disk '^\\(([^,)]+)' \"$cmdpath\""));
        assert!(cfg.contains("probe --set=snapsmith_uuid --part-uuid ($snapsmith_disk,gpt2)"));
        assert!(cfg.contains(
            "if [ \"$snapsmith_uuid\" = \"b0000000-0000-4000-8000-000000000002\" ]; then\n  \
             set boot=\"$snapsmith_disk,gpt2\""
        ));
        assert!(cfg.contains(
            "snapsmith.kernel=$1 snapsmith.disk=d0000000-0000-4000-8000-000000000000 \
             snapsmith.seed-uuid=a0000000-0000-4000-8000-000000000001 \
             snapsmith.boot-uuid=b0000000-0000-4000-8000-000000000002 \
             snapsmith.data-uuid=c0000000-0000-4000-8000-000000000004 'quiet'\n"
        ));
        let seed = seed_config(&SeedConfig {
            label: "dev".into(),
            systems: vec!["dev".into()],
            extra_args: vec![],
            disk: Some(boot_disk()),
        })
        .unwrap();
        assert!(!seed.contains("search"), "{seed}");
        assert!(seed.contains("  probe --set=snapsmith_uuid --part-uuid"));
        assert!(seed.contains("if [ -n \"$boot\" -a -f ($boot)/EFI/ubuntu/grub.cfg ]"));
        assert!(seed.contains(
            "\"snapsmith.system=$snapsmith_system\" snapsmith.disk=d0000000-0000-4000-8000-000000000000 "
        ));
        assert!(!seed.contains('@') && !cfg.contains('@'));
    }

    #[test]
    fn environments_hold_every_key_from_the_start() {
        let env = Grubenv::decode(&run_env("pc-kernel_x1.snap").unwrap()).unwrap();
        let keys: Vec<_> = env.iter().collect();
        assert_eq!(
            keys,
            [
                ("kernel_status", ""),
                ("snap_kernel", "pc-kernel_x1.snap"),
                ("snap_try_kernel", "")
            ]
        );
    }
}
