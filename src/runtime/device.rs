//! `snapsmith-device`, root's command on a running device: the `snapsmith-init` binary called
//! by that name (the example base carries it as `/usr/bin/snapsmith-device`, with the shared
//! libraries it needs). docs/recovery.md describes it.
//!
//! `snapsmith-device reboot --recover [--system LABEL]` asks for recover mode in the seed's
//! grubenv with the same in-place rewrite the init uses (`recover::request_at`),
//! then asks PID 1 for a clean reboot (`power::REBOOT_SIGNAL`, SIGTERM). The seed is mounted
//! in a private mount namespace, on a tmpfs of its own, so nothing of it outlives the command.
//! `--factory-reset` and `--install` are refused: those modes do not exist yet.

use super::cmdline;
use super::power::REBOOT_SIGNAL;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::ExitCode;
use sys_mount::{Mount, MountFlags};

/// The name the binary answers to as the device command.
pub const NAME: &str = "snapsmith-device";

/// How to call it.
pub const USAGE: &str = "usage: snapsmith-device reboot --recover [--system LABEL]";

/// Where the command mounts its tmpfs (in its own mount namespace), and the seed under it.
const SCRATCH: &str = "/tmp";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Reboot into recover mode, of recovery system `system` (else the one the seed names).
    Recover {
        system: Option<String>,
    },
    Help,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Request, String> {
    let mut words = args.iter().map(String::as_str);
    match words.next() {
        Some("reboot") => {}
        Some("-h" | "--help") => return Ok(Request::Help),
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("a command is needed".into()),
    }
    let (mut recover, mut system) = (false, None);
    while let Some(word) = words.next() {
        match word {
            "--recover" => recover = true,
            "--system" => {
                let label = words
                    .next()
                    .ok_or("--system needs a recovery system label")?;
                system = Some(label.to_string());
            }
            "--factory-reset" | "--install" => {
                return Err(format!("{word}: not implemented"));
            }
            "-h" | "--help" => return Ok(Request::Help),
            other => match other.strip_prefix("--system=") {
                Some(label) => system = Some(label.to_string()),
                None => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    if !recover {
        return Err("reboot needs --recover (the only mode it can ask for)".into());
    }
    if let Some(label) = &system {
        crate::boot::label::validate_label(label).map_err(|e| format!("--system: {e}"))?;
    }
    Ok(Request::Recover { system })
}

/// Runs the command (`args` after the program name); exit code 1 on any refusal.
pub fn main(args: &[String]) -> ExitCode {
    let system = match parse(args) {
        Ok(Request::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Request::Recover { system }) => system,
        Err(msg) => {
            eprintln!("{NAME}: {msg}\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    match reboot_recover(system.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: error {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Sets the seed's grubenv to recover mode (of `system`), then signals PID 1.
fn reboot_recover(system: Option<&str>) -> Result<()> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        bail!("only root can ask for a reboot");
    }
    let text = std::fs::read_to_string("/proc/cmdline").context("reading /proc/cmdline")?;
    let opts = cmdline::parse(&text).map_err(anyhow::Error::msg)?;
    private_scratch()?;
    super::recover::request_at(&opts, &Path::new(SCRATCH).join("seed"), system)?;
    let which = system.map_or_else(String::new, |s| format!(" of recovery system {s}"));
    println!("{NAME}: recover mode{which} requested; rebooting");
    // SAFETY: kill with a constant pid and signal.
    if unsafe { libc::kill(1, REBOOT_SIGNAL) } != 0 {
        return Err(std::io::Error::last_os_error()).context("asking PID 1 to reboot");
    }
    Ok(())
}

/// A mount namespace of this process's own, with a tmpfs on [`SCRATCH`]: its mounts are gone
/// when the command exits.
fn private_scratch() -> Result<()> {
    // SAFETY: plain system calls; the strings are static C strings.
    let rc = unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            -1
        } else {
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        }
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("making a private mount namespace");
    }
    Mount::builder()
        .fstype("tmpfs")
        .flags(MountFlags::NOSUID | MountFlags::NODEV)
        .mount("tmpfs", SCRATCH)
        .with_context(|| format!("mounting a tmpfs on {SCRATCH}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn recover_with_or_without_a_system() {
        assert_eq!(
            parse(&args("reboot --recover")),
            Ok(Request::Recover { system: None })
        );
        let spare = Ok(Request::Recover {
            system: Some("spare".into()),
        });
        assert_eq!(parse(&args("reboot --recover --system spare")), spare);
        assert_eq!(parse(&args("reboot --system=spare --recover")), spare);
        assert_eq!(parse(&args("--help")), Ok(Request::Help));
    }

    #[test]
    fn other_modes_are_not_implemented() {
        for mode in ["--factory-reset", "--install"] {
            let err = parse(&args(&format!("reboot {mode}"))).unwrap_err();
            assert_eq!(err, format!("{mode}: not implemented"));
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        for (line, want) in [
            ("", "a command is needed"),
            ("halt", "unknown command \"halt\""),
            ("reboot", "reboot needs --recover"),
            ("reboot --recover --system", "--system needs"),
            (
                "reboot --recover --system Bad",
                "--system: invalid recovery system label",
            ),
            ("reboot --recover --now", "unknown argument \"--now\""),
        ] {
            let err = parse(&args(line)).unwrap_err();
            assert!(err.contains(want), "{line:?}: {err}");
        }
    }
}
