//! `snapsmith validate`: boots an image through its scenarios and reports. Each scenario gets
//! a qcow2 overlay over the image (the image itself is never written), an update disk
//! (`snapsmith-update`) holding update.yaml and the update derived from the image's own snaps,
//! and one QEMU process that reboots as the guest asks; the console markers are awaited in
//! order and timed from QEMU's start. Images with a bootloader on their ESP boot through OVMF
//! and GRUB; images without one boot their current kernel directly (kernel updates then cannot
//! be tried, and scenarios that need GRUB fail saying so). Two scenarios run at a time, the
//! fastest setting measured on 2-core TCG hosts.

use super::derive::{self, ImageInfo};
use super::disks;
use super::runner::{Vm, VmError};
use super::scenario::{Outcome, Scenario, expand};
use super::spec::{Accel, DirectKernel, Disk, DiskFormat, Firmware, VmSpec};
use crate::boot::state::next_local_file;
use crate::boot::update::{Manifest, Then};
use crate::exec::Cmd;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to validate.
#[derive(Debug, Clone)]
pub struct Request {
    pub image: PathBuf,
    pub scenarios: Vec<Scenario>,
    /// Where overlays, update disks and serial logs go (logs are kept).
    pub work: PathBuf,
    /// Scenarios run at the same time.
    pub jobs: usize,
    pub accel: Accel,
    /// Guest memory; `None` keeps [`VmSpec::new`]'s.
    pub memory_mib: Option<u32>,
    /// Where the serial log goes when there is one scenario; `None` puts it in `work`.
    pub serial_log: Option<PathBuf>,
}

/// How the image was booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootPath {
    /// OVMF -> GRUB on the image's ESP.
    Firmware,
    /// QEMU loads the current kernel snap's vmlinuz and initrd.img.
    DirectKernel,
}

#[derive(Debug, Clone, Serialize)]
pub struct MarkerReport {
    pub marker: String,
    /// Seconds since QEMU started; `None` when it never came.
    pub at: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub name: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub markers: Vec<MarkerReport>,
    /// Tolerated kernel panics and error lines, in order (each rebooted the guest).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Seconds from QEMU's start to the end of the scenario.
    pub total: f64,
    pub serial_log: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub image: PathBuf,
    pub accel: &'static str,
    pub boot: BootPath,
    pub passed: bool,
    /// Wall seconds for the whole run.
    pub total: f64,
    pub scenarios: Vec<ScenarioReport>,
}

/// Everything a scenario run needs besides the scenario.
struct Bench<'a> {
    info: ImageInfo,
    boot: BootPath,
    accel: Accel,
    kernel_files: Option<(PathBuf, PathBuf)>,
    work: PathBuf,
    memory_mib: Option<u32>,
    serial_log: Option<PathBuf>,
    on_line: &'a (dyn Fn(&str) + Sync),
}

/// Runs the scenarios; a failing scenario is a report entry, not an error.
pub fn validate(req: &Request) -> Result<Report> {
    validate_streaming(req, &|_| {})
}

/// [`validate`], handing every serial line to `on_line` as it comes.
pub fn validate_streaming(req: &Request, on_line: &(dyn Fn(&str) + Sync)) -> Result<Report> {
    let started = Instant::now();
    std::fs::create_dir_all(&req.work)
        .with_context(|| format!("creating {}", req.work.display()))?;
    let image = std::path::absolute(&req.image)
        .with_context(|| format!("resolving {}", req.image.display()))?;
    let info = derive::read_image(&image)?;
    let boot = if info.has_bootloader {
        BootPath::Firmware
    } else {
        BootPath::DirectKernel
    };
    let kernel_files = match boot {
        BootPath::Firmware => None,
        BootPath::DirectKernel => Some(direct_kernel_files(&info, &req.work)?),
    };
    let mut updates = BTreeMap::new();
    for s in &req.scenarios {
        if let std::collections::btree_map::Entry::Vacant(slot) =
            updates.entry(format!("{:?}", s.update))
        {
            slot.insert(derive::derive_update(s.update, &info, &req.work)?);
        }
    }
    let bench = Bench {
        info,
        boot,
        accel: req.accel,
        kernel_files,
        work: req.work.clone(),
        memory_mib: req.memory_mib,
        serial_log: req.serial_log.clone().filter(|_| req.scenarios.len() == 1),
        on_line,
    };
    let mut reports = Vec::new();
    for chunk in req.scenarios.chunks(req.jobs.max(1)) {
        let results: Vec<ScenarioReport> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|s| {
                    let update = updates.get(&format!("{:?}", s.update)).cloned().flatten();
                    let bench = &bench;
                    scope.spawn(move || run_scenario(bench, s, update))
                })
                .collect();
            handles
                .into_iter()
                .zip(chunk)
                .map(|(h, s)| {
                    h.join()
                        .unwrap_or_else(|_| failed_early(s, "the scenario thread panicked"))
                })
                .collect()
        });
        reports.extend(results);
    }
    Ok(Report {
        image,
        accel: req.accel.name(),
        boot,
        passed: reports.iter().all(|r| r.passed),
        total: started.elapsed().as_secs_f64(),
        scenarios: reports,
    })
}

fn failed_early(s: &Scenario, reason: &str) -> ScenarioReport {
    ScenarioReport {
        name: s.name.clone(),
        passed: false,
        reason: Some(reason.to_string()),
        markers: Vec::new(),
        failures: Vec::new(),
        total: 0.0,
        serial_log: PathBuf::new(),
    }
}

/// The current kernel snap's vmlinuz and initrd.img, for direct kernel boot.
fn direct_kernel_files(info: &ImageInfo, work: &Path) -> Result<(PathBuf, PathBuf)> {
    let kernel = info.kernel()?;
    let snap_path = work.join(format!("installed-{kernel}"));
    if !snap_path.exists() {
        derive::dump_snap(info, kernel, &snap_path)?;
    }
    let snap = crate::snap::SnapFile::open(&snap_path)?;
    let mut out = Vec::new();
    for name in ["vmlinuz", "initrd.img"] {
        let path = work.join(format!("direct-{name}"));
        std::fs::write(&path, snap.read_file(name)?)
            .with_context(|| format!("writing {}", path.display()))?;
        out.push(path);
    }
    Ok((out.remove(0), out.remove(0)))
}

fn run_scenario(bench: &Bench, s: &Scenario, update: Option<PathBuf>) -> ScenarioReport {
    if s.needs_bootloader && bench.boot != BootPath::Firmware {
        return failed_early(
            s,
            "needs GRUB, but the image's ESP has no EFI/BOOT/BOOTX64.EFI (booted without a \
             bootloader, kernel updates cannot be tried)",
        );
    }
    match prepare_and_run(bench, s, update) {
        Ok(report) => report,
        Err(err) => failed_early(s, &format!("{err:#}")),
    }
}

fn prepare_and_run(bench: &Bench, s: &Scenario, update: Option<PathBuf>) -> Result<ScenarioReport> {
    let dir = bench.work.join(&s.name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let overlay = dir.join("overlay.qcow2");
    Cmd::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&bench.info.path)
        .arg(&overlay)
        .run()?;
    let manifest = Manifest {
        snaps: update
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect(),
        write: s.write.clone(),
        then: Some(Then::Poweroff),
        digests: BTreeMap::new(),
    };
    let snaps: Vec<PathBuf> = update.iter().cloned().collect();
    // A scenario that leaves the VM running and gives the agent nothing to do boots the image
    // alone, as a PC would.
    let update_disk = (!snaps.is_empty() || !s.write.is_empty() || s.outcome == Outcome::Poweroff)
        .then(|| disks::write_update_disk(&dir, "update", &manifest, &snaps))
        .transpose()?;
    let spec = vm_spec(bench, &overlay, update_disk.as_deref())?;
    let log = bench
        .serial_log
        .clone()
        .unwrap_or_else(|| dir.join("serial.log"));
    let vars = placeholders(&bench.info)?;
    let report = drive(&spec, s, &vars, &log, bench.on_line);
    let _ = std::fs::remove_file(&overlay);
    if let Some(disk) = update_disk {
        let _ = std::fs::remove_file(disk);
    }
    report
}

fn vm_spec(bench: &Bench, overlay: &Path, update: Option<&Path>) -> Result<VmSpec> {
    let mut spec = VmSpec::new(bench.accel);
    if let Some(memory) = bench.memory_mib {
        spec.memory_mib = memory;
    }
    match &bench.kernel_files {
        None => {
            let ovmf =
                super::ovmf().context("no OVMF firmware found (install the ovmf package)")?;
            spec.firmware = Some(Firmware::Bios(ovmf));
        }
        Some((vmlinuz, initrd)) => {
            spec.kernel = Some(DirectKernel {
                kernel: vmlinuz.clone(),
                initrd: Some(initrd.clone()),
                append: format!(
                    "console=ttyS0 panic=-1 snapsmith.mode=run snapsmith.kernel={}",
                    bench.info.kernel()?
                ),
            });
        }
    }
    spec.disks.push(Disk {
        path: overlay.to_path_buf(),
        format: DiskFormat::Qcow2,
        readonly: false,
    });
    spec.disks.extend(update.map(Disk::raw));
    Ok(spec)
}

/// `{kernel}`, `{base}`, `{new_kernel}`, `{new_base}` for the image.
fn placeholders(info: &ImageInfo) -> Result<BTreeMap<&'static str, String>> {
    let mut vars = BTreeMap::new();
    let kernel = info.kernel()?.to_string();
    let name_of = |file: &str| {
        file.rsplit_once('_')
            .map_or(file.to_string(), |(n, _)| n.to_string())
    };
    vars.insert(
        "new_kernel",
        next_local_file(&name_of(&kernel), &info.installed),
    );
    vars.insert(
        "new_base",
        next_local_file(&name_of(&info.modeenv.base), &info.installed),
    );
    vars.insert("kernel", kernel);
    vars.insert("base", info.modeenv.base.clone());
    Ok(vars)
}

/// Boots and waits for each marker in order, then for the outcome.
fn drive(
    spec: &VmSpec,
    s: &Scenario,
    vars: &BTreeMap<&str, String>,
    log: &Path,
    on_line: &dyn Fn(&str),
) -> Result<ScenarioReport> {
    let mut vm = Vm::start(spec, log)?;
    let mut watch = Watch {
        on_line,
        shown: 0,
        failures: Vec::new(),
    };
    let mut markers: Vec<MarkerReport> = s
        .steps
        .iter()
        .map(|st| MarkerReport {
            marker: expand(&st.marker, vars),
            at: None,
        })
        .collect();
    let mut reason = None;
    for (i, step) in s.steps.iter().enumerate() {
        let wanted = markers[i].marker.clone();
        match watch.wait(&mut vm, &wanted, Duration::from_secs_f64(step.timeout), s) {
            Ok(at) => markers[i].at = Some(at.as_secs_f64()),
            Err(err) => {
                reason = Some(err);
                break;
            }
        }
    }
    if reason.is_none() && s.outcome == Outcome::Poweroff {
        match vm.wait_exit(Duration::from_secs(120)) {
            Ok((status, _)) if status.success() => {}
            Ok((status, _)) => reason = Some(format!("qemu exited with {status}")),
            Err(err) => reason = Some(format!("the VM did not power off: {err}")),
        }
    }
    watch.stream(&vm);
    let total = vm.lines().last().map_or(0.0, |(at, _)| at.as_secs_f64());
    Ok(ScenarioReport {
        name: s.name.clone(),
        passed: reason.is_none(),
        reason,
        markers,
        failures: watch.failures,
        total,
        serial_log: log.to_path_buf(),
    })
}

/// Follows a VM's console: streams its lines and counts the tolerated failures.
struct Watch<'a> {
    on_line: &'a dyn Fn(&str),
    shown: usize,
    failures: Vec<String>,
}

impl Watch<'_> {
    /// Hands the lines not yet shown to `on_line`.
    fn stream(&mut self, vm: &Vm) {
        for (_, line) in &vm.lines()[self.shown..] {
            (self.on_line)(line);
        }
        self.shown = vm.lines().len();
    }

    /// Waits for `marker`; with the scenario's `tolerate_failures`, panics and error lines on
    /// the way do not end it (up to its `max_failures`).
    fn wait(
        &mut self,
        vm: &mut Vm,
        marker: &str,
        timeout: Duration,
        s: &Scenario,
    ) -> Result<Duration, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let step = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(250));
            let outcome = vm.wait_for(marker, step);
            self.stream(vm);
            match outcome {
                Ok(at) => return Ok(at),
                Err(VmError::Panic { line, .. } | VmError::GuestError { line, .. })
                    if s.tolerate_failures =>
                {
                    self.failures.push(line);
                    if s.max_failures.is_some_and(|max| self.failures.len() >= max) {
                        return Err(format!(
                            "the guest failed {} times without reaching {marker:?} (last: {}; \
                             serial log: {})",
                            self.failures.len(),
                            self.failures.last().map_or("", String::as_str),
                            vm.log_path().display()
                        ));
                    }
                }
                Err(VmError::Timeout { .. }) if Instant::now() < deadline => {}
                Err(VmError::Timeout { .. }) => {
                    return Err(format!(
                        "timed out after {:.1} s waiting for {marker:?} (serial log: {})",
                        timeout.as_secs_f64(),
                        vm.log_path().display()
                    ));
                }
                Err(other) => return Err(other.to_string()),
            }
        }
    }
}

/// The report as text: one block per scenario with its markers and times.
pub fn render(report: &Report) -> String {
    let mut out = format!(
        "image {} ({}, {})\n",
        report.image.display(),
        match report.boot {
            BootPath::Firmware => "OVMF + GRUB",
            BootPath::DirectKernel => "direct kernel boot",
        },
        report.accel
    );
    for s in &report.scenarios {
        out.push_str(&format!(
            "{} {} ({:.1} s)\n",
            if s.passed { "PASS" } else { "FAIL" },
            s.name,
            s.total
        ));
        for m in &s.markers {
            match m.at {
                Some(at) => out.push_str(&format!("  {at:7.2} s  {}\n", m.marker)),
                None => out.push_str(&format!("        -    {}\n", m.marker)),
            }
        }
        if let Some(reason) = &s.reason {
            out.push_str(&format!("  reason: {reason}\n"));
        }
        if !s.serial_log.as_os_str().is_empty() {
            out.push_str(&format!("  serial log: {}\n", s.serial_log.display()));
        }
    }
    let passed = report.scenarios.iter().filter(|s| s.passed).count();
    out.push_str(&format!(
        "{passed} of {} scenarios passed in {:.1} s\n",
        report.scenarios.len(),
        report.total
    ));
    out
}
