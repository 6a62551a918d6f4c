//! Boot benchmark (not a test): time from QEMU start to the init's first marker, to its ready
//! marker and to the test base's marker, for the Debian kernel booted directly with snapsmith's
//! initramfs. Prints each run, the medians, and ratios against the shell prototype's figures.
//!
//! Run: `SNAPSMITH_KERNEL_DEB=$(scripts/kernel-deb) cargo bench --bench boot [-- RUNS]`.

#[path = "../tests/support/mod.rs"]
mod support;

use snapsmith::qemu::{self, Vm};
use snapsmith::runtime::{MARKER_INIT, MARKER_READY};
use std::time::Duration;

/// The prototype's busybox initramfs reached its first line 8.35 s after QEMU started (median,
/// direct kernel boot, TCG; spec/qemu-speed.md row 1) and spent about 0.7 s from /init to
/// switch_root (17 insmods, ext4 and loop mounts; spec/bootchain.md).
const BASELINE_FIRST_LINE: f64 = 8.35;
const BASELINE_INIT_TO_SWITCH: f64 = 0.7;
/// CPU seconds the prototype's direct kernel boot used to reach its first line (1 run,
/// spec/qemu-speed.md row 1b).
const BASELINE_CPU_FIRST_LINE: f64 = 6.98;
const TIMEOUT: Duration = Duration::from_secs(180);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it,
    // and then only its build is checked (boots are not tests).
    if !std::env::args().any(|a| a == "--bench") {
        println!("boot: run with `cargo bench --bench boot`");
        return;
    }
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    let Some(deb) = support::vm::ready() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (vmlinuz, initrd) = support::vm::kernel_and_initrd(&deb, dir.path());
    let base = support::vm::test_base(dir.path());
    let disk = support::vm::disk(dir.path(), "ubuntu-data", &base);
    let accel = qemu::detect();
    let initrd_size = std::fs::metadata(&initrd).unwrap().len();
    println!(
        "accelerator {}, initrd {:.1} MiB, {runs} runs",
        accel.name(),
        mib(initrd_size)
    );
    let (mut init, mut ready, mut based, mut cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let spec = support::vm::spec(accel, &vmlinuz, &initrd, &disk, "");
        let log = dir.path().join(format!("serial-{run}.log"));
        let mut vm = Vm::start(&spec, &log).unwrap();
        let t_init = vm.wait_for(MARKER_INIT, TIMEOUT).unwrap().as_secs_f64();
        let t_ready = vm.wait_for(MARKER_READY, TIMEOUT).unwrap().as_secs_f64();
        let t_base = vm
            .wait_for(support::vm::BASE_MARKER, TIMEOUT)
            .unwrap()
            .as_secs_f64();
        let cpu_s = cpu_seconds(vm.id());
        vm.wait_exit(TIMEOUT).unwrap();
        println!(
            "run {run}: init {t_init:.2} s, ready {t_ready:.2} s, base {t_base:.2} s \
             (QEMU CPU time to base {cpu_s:.2} s)"
        );
        cpu.push(cpu_s);
        init.push(t_init);
        ready.push(t_ready - t_init);
        based.push(t_base);
    }
    let (m_init, m_ready, m_base) = (median(init), median(ready), median(based));
    println!(
        "median: first init marker {m_init:.2} s ({:.2}x the prototype's {BASELINE_FIRST_LINE} s)",
        m_init / BASELINE_FIRST_LINE
    );
    println!(
        "median: init to ready {m_ready:.2} s ({:.2}x the prototype's {BASELINE_INIT_TO_SWITCH} s)",
        m_ready / BASELINE_INIT_TO_SWITCH
    );
    println!("median: QEMU start to base marker {m_base:.2} s");
    // Wall times stretch when other work shares the cores; CPU time much less so.
    let m_cpu = median(cpu);
    println!(
        "median: QEMU CPU time to base marker {m_cpu:.2} s ({:.2}x the prototype's {} s to its \
         first line)",
        m_cpu / BASELINE_CPU_FIRST_LINE,
        BASELINE_CPU_FIRST_LINE
    );
}

/// User plus system CPU seconds process `pid` has used so far (from /proc/PID/stat).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u32 = fields[11].parse::<u32>().unwrap() + fields[12].parse::<u32>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    f64::from(ticks) / f64::from(i32::try_from(per_second).unwrap())
}

fn mib(bytes: u64) -> f64 {
    f64::from(u32::try_from(bytes / 1024).unwrap_or(u32::MAX)) / 1024.0
}
