//! Booting a built image in QEMU the way a PC would (`snapsmith boot`): the validate runner
//! ([`super::validate`]) with one first-boot scenario whose only marker is the run marker (or
//! the caller's). OVMF (`-bios`, no stored variables) finds GRUB on ubuntu-seed, GRUB boots the
//! kernel snap from ubuntu-boot, snapsmith's init switches into the base; an image without a
//! bootloader boots its current kernel directly. The image is attached through a throw-away
//! qcow2 overlay, so it is never modified. Serial lines are streamed as they come. Kernel
//! panics and init errors reboot the guest (GRUB may roll a kernel back), so they end the boot
//! only when they repeat.

use super::scenario::{Outcome, Scenario, Step, UpdateKind};
use super::validate::{Request, validate_streaming};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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
    pub log: PathBuf,
    /// Kernel panics and init errors seen before the marker (each rebooted the guest).
    pub failed_boots: Vec<String>,
}

/// The scenario `snapsmith boot` runs: the image alone reaches `marker` within `timeout`.
pub fn first_boot(marker: &str, timeout: Duration) -> Scenario {
    Scenario {
        name: "first-boot".to_string(),
        description: "the image boots to the marker".to_string(),
        update: UpdateKind::None,
        needs_bootloader: false,
        tolerate_failures: true,
        max_failures: Some(MAX_FAILED_BOOTS),
        write: BTreeMap::new(),
        seed_env: BTreeMap::new(),
        damage: Vec::new(),
        rogue_disk: false,
        crashing_app: false,
        open: Vec::new(),
        after: Default::default(),
        steps: vec![Step::marker(marker, timeout.as_secs_f64())],
        outcome: Outcome::Running,
        host_checks: Vec::new(),
        expect: Default::default(),
        // Tolerated failed boots may show anything; `snapsmith boot` only waits for its marker.
        expect_console: super::console::ERROR_PATTERNS
            .iter()
            .map(|(_, name)| name.to_string())
            .collect(),
        power_cut: None,
        default_set: true,
    }
}

/// Boots `opts.image` and waits for the marker; `on_line` sees every serial line as it comes.
pub fn boot_image(opts: &BootOptions, on_line: impl Fn(&str) + Sync) -> Result<BootReport> {
    if !opts.image.is_file() {
        bail!("image {} not found", opts.image.display());
    }
    let work = tempfile::Builder::new()
        .prefix("snapsmith-boot-")
        .tempdir()
        .context("creating a directory for the disk overlay")?;
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
    let request = Request {
        image: opts.image.clone(),
        scenarios: vec![first_boot(&opts.marker, opts.timeout)],
        work: work.path().to_path_buf(),
        jobs: 1,
        accel: super::detect(),
        memory_mib: Some(opts.memory_mib),
        serial_log: Some(log.clone()),
        keyring: None,
    };
    let report = validate_streaming(&request, &on_line)?;
    let scenario = report
        .scenarios
        .into_iter()
        .next()
        .context("the boot ran no scenario")?;
    match (scenario.passed, scenario.markers.first().and_then(|m| m.at)) {
        (true, Some(at)) => Ok(BootReport {
            marker_at: Duration::from_secs_f64(at),
            log,
            failed_boots: scenario.failures,
        }),
        _ => bail!(
            "{}",
            scenario
                .reason
                .unwrap_or_else(|| format!("the boot failed (serial log: {})", log.display()))
        ),
    }
}
