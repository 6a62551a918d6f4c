//! The validate runner: runs [`PlannedBoot`]s from one queue with `jobs` VMs busy at all times
//! (a worker takes the next boot as soon as its VM is done, instead of pairs that wait for the
//! slower one). Each boot gets its own sparse raw copy of the image (the image is never
//! written) with the scenario's data files written onto ubuntu-data beforehand, its update
//! disk, and one QEMU process that follows the guest's reboots. What the console showed and
//! what the host checks read on the disk afterwards are recorded as a [`Run`] for the judge.

use super::console::{self, BootTimeline, Finding};
use super::cutrun::{self, CutOutcome};
use super::disks;
use super::hostcheck::{self, HostCheck};
use super::planner::{PlannedBoot, UpdateDisk};
use super::runner::Vm;
use super::scenario::{Outcome, UpdateKind, Wait};
use super::spec::{Accel, DirectKernel, Disk, Firmware, VmSpec};
use super::watch::Watch;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How the VMs boot the image.
#[derive(Debug, Clone)]
pub enum BootSource {
    /// OVMF (`-bios`) and the bootloader on the image's ESP.
    Firmware,
    /// The current kernel snap's files with this command line.
    Direct {
        vmlinuz: PathBuf,
        initrd: PathBuf,
        append: String,
    },
}

/// Everything the boots share.
pub struct Bench<'a> {
    /// The image, absolute.
    pub image: PathBuf,
    pub source: BootSource,
    pub accel: Accel,
    /// Per-boot directories go here.
    pub work: PathBuf,
    /// Guest memory; `None` keeps [`VmSpec::new`]'s.
    pub memory_mib: Option<u32>,
    /// The serial log of a single boot; `None` puts each in its boot's directory.
    pub serial_log: Option<PathBuf>,
    /// The derived updates by kind, or why one cannot be used (a missing signing key).
    pub updates: BTreeMap<UpdateKind, Result<Update, String>>,
    /// Sees every serial line as it comes.
    pub on_line: &'a (dyn Fn(&str) + Sync),
}

/// A derived update snap and, for images of a signed grade, its assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub snap: PathBuf,
    /// snap-declaration + snap-revision, put on the update disk beside the snap.
    pub assertions: Option<PathBuf>,
}

/// What one boot showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// When each expected marker came, in order, up to the first that did not.
    pub seen: Vec<Duration>,
    /// Why the wait for the next marker ended, when one did not come.
    pub stopped: Option<String>,
    /// With a poweroff outcome, once every marker came: QEMU's exit (`Ok(success, status)`)
    /// or why it did not exit.
    pub exit: Option<Result<(bool, String), String>>,
    /// Tolerated kernel panics and error lines, in order.
    pub failures: Vec<String>,
    /// Seconds from QEMU's start to its last console line.
    pub total: f64,
    pub serial_log: PathBuf,
    /// The host checks' verdicts on the disk after the VM stopped.
    pub host_checks: Vec<HostCheck>,
    /// Each boot's stages, from the console's timestamps.
    pub timeline: Vec<BootTimeline>,
    /// Error patterns on the console, expected or not.
    pub console: Vec<Finding>,
    /// QEMU's own events (`WATCHDOG`, `RESET`, `POWERDOWN`…) with seconds since its start.
    pub qmp_events: Vec<(String, f64)>,
    /// Resets the harness made because the guest hung, each described.
    pub resets: Vec<String>,
    /// A boot of `power-cut`: what its cut did.
    pub cut: Option<CutOutcome>,
}

impl Run {
    /// A run that showed nothing yet, logging to `serial_log`.
    pub fn empty(serial_log: PathBuf) -> Run {
        Run {
            seen: Vec::new(),
            stopped: None,
            exit: None,
            failures: Vec::new(),
            total: 0.0,
            serial_log,
            host_checks: Vec::new(),
            timeline: Vec::new(),
            console: Vec::new(),
            qmp_events: Vec::new(),
            resets: Vec::new(),
            cut: None,
        }
    }
}

/// Why a boot did not run.
#[derive(Debug, Clone, PartialEq)]
pub struct NotRun {
    pub reason: String,
    /// The host failed (a tool, the firmware, disk space), not the image or the request.
    pub host: bool,
}

/// Runs the boots, `jobs` at a time; one result per boot, in order. A boot that could not be
/// prepared or run is an `Err` with the reason; refused boots are not run.
pub fn run_all(bench: &Bench, boots: &[PlannedBoot], jobs: usize) -> Vec<Result<Run, NotRun>> {
    let not_run = |reason: String, host| NotRun { reason, host };
    run_queue(boots, jobs, |boot| {
        if let Some(reason) = &boot.refused {
            return Err(not_run(reason.clone(), false));
        }
        if let Some(Some(Err(reason))) = boot
            .update_disk
            .as_ref()
            .map(|d| bench.updates.get(&d.update))
        {
            return Err(not_run(reason.clone(), false));
        }
        run_one(bench, boot).map_err(|e| not_run(format!("{e:#}"), true))
    })
    .into_iter()
    .map(|r| r.unwrap_or_else(|| Err(not_run("the scenario thread panicked".into(), true))))
    .collect()
}

/// Calls `work` on every item from one queue with `jobs` workers, each taking the next item as
/// soon as it is done; one result per item, in order (`None` where `work` panicked).
fn run_queue<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.clamp(1, items.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(item) = items.get(i) else { break };
                        let result = work(item);
                        if let Ok(mut all) = results.lock() {
                            all[i] = Some(result);
                        }
                    }
                })
            })
            .collect();
        // A worker that panicked leaves its item without a result; the others go on.
        for worker in workers {
            let _ = worker.join();
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn run_one(bench: &Bench, boot: &PlannedBoot) -> Result<Run> {
    let dir = bench.work.join(boot.dir_name());
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let update_disk = boot
        .update_disk
        .as_ref()
        .map(|d| write_update_disk(bench, d, &dir))
        .transpose()?;
    let disk = dir.join("disk.img");
    let data_digest = super::prepare::prepare_disk(&bench.image, &disk, boot)?;
    let rogue = boot
        .rogue_disk
        .then(|| super::rogue::write_rogue_disk(&dir, &super::diskread::DiskReader::open(&disk)?))
        .transpose()?;
    let expect = hostcheck::Expected {
        data_digest,
        rogue: rogue.clone(),
        ..boot.expect.clone()
    };
    let rogue_path = rogue.as_ref().map(|r| r.path.as_path());
    let run = match &boot.cut {
        Some(cut) => cutrun::run(bench, boot, cut, &disk, update_disk.as_deref(), &dir),
        None => run_plain(
            bench,
            boot,
            &disk,
            (update_disk.as_deref(), rogue_path),
            &dir,
            &expect,
        ),
    };
    let _ = std::fs::remove_file(&disk);
    if let Some(r) = rogue {
        let _ = std::fs::remove_file(r.path);
    }
    if let Some(disk) = update_disk {
        let _ = std::fs::remove_file(disk);
    }
    run
}

/// A boot that keeps its power: the VM on a raw copy (with the update disk and, in front, a
/// rogue disk when there are), then the host checks.
fn run_plain(
    bench: &Bench,
    boot: &PlannedBoot,
    disk: &Path,
    (update_disk, rogue): (Option<&Path>, Option<&Path>),
    dir: &Path,
    expect: &hostcheck::Expected,
) -> Result<Run> {
    let mut spec = vm_spec(bench, Disk::raw(disk), update_disk)?;
    if let Some(r) = rogue {
        // Enumerated first: the firmware, GRUB and Linux all meet it before the boot disk.
        spec.disks.insert(0, Disk::raw(r));
    }
    let log = bench
        .serial_log
        .clone()
        .unwrap_or_else(|| dir.join("serial.log"));
    let checks = Checks {
        disk,
        image: &bench.image,
        expect,
    };
    let mut run = drive(&spec, boot, &log, bench.on_line, &checks);
    if let Ok(run) = &mut run {
        let after = hostcheck::run(&boot.host_checks, disk, &bench.image, expect);
        run.host_checks.extend(after);
    }
    run
}

fn write_update_disk(bench: &Bench, disk: &UpdateDisk, dir: &Path) -> Result<PathBuf> {
    let update = match bench.updates.get(&disk.update) {
        Some(Err(reason)) => bail!("{reason}"),
        Some(Ok(update)) => Some(update),
        None => None,
    };
    let snaps: Vec<PathBuf> = update.map(|u| u.snap.clone()).into_iter().collect();
    let extra: Vec<PathBuf> = update
        .and_then(|u| u.assertions.clone())
        .into_iter()
        .collect();
    disks::write_update_disk_with(dir, "update", &snaps, &extra)
}

/// The VM of a boot: its boot source, QMP beside the update disk's directory, the watchdog,
/// the scenario's `disk` and the update disk.
pub(super) fn vm_spec(bench: &Bench, disk: Disk, update: Option<&Path>) -> Result<VmSpec> {
    let mut spec = VmSpec::new(bench.accel);
    if let Some(memory) = bench.memory_mib {
        spec.memory_mib = memory;
    }
    match &bench.source {
        BootSource::Firmware => {
            let ovmf =
                super::ovmf().context("no OVMF firmware found (install the ovmf package)")?;
            spec.firmware = Some(Firmware::Bios(ovmf));
        }
        BootSource::Direct {
            vmlinuz,
            initrd,
            append,
        } => {
            spec.kernel = Some(DirectKernel {
                kernel: vmlinuz.clone(),
                initrd: Some(initrd.clone()),
                append: append.clone(),
            });
        }
    }
    spec.qmp = Some(disk.path.with_extension("qmp"));
    spec.watchdog = true;
    spec.disks.push(disk);
    spec.disks.extend(update.map(Disk::raw));
    Ok(spec)
}

/// Boots and waits for each step in order, then for the outcome: with `poweroff`, the harness
/// presses the power button and QEMU must exit cleanly.
pub(super) fn drive(
    spec: &VmSpec,
    boot: &PlannedBoot,
    log: &Path,
    on_line: &dyn Fn(&str),
    checks: &Checks,
) -> Result<Run> {
    let mut vm = Vm::start(spec, log)?;
    let mut watch = Watch::new(on_line);
    let mut seen = Vec::new();
    let mut stopped = None;
    let mut host_checks = Vec::new();
    for expected in &boot.expected {
        let outcome = match &expected.wait {
            Wait::HostCheck(kind) => paused_check(&mut vm, *kind, checks).map(|(at, check)| {
                host_checks.push(check);
                at
            }),
            _ => watch.wait(&mut vm, expected, boot),
        };
        match outcome {
            Ok(at) => seen.push(at),
            Err(err) => {
                stopped = Some(err);
                break;
            }
        }
    }
    let exit = (stopped.is_none() && boot.outcome == Outcome::Poweroff).then(|| {
        vm.qmp("system_powerdown").map_err(|e| format!("{e:#}"))?;
        vm.wait_exit(Duration::from_secs(120))
            .map(|(status, _)| (status.success(), status.to_string()))
            .map_err(|e| e.to_string())
    });
    watch.stream(&vm);
    Ok(Run {
        seen,
        stopped,
        exit,
        total: vm.lines().last().map_or(0.0, |(at, _)| at.as_secs_f64()),
        serial_log: log.to_path_buf(),
        host_checks,
        timeline: console::timeline(vm.lines()),
        console: console::scan(vm.lines(), &boot.expect_console),
        qmp_events: vm
            .qmp_events()
            .into_iter()
            .map(|e| (e.name, e.at.as_secs_f64()))
            .collect(),
        failures: watch.failures,
        resets: watch.resets,
        cut: None,
    })
}

/// What a host check reads: the boot's disk, the built image, what is expected.
pub(super) struct Checks<'a> {
    pub disk: &'a Path,
    pub image: &'a Path,
    pub expect: &'a hostcheck::Expected,
}

/// A host check in the middle of a scenario: the VM is paused (QMP `stop` drains its I/O, so
/// the disk holds all the guest wrote), checked, and continued. A failed check is recorded like
/// any other; only a VM that cannot be paused or continued ends the scenario.
fn paused_check(
    vm: &mut Vm,
    kind: hostcheck::CheckKind,
    c: &Checks,
) -> Result<(Duration, HostCheck), String> {
    let at = vm.elapsed();
    vm.qmp("stop")
        .map_err(|e| format!("pausing the VM: {e:#}"))?;
    let mut check = hostcheck::run(&[kind], c.disk, c.image, c.expect)
        .pop()
        .ok_or("no host check result")?;
    check.check = format!("{} (paused at {:.1} s)", check.check, at.as_secs_f64());
    vm.qmp("cont")
        .map_err(|e| format!("continuing the VM: {e:#}"))?;
    Ok((at, check))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn the_queue_keeps_every_worker_busy_and_keeps_the_order() {
        // Pairs would take 8 + 4 * 1 = 12 units; with a queue the short items all run beside
        // the long one: 8.
        let unit = Duration::from_millis(40);
        let items = [8u32, 1, 1, 1, 1, 1, 1, 1, 1];
        let started = Instant::now();
        let out = run_queue(&items, 2, |n| {
            std::thread::sleep(unit * *n);
            n * 10
        });
        let took = started.elapsed();
        assert_eq!(out, items.map(|n| Some(n * 10)));
        assert!(took < unit * 11, "took {took:?}");
    }

    #[test]
    fn a_panicking_item_leaves_no_result_and_the_rest_run() {
        let out = run_queue(&[1, 2, 3], 2, |n| {
            assert!(*n != 2, "boom");
            *n
        });
        assert_eq!(out, [Some(1), None, Some(3)]);
    }
}
