//! snapsmith's init: PID 1 of the initramfs. It mounts /proc, /sys and /dev, loads the boot
//! modules in the order the initramfs lists them, waits for the data partition (found by its
//! GPT partition name), loop-mounts the base snap read-only, moves the pseudo filesystems into
//! it and switches root.
//!
//! In run mode (`snapsmith.mode=run`) the base comes from modeenv: the booted kernel must be
//! listed in current_kernels, and base_status moves try -> trying -> rollback before the base is
//! mounted (decided by [`crate::boot::state`]); after the switch this process stays PID 1 as the
//! agent ([`super::agent`]). Without run mode the base named on the command line is booted and
//! its own init is executed.
//!
//! It never hangs and never exits: any fatal error prints one `snapsmith: error ...` line on the
//! console and reboots, so a bootloader can fall back to the previous kernel or base.

use super::cmdline::{self, Options, SNAPS_DIR};
use super::{MARKER_ERROR, MARKER_INIT, MARKER_READY, agent, cleanup, sys};
use crate::boot::{modeenv::Modeenv, state};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use sys_mount::{Mount, MountFlags};

/// True when this process was started by the kernel as the initramfs's `/init`.
pub fn is_init() -> bool {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    std::process::id() == 1 && Path::new(&argv0).file_name().is_some_and(|n| n == "init")
}

/// Runs the init; returns only if even the reboot failed (the kernel then panics).
pub fn main() -> std::process::ExitCode {
    let start = Instant::now();
    // The panic message becomes the single error marker instead of a backtrace.
    std::panic::set_hook(Box::new(|info| {
        console(&format!("{MARKER_ERROR} init panicked: {info}"));
    }));
    match std::panic::catch_unwind(|| run(start)) {
        Ok(Err(err)) => console(&format!("{MARKER_ERROR} {err:#}")),
        Ok(Ok(())) => console(&format!("{MARKER_ERROR} the base's init returned")),
        Err(_) => {}
    }
    sys::reboot();
    std::process::ExitCode::from(1)
}

/// Writes one line to the console in a single write, so kernel messages do not split it.
pub(super) fn console(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

fn run(start: Instant) -> Result<()> {
    mount_pseudo_filesystems()?;
    sys::attach_console();
    console(&format!(
        "{MARKER_INIT} start version={} kernel={}",
        env!("CARGO_PKG_VERSION"),
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
    let data = wait_for_partition(&opts.data_partition, opts.disk_timeout)?;
    console(&format!(
        "{MARKER_INIT} data={} partition={}",
        data.display(),
        opts.data_partition
    ));
    mount_data(&opts, &data)?;
    if opts.mode.as_deref() == Some("run") {
        return run_mode(&opts, start);
    }
    let base = opts
        .base
        .clone()
        .context("no base snap named on the kernel command line (snap_core= or snapsmith.base=)")?;
    let loop_dev = mount_base(&opts, &base, true)?;
    switch(&base, &loop_dev, start)?;
    Err(sys::exec(&opts.base_init))
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

/// Run mode: kernel gate and base choice from modeenv, then the switch, then the agent.
fn run_mode(opts: &Options, start: Instant) -> Result<()> {
    let kernel = opts
        .kernel
        .clone()
        .context("run mode needs snapsmith.kernel= on the kernel command line")?;
    let path = Path::new("/writable").join(crate::seed::MODEENV_PATH);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let env = Modeenv::decode(&text).with_context(|| format!("reading {}", path.display()))?;
    state::check_kernel(&env, &kernel)?;
    let boot = state::choose_base(&env).with_context(|| format!("{}", path.display()))?;
    if let Some(next) = &boot.write {
        agent::write_synced(&path, next.encode().as_bytes())?;
    }
    let loop_dev = mount_base(opts, &boot.base, false)?;
    switch(&boot.base, &loop_dev, start)?;
    let never = agent::run(&agent::Booted {
        kernel,
        base: boot.base,
        opts: opts.clone(),
    })?;
    match never {}
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

pub(super) fn block_uevents() -> Vec<String> {
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

/// Polls sysfs until the partition named `name` has a device node, or `timeout` passes.
pub(super) fn wait_for_partition(name: &str, timeout: Duration) -> Result<PathBuf> {
    let deadline = Instant::now() + timeout;
    loop {
        let uevents = block_uevents();
        if let Some(dev) = find_partition(uevents.iter().map(String::as_str), name) {
            let node = Path::new("/dev").join(dev);
            if node.exists() {
                return Ok(node);
            }
        }
        if Instant::now() >= deadline {
            let seen: Vec<String> = uevents
                .iter()
                .filter_map(|u| u.lines().find_map(|l| l.strip_prefix("DEVNAME=")))
                .map(str::to_string)
                .collect();
            bail!(
                "no partition named {name} after {} s (block devices: {})",
                timeout.as_secs_f64(),
                if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.join(" ")
                }
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Mounts the data partition on /writable.
fn mount_data(opts: &Options, data: &Path) -> Result<()> {
    Mount::builder()
        .fstype("ext4")
        .mount(data, "/writable")
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
    let snap = Path::new("/writable").join(SNAPS_DIR).join(base);
    sys::require_entry(&snap, "base snap")?;
    let control = loopdev::LoopControl::open().context("opening /dev/loop-control")?;
    let device = control.next_free().context("finding a free loop device")?;
    device
        .with()
        .read_only(true)
        .autoclear(true)
        .attach(&snap)
        .with_context(|| format!("attaching {} to a loop device", snap.display()))?;
    let loop_path = device.path().context("loop device has no path")?;
    Mount::builder()
        .fstype("squashfs")
        .flags(MountFlags::RDONLY)
        .mount(&loop_path, "/root")
        .with_context(|| format!("mounting {} from {}", snap.display(), loop_path.display()))?;
    if needs_init {
        sys::require_entry(
            &Path::new("/root").join(opts.base_init.trim_start_matches('/')),
            "base init",
        )?;
    }
    for dir in ["writable", "dev", "proc", "sys"] {
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
    Ok(loop_path)
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
