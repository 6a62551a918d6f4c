//! snapsmith's init: PID 1 of the initramfs. It mounts /proc, /sys and /dev, loads the boot
//! modules in the order the initramfs lists them, waits for the data partition (on the boot
//! disk by its recorded UUID, or by GPT name without one: see the runtime's `bootdisk`), loop-mounts the base snap read-only, moves the pseudo filesystems into
//! it and switches root.
//!
//! In run mode (`snapsmith.mode=run`) the base comes from modeenv: the booted kernel must be
//! listed in current_kernels, and base_status moves try -> trying -> rollback before the base is
//! mounted (decided by [`crate::boot::state`]); after the switch this process stays PID 1 as the
//! agent. Without run mode the base named on the command line is booted and its own init is
//! executed. Which of the two follows is [`super::pid1`]'s to do, from what [`run`] returns.
//!
//! Recover mode (`snapsmith.mode=recover`) boots the recovery system on ubuntu-seed instead
//! (see the runtime's `recover` module); run mode falls back to it when ubuntu-data does not mount or its
//! base is missing.

use super::bootdisk::{self, Role};
use super::cmdline::{self, Options, SNAPS_DIR};
use super::recover::{self, Recovered};
use super::shared::{
    MARKER_INIT, MARKER_READY, WRITABLE, console, mount_snap, read_modeenv, write_synced,
};
use super::watchdog::{self, Watchdog};
use super::{cleanup, sys};
use crate::boot::state;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::Instant;
use sys_mount::{Mount, MountFlags};

/// Where the init hands over after switching into the base.
#[derive(Debug)]
pub enum Switched {
    /// Without run mode: execute the base's own init (this program).
    Exec(String),
    /// Run mode: stay PID 1 as the agent for this kernel and base.
    RunMode {
        kernel: String,
        base: String,
        opts: Box<Options>,
        watchdog: Watchdog,
    },
    /// Recover mode: stay PID 1 in the recovery system's base.
    Recover(Recovered),
    /// Run mode cannot boot and recover mode was requested: reboot into it.
    Reboot,
    /// Recover mode refused the seed (the reason): stay stopped, never reboot, since the run
    /// system already failed or was set aside.
    Stop(String),
}

/// Boots from the initramfs into the base; returns what to do next, in the base.
pub fn run(start: Instant) -> Result<Switched> {
    mount_pseudo_filesystems()?;
    sys::attach_console();
    console(&format!(
        "{MARKER_INIT} start version={} protocol={} kernel={}",
        env!("CARGO_PKG_VERSION"),
        super::shared::MARKER_PROTOCOL,
        sys::kernel_release()
    ));
    let cmdline = std::fs::read_to_string("/proc/cmdline").context("reading /proc/cmdline")?;
    let opts = cmdline::parse(&cmdline).map_err(anyhow::Error::msg)?;
    let count = load_modules(
        Path::new("/")
            .join(crate::kernel::initramfs::MODULE_LIST)
            .as_path(),
    )?;
    console(&format!(
        "{MARKER_INIT} modules={count} ms={}",
        start.elapsed().as_millis()
    ));
    let dog = arm_watchdog();
    match opts.mode.as_deref() {
        Some("run") => return run_mode(&opts, start, dog),
        Some("recover") => return recover_mode(&opts, start, dog),
        _ => {}
    }
    mount_data(&opts)?;
    let base = opts
        .base
        .clone()
        .context("no base snap named on the kernel command line (snap_core= or snapsmith.base=)")?;
    let loop_dev = mount_base(&opts, &base, true)?;
    switch(&base, &loop_dev, start)?;
    // The base's own init knows nothing of the watchdog.
    dog.disarm();
    Ok(Switched::Exec(opts.base_init))
}

/// Frees the initramfs, prints the ready marker and switches into /root.
fn switch(base: &str, loop_dev: &Path, start: Instant) -> Result<()> {
    let freed = cleanup::free_initramfs(Path::new("/root"));
    console(&format!(
        "{MARKER_READY} base={base} loop={} freed={freed} ms={}",
        loop_dev.display(),
        start.elapsed().as_millis()
    ));
    sys::switch_root(Path::new("/root"))
}

/// Run mode: ubuntu-data and its modeenv, the kernel gate and base choice, then the switch.
/// When ubuntu-data does not mount or its base is missing, recover mode is requested instead.
fn run_mode(opts: &Options, start: Instant, watchdog: Watchdog) -> Result<Switched> {
    let kernel = opts
        .kernel
        .clone()
        .context("run mode needs snapsmith.kernel= on the kernel command line")?;
    let path = Path::new(WRITABLE).join(crate::seed::MODEENV_PATH);
    let env = match mount_data(opts).and_then(|()| read_modeenv(&path)) {
        Ok(env) => env,
        Err(why) => return request_recover(opts, why, watchdog),
    };
    state::check_kernel(&env, &kernel)?;
    let boot = state::choose_base(&env).with_context(|| format!("{}", path.display()))?;
    // Only the committed base missing is a lost run system; a missing try base rolls back.
    let snap = Path::new(WRITABLE).join(SNAPS_DIR).join(&boot.base);
    if boot.base == env.base
        && let Err(why) = sys::require_entry(&snap, "base snap")
    {
        return request_recover(opts, why, watchdog);
    }
    if let Some(next) = &boot.write {
        write_synced(&path, next.encode().as_bytes())?;
    }
    let loop_dev = mount_base(opts, &boot.base, false)?;
    switch(&boot.base, &loop_dev, start)?;
    Ok(Switched::RunMode {
        kernel,
        base: boot.base,
        opts: Box::new(opts.clone()),
        watchdog,
    })
}

/// Sets the seed's grubenv to recover mode and asks for a reboot; when even that fails, the
/// original error stands (the init prints it and reboots).
fn request_recover(opts: &Options, why: anyhow::Error, watchdog: Watchdog) -> Result<Switched> {
    let _ = sys_mount::unmount(WRITABLE, sys_mount::UnmountFlags::empty());
    match recover::request(opts, &format!("{why:#}")) {
        Ok(()) => {
            watchdog.disarm();
            Ok(Switched::Reboot)
        }
        Err(e) => Err(anyhow::anyhow!(
            "{why:#}; recover mode cannot be requested either: {e:#}"
        )),
    }
}

/// Recover mode: the verified recovery system's base, ubuntu-data read-only when it mounts.
fn recover_mode(opts: &Options, start: Instant, watchdog: Watchdog) -> Result<Switched> {
    let prepared = match recover::prepare(opts) {
        Ok(p) => p,
        Err(why) => {
            watchdog.disarm();
            return Ok(Switched::Stop(format!("{why:#}")));
        }
    };
    let mut dirs = vec!["dev", "proc", "sys"];
    if recover::data_mounted(&prepared) {
        dirs.push("writable");
    }
    move_into_base(&prepared.base, &dirs)?;
    switch(&prepared.base, &prepared.loop_dev, start)?;
    Ok(Switched::Recover(Recovered {
        prepared,
        poweroff_idle: opts.poweroff_idle,
        watchdog,
    }))
}

/// Arms the watchdog for the boot to settle in (see [`watchdog`]), with a marker either way.
fn arm_watchdog() -> Watchdog {
    match Watchdog::arm(watchdog::BOOT_DEADLINE) {
        Ok(dog) => {
            console(&format!(
                "{MARKER_INIT} watchdog armed timeout={}s",
                watchdog::TIMEOUT.as_secs()
            ));
            dog
        }
        Err(why) => {
            console(&format!("{MARKER_INIT} watchdog none ({why})"));
            Watchdog::default()
        }
    }
}

fn mount_pseudo_filesystems() -> Result<()> {
    for (fstype, target) in [("proc", "/proc"), ("sysfs", "/sys"), ("devtmpfs", "/dev")] {
        std::fs::create_dir_all(target).with_context(|| format!("creating {target}"))?;
        Mount::builder()
            .fstype(fstype)
            .mount(fstype, target)
            .with_context(|| format!("mounting {fstype} on {target}"))?;
    }
    Ok(())
}

/// Loads the modules listed (one path per line) in `list`, in order; returns how many.
fn load_modules(list: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(list)
        .with_context(|| format!("reading module list {}", list.display()))?;
    let mut count = 0;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        sys::load_module(&Path::new("/").join(line))?;
        count += 1;
    }
    Ok(count)
}

/// Waits for the data partition and mounts it on /writable.
fn mount_data(opts: &Options) -> Result<()> {
    let data = bootdisk::wait(opts, Role::Data, opts.disk_timeout)?;
    console(&format!(
        "{MARKER_INIT} data={} partition={}",
        data.display(),
        opts.data_partition
    ));
    // The builder leaves the inode tables unzeroed (the image is fresh there): no background
    // zeroing by the kernel (lazyinit's WRITE_ZEROES) competes with the boot.
    Mount::builder()
        .fstype("ext4")
        .data("noinit_itable")
        .mount(&data, WRITABLE)
        .with_context(|| {
            format!(
                "mounting {} ({}) as ext4",
                data.display(),
                opts.data_partition
            )
        })?;
    Ok(())
}

/// Mounts the base snap from /writable (through a read-only loop device) on /root, then moves
/// /writable, /dev, /proc and /sys into it. Returns the loop device.
fn mount_base(opts: &Options, base: &str, needs_init: bool) -> Result<PathBuf> {
    let snap = Path::new(WRITABLE).join(SNAPS_DIR).join(base);
    sys::require_entry(&snap, "base snap")?;
    let loop_path = mount_snap(&snap, Path::new("/root"))?;
    if needs_init {
        sys::require_entry(
            &Path::new("/root").join(opts.base_init.trim_start_matches('/')),
            "base init",
        )?;
    }
    move_into_base(base, &["writable", "dev", "proc", "sys"])?;
    Ok(loop_path)
}

/// Moves the mounts on `/<dir>` for each of `dirs` into the base on /root.
fn move_into_base(base: &str, dirs: &[&str]) -> Result<()> {
    for dir in dirs {
        let target = Path::new("/root").join(dir);
        if !target.is_dir() {
            bail!("base {base} has no /{dir} mount point");
        }
        Mount::builder()
            .fstype("none")
            .flags(MountFlags::MOVE)
            .mount(Path::new("/").join(dir), &target)
            .with_context(|| format!("moving /{dir} into the base"))?;
    }
    Ok(())
}
