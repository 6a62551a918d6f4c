//! Runs one cut of the `power-cut` scenario. The boot's disk is served by snapsmith's NBD server
//! ([`super::nbd`]), which holds every write not yet covered by a flush in memory. The VM runs
//! until the cut's marker and its delay; then QEMU is killed (SIGKILL) and the server drops the
//! unflushed writes, as the power going away would. A new QEMU on the same disk (the update disk
//! still attached) must then show the scenario's steps and power off cleanly; the host checks
//! read the disk and must pass for one of the cut's good outcomes.

use super::console;
use super::hostcheck::{self, CheckKind, HostCheck};
use super::nbd::NbdServer;
use super::planner::{CutBoot, Expected, PlannedBoot};
use super::queue::{self, Bench, Checks, Run};
use super::runner::Vm;
use super::scenario::Wait;
use super::spec::{Disk, DiskFormat, VmSpec};
use super::watch::Watch;
use anyhow::{Result, bail};
use std::path::Path;
use std::time::Duration;

/// What a cut did.
#[derive(Debug, Clone, PartialEq)]
pub struct CutOutcome {
    /// Seconds from QEMU's start to the cut; `None` when the marker never came (no cut).
    pub at: Option<f64>,
    /// Writes the disk had not flushed, lost at the cut.
    pub dropped: usize,
    /// Writes and flushes the disk had seen up to the cut.
    pub writes: u64,
    pub flushes: u64,
}

/// What the VM showed up to the cut.
struct BeforeCut {
    lines: Vec<(Duration, String)>,
    events: Vec<(String, f64)>,
    failures: Vec<String>,
    /// Why the marker never came.
    stopped: Option<String>,
    outcome: CutOutcome,
}

/// Runs the cut on `disk` (the boot's raw copy) and judges the disk afterwards.
pub fn run(
    bench: &Bench,
    boot: &PlannedBoot,
    cut: &CutBoot,
    disk: &Path,
    update: Option<&Path>,
    dir: &Path,
) -> Result<Run> {
    let server = NbdServer::start(disk, &dir.join("nbd.sock"))?;
    let nbd = Disk {
        path: server.socket().to_path_buf(),
        format: DiskFormat::Nbd,
        readonly: false,
    };
    let spec = queue::vm_spec(bench, nbd, update)?;
    let before = until_cut(
        &spec,
        boot,
        cut,
        &dir.join("serial-before-cut.log"),
        bench,
        &server,
    )?;
    let log = dir.join("serial.log");
    let mut run = match &before.stopped {
        Some(_) => Run {
            stopped: before.stopped.clone(),
            ..Run::empty(log.clone())
        },
        None => {
            if let Some(qmp) = &spec.qmp {
                let _ = std::fs::remove_file(qmp);
            }
            let checks = Checks {
                disk,
                image: &bench.image,
                expect: &boot.expect,
            };
            queue::drive(
                &spec,
                boot,
                &dir.join("serial-after-cut.log"),
                bench.on_line,
                &checks,
            )?
        }
    };
    // A clean stop: what the guest left unflushed at its poweroff is kept.
    drop(server);
    if before.stopped.is_none() {
        run.host_checks = judge_disk(boot, cut, disk, &bench.image);
    }
    merge(&mut run, before, &log, dir, boot);
    Ok(run)
}

/// Boots until the cut's marker, waits its delay, kills QEMU and cuts the disk's power.
fn until_cut(
    spec: &VmSpec,
    boot: &PlannedBoot,
    cut: &CutBoot,
    log: &Path,
    bench: &Bench,
    server: &NbdServer,
) -> Result<BeforeCut> {
    let mut vm = Vm::start(spec, log)?;
    let mut watch = Watch::new(bench.on_line);
    let anchor = Expected {
        marker: cut.after.clone(),
        wait: Wait::Marker(cut.after.clone()),
        timeout: cut.timeout,
        absent: Vec::new(),
    };
    let stopped = watch.wait(&mut vm, &anchor, boot).err();
    if stopped.is_none() {
        vm.follow(Duration::from_secs_f64(cut.delay));
    }
    let at = vm.elapsed().as_secs_f64();
    watch.stream(&vm);
    let lines = vm.lines().to_vec();
    let events = vm
        .qmp_events()
        .into_iter()
        .map(|e| (e.name, e.at.as_secs_f64()))
        .collect();
    drop(vm); // SIGKILL: QEMU sends nothing more.
    if !server.wait_disconnected(Duration::from_secs(10)) {
        bail!("the NBD server still had a client 10 s after QEMU was killed");
    }
    let stats = server.stats();
    let dropped = if stopped.is_none() { server.cut() } else { 0 };
    Ok(BeforeCut {
        lines,
        events,
        failures: watch.failures,
        outcome: CutOutcome {
            at: stopped.is_none().then_some(at),
            dropped,
            writes: stats.writes,
            flushes: stats.flushes,
        },
        stopped,
    })
}

/// The host checks for the first good outcome the boot state and snap set match (or, when
/// none does, for the first: its failures say what is wrong).
fn judge_disk(boot: &PlannedBoot, cut: &CutBoot, disk: &Path, image: &Path) -> Vec<HostCheck> {
    let identity = [CheckKind::BootState, CheckKind::SnapSet];
    let found = cut.good.iter().find(|good| {
        hostcheck::run(&identity, disk, image, good)
            .iter()
            .all(|c| c.passed)
    });
    match found.or(cut.good.first()) {
        Some(good) => hostcheck::run(&boot.host_checks, disk, image, good),
        None => Vec::new(),
    }
}

/// Puts what the VM showed before the cut in front of what it showed after: one serial log
/// (the two with a line between them), timelines, console findings, events, failures.
fn merge(run: &mut Run, before: BeforeCut, log: &Path, dir: &Path, boot: &PlannedBoot) {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let outcome = &before.outcome;
    let line = match outcome.at {
        Some(at) => format!(
            "# power cut at {at:.2} s: {} unflushed writes dropped (of {} writes, {} flushes); \
             the power comes back\n",
            outcome.dropped, outcome.writes, outcome.flushes
        ),
        None => "# no power cut: the marker never came\n".to_string(),
    };
    let text = read("serial-before-cut.log") + &line + &read("serial-after-cut.log");
    let _ = std::fs::write(log, text);
    run.serial_log = log.to_path_buf();
    let mut timeline = console::timeline(&before.lines);
    timeline.append(&mut run.timeline);
    run.timeline = timeline;
    let mut found = console::scan(&before.lines, &boot.expect_console);
    found.append(&mut run.console);
    run.console = found;
    let mut events = before.events;
    events.append(&mut run.qmp_events);
    run.qmp_events = events;
    let mut failures = before.failures;
    failures.append(&mut run.failures);
    run.failures = failures;
    run.total += before.lines.last().map_or(0.0, |(at, _)| at.as_secs_f64());
    run.cut = Some(before.outcome);
}
