//! PID 1 from start to finish: the init boots into the base; then either the base's own init
//! is executed, or (run mode) this process stays PID 1 as the agent, which settles the boot,
//! lets the installer stage updates from the update medium and idles. The three parts know
//! nothing of each other; this file passes what one returns to the next.
//!
//! It never hangs and never exits: any fatal error prints one `snapsmith: error ...` line on the
//! console and reboots, so a bootloader can fall back to the previous kernel or base. The one
//! exception is a recovery system that refuses its seed: it says so and stays stopped, since
//! rebooting could only loop between a failing run system and a refused recovery system.

use super::init::{self, Switched};
use super::shared::{MARKER_ERROR, console};
use super::{agent, apps, install, recover, sys};
use anyhow::Result;
use std::convert::Infallible;
use std::time::Instant;

/// True when this process is PID 1, the only place the init may run (it reboots on errors).
pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// Runs the init and what follows it; returns only if even the reboot failed (the kernel then
/// panics).
pub fn main() -> std::process::ExitCode {
    let start = Instant::now();
    // The panic message becomes the single error marker instead of a backtrace.
    std::panic::set_hook(Box::new(|info| {
        console(&format!("{MARKER_ERROR} init panicked: {info}"));
    }));
    // Before any app can run: `snapsmith-device reboot` may ask at any time.
    super::power::catch_reboot_requests();
    match std::panic::catch_unwind(|| run(start)) {
        Ok(Err(err)) => console(&format!("{MARKER_ERROR} {err:#}")),
        Ok(Ok(())) => console(&format!("{MARKER_ERROR} the base's init returned")),
        Err(_) => {}
    }
    sys::reboot();
    std::process::ExitCode::from(1)
}

fn run(start: Instant) -> Result<()> {
    match init::run(start)? {
        Switched::Exec(program) => Err(sys::exec(&program)),
        Switched::Recover(recovered) => {
            let never = recover::idle(&recovered)?;
            match never {}
        }
        Switched::Reboot => {
            sys::reboot();
            anyhow::bail!("the kernel refused to reboot")
        }
        Switched::Stop(why) => {
            console(&format!(
                "{MARKER_ERROR} {why}; the device stays stopped (no reboot: the run system \
                 cannot be booted either)"
            ));
            sys::reap_forever()
        }
        Switched::RunMode {
            kernel,
            base,
            opts,
            watchdog,
        } => {
            let never = run_mode(&agent::Booted {
                kernel,
                base,
                opts: *opts,
                watchdog,
            })?;
            match never {}
        }
    }
}

/// The agent settles the boot, the installer stages what the update medium offers, app updates
/// are refreshed, and the agent reboots into a staged kernel or base or idles.
fn run_mode(booted: &agent::Booted) -> Result<Infallible> {
    // The daemons start before the run marker, which means the system is up, apps included.
    apps::start();
    let settled = agent::settle(booted)?;
    let staged = match &settled.mounts.update {
        Some(dir) => {
            let ctx = install::Context {
                update_dir: dir,
                boot_dir: settled.mounts.boot.as_deref(),
                modeenv_path: &settled.modeenv_path,
                scratch: &settled.scratch,
                opts: &booted.opts,
            };
            let (env, grub) = (settled.modeenv.clone(), settled.grubenv.clone());
            // ubuntu-boot is writable only while updates are staged.
            sys::writable(ctx.boot_dir, || install::stage_all(&ctx, env, grub))?
        }
        None => install::Staged::default(),
    };
    // App updates need no reboot: each is refreshed now, and reverted by itself when it fails.
    apps::refresh(&staged.apps);
    agent::finish(settled, staged.reboot, booted.opts.poweroff_idle)
}
