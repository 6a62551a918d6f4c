//! Booting a built image in QEMU the way a PC would: OVMF (`-bios`, no stored variables) finds
//! GRUB on ubuntu-seed, GRUB boots the kernel snap from ubuntu-boot, snapsmith's init switches
//! into the base. The image is attached through a throw-away qcow2 overlay, so the built image
//! is never modified. The serial console is streamed line by line; the boot succeeds when a
//! line contains the marker. Kernel panics and init errors reboot the guest (GRUB may roll a
//! kernel back), so they end the boot only when they repeat.

use super::{self as qemu, Disk, DiskFormat, Firmware, Vm, VmError, VmSpec};
use crate::exec::Cmd;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the run-mode agent prints once the system runs (docs/boot-protocol.md).
pub const RUN_MARKER: &str = "snapsmith: run ";
/// Panics or init errors tolerated before a boot is given up (each one reboots the guest).
const MAX_FAILED_BOOTS: usize = 3;

/// How to boot an image.
#[derive(Debug, Clone)]
pub struct BootOptions {
    pub image: PathBuf,
    pub timeout: Duration,
    /// The boot succeeds at the first serial line containing this.
    pub marker: String,
    /// Where the serial log goes (kept); `None` makes one in the temporary directory.
    pub log: Option<PathBuf>,
    pub memory_mib: u32,
}

/// How a successful boot went.
#[derive(Debug, Clone)]
pub struct BootReport {
    /// Time from QEMU's start to the marker.
    pub marker_at: Duration,
    /// The line that carried the marker.
    pub line: String,
    pub log: PathBuf,
    /// Kernel panics and init errors seen before the marker (each rebooted the guest).
    pub failed_boots: Vec<String>,
}

/// Boots `opts.image` and waits for the marker; `on_line` sees every serial line as it comes.
pub fn boot_image(opts: &BootOptions, mut on_line: impl FnMut(&str)) -> Result<BootReport> {
    let firmware =
        qemu::ovmf().context("no OVMF firmware found (install the Debian package ovmf)")?;
    let work = tempfile::Builder::new()
        .prefix("snapsmith-boot-")
        .tempdir()
        .context("creating a directory for the disk overlay")?;
    let overlay = overlay(&opts.image, work.path())?;
    let log = match &opts.log {
        Some(path) => path.clone(),
        None => {
            tempfile::Builder::new()
                .prefix("snapsmith-boot-")
                .suffix(".log")
                .tempfile()
                .context("creating the serial log")?
                .keep()
                .context("keeping the serial log")?
                .1
        }
    };
    let mut spec = VmSpec::new(qemu::detect());
    spec.memory_mib = opts.memory_mib;
    spec.firmware = Some(Firmware::Bios(firmware));
    spec.disks.push(Disk {
        path: overlay,
        format: DiskFormat::Qcow2,
        readonly: false,
    });
    let mut vm = Vm::start(&spec, &log)?;
    let deadline = Instant::now() + opts.timeout;
    let mut shown = 0;
    let mut failed_boots = Vec::new();
    loop {
        let step = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(250));
        let outcome = vm.wait_for(&opts.marker, step);
        for (_, line) in &vm.lines()[shown..] {
            on_line(line);
        }
        shown = vm.lines().len();
        match outcome {
            Ok(at) => {
                return Ok(BootReport {
                    marker_at: at,
                    line: vm.lines().last().map(|l| l.1.clone()).unwrap_or_default(),
                    log,
                    failed_boots,
                });
            }
            Err(VmError::Panic { line, .. } | VmError::GuestError { line, .. }) => {
                failed_boots.push(line);
                if failed_boots.len() >= MAX_FAILED_BOOTS {
                    bail!(
                        "the guest failed {} times without reaching {:?} (last: {}; serial log: {})",
                        failed_boots.len(),
                        opts.marker,
                        failed_boots.last().map_or("", String::as_str),
                        log.display()
                    );
                }
            }
            Err(VmError::Timeout { .. }) if Instant::now() < deadline => {}
            Err(VmError::Timeout { .. }) => bail!(
                "timed out after {} s waiting for {:?} (serial log: {})",
                opts.timeout.as_secs_f64(),
                opts.marker,
                log.display()
            ),
            Err(other) => return Err(other.into()),
        }
    }
}

/// A qcow2 overlay in `dir` backed by `image` (read only through it).
fn overlay(image: &Path, dir: &Path) -> Result<PathBuf> {
    let image = image
        .canonicalize()
        .with_context(|| format!("image {} not found", image.display()))?;
    if !image.is_file() {
        bail!("image {} is not a file", image.display());
    }
    let out = dir.join("overlay.qcow2");
    Cmd::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&image)
        .arg(&out)
        .run()
        .context("creating the disk overlay")?;
    Ok(out)
}
