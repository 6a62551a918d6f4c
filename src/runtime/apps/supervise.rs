//! The supervisor: a process forked from PID 1 (a child subreaper, so the daemons and what they
//! fork stay its children) that runs the install hooks, starts the services in order, restarts
//! them per `restart-condition` with back-off, and on SIGTERM stops them in reverse order, each
//! with SIGTERM and, after its `stop-timeout`, SIGKILL. Each service runs in its own process
//! group, which is what a `forking` daemon's lifetime is judged by. A supervisor started for an
//! app refresh also reports each failed exit (a byte on a pipe), which is how the refresh sees
//! a crash loop. Markers: docs/apps.md.

use super::policy::{self, Exit};
use super::spawn::{self, AppContext};
use crate::runtime::MARKER;
use crate::snap::Daemon;
use crate::snap::apps::Service;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn console(line: &str) {
    super::super::shared::console(&format!("{MARKER} app {line}"));
}

/// One service to supervise.
pub struct Unit {
    pub ctx: Rc<AppContext>,
    pub service: Service,
    pid: Option<i32>,
    starts: Vec<Duration>,
    attempt: u32,
    restart_at: Option<Instant>,
}

impl Unit {
    pub fn new(ctx: Rc<AppContext>, service: Service) -> Unit {
        Unit {
            ctx,
            service,
            pid: None,
            starts: Vec::new(),
            attempt: 0,
            restart_at: None,
        }
    }

    fn tag(&self) -> String {
        format!(
            "{}.{} rev={}",
            self.ctx.snap, self.service.name, self.ctx.revision
        )
    }
}

/// Runs `hook` of the snap in `ctx` and waits for it; true when it exited 0.
pub fn run_hook(ctx: &AppContext, hook: &str) -> bool {
    let command = format!("meta/hooks/{hook}");
    let tag = format!("{} rev={}", ctx.snap, ctx.revision);
    let pid = match spawn::start(ctx, &command, &Default::default()) {
        Ok(pid) => pid_t(pid),
        Err(err) => {
            console(&format!("hook {hook} {tag} failed: {err:#}"));
            return false;
        }
    };
    let exit = wait_pid(pid);
    console(&format!("hook {hook} {tag} {}", exit.word()));
    exit == Exit::Code(0)
}

fn pid_t(pid: u32) -> i32 {
    i32::try_from(pid).unwrap_or(i32::MAX)
}

fn wait_pid(pid: i32) -> Exit {
    let mut status = 0;
    // SAFETY: waitpid writes the status into a local.
    while unsafe { libc::waitpid(pid, &raw mut status, 0) } < 0 {
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Exit::Code(-1);
        }
    }
    Exit::from_wait_status(status)
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// Starts the unit; a oneshot or forking daemon is waited for, as systemd waits for them.
/// Returns true when the start failed.
fn start(unit: &mut Unit, clock: Instant) -> bool {
    unit.starts.push(clock.elapsed());
    let pid = match spawn::start(&unit.ctx, &unit.service.command, &unit.service.environment) {
        Ok(pid) => pid_t(pid),
        Err(err) => {
            console(&format!("exit {} failed to start: {err:#}", unit.tag()));
            schedule(unit, Exit::Code(-1));
            return true;
        }
    };
    console(&format!("start {}", unit.tag()));
    match unit.service.daemon {
        Daemon::Oneshot => {
            let exit = wait_pid(pid);
            console(&format!("exit {} {}", unit.tag(), exit.word()));
            exit != Exit::Code(0)
        }
        Daemon::Forking => {
            let exit = wait_pid(pid);
            if exit == Exit::Code(0) && group_alive(pid) {
                unit.pid = Some(pid);
                false
            } else {
                console(&format!("exit {} {}", unit.tag(), exit.word()));
                schedule(unit, exit);
                true
            }
        }
        Daemon::Simple | Daemon::Notify | Daemon::Dbus => {
            unit.pid = Some(pid);
            false
        }
    }
}

/// After an exit: a restart in the back-off delay, or nothing (given up or not restarted).
fn schedule(unit: &mut Unit, exit: Exit) {
    unit.pid = None;
    if !policy::restarts(unit.service.restart, exit) {
        return;
    }
    unit.attempt += 1;
    let delay = policy::backoff(unit.service.restart_delay, unit.attempt);
    unit.restart_at = Some(Instant::now() + delay);
    console(&format!(
        "restart {} in={}ms attempt={}",
        unit.tag(),
        delay.as_millis(),
        unit.attempt
    ));
}

/// Starts every unit in order, then tells PID 1 through `ready` and supervises until SIGTERM;
/// then stops them all and exits. Each failed start or exit, and each unit given up at its
/// start limit, writes one byte to `report` when there is one.
pub fn run(mut units: Vec<Unit>, ready: OwnedFd, report: Option<OwnedFd>) -> ! {
    let clock = Instant::now();
    let set = signal_set();
    let mut report = report.map(std::fs::File::from);
    let mut failures = 0;
    for unit in &mut units {
        failures += u32::from(start(unit, clock));
    }
    drop(std::fs::File::from(ready));
    loop {
        let next = units.iter().filter_map(|u| u.restart_at).min();
        let timeout = next.map_or(Duration::from_secs(3600), |t| {
            t.saturating_duration_since(Instant::now())
        });
        if wait_signal(&set, timeout) == Some(libc::SIGTERM) {
            stop_all(&mut units);
            // SAFETY: leaving the forked process without running PID 1's destructors.
            unsafe { libc::_exit(0) };
        }
        failures += reap(&mut units);
        for unit in &mut units {
            failures += u32::from(restart_if_due(unit, clock));
        }
        if let Some(out) = report.as_mut().filter(|_| failures > 0) {
            let bytes = vec![b'x'; usize::try_from(failures).unwrap_or(1)];
            // A refresh that stopped listening has decided already.
            let _ = std::io::Write::write_all(out, &bytes);
        }
        failures = 0;
    }
}

/// Restarts the unit when its restart is due; true when that failed or hit the start limit.
fn restart_if_due(unit: &mut Unit, clock: Instant) -> bool {
    if unit.restart_at.is_none_or(|t| t > Instant::now()) {
        return false;
    }
    unit.restart_at = None;
    if policy::start_limit_hit(&unit.starts, clock.elapsed()) {
        console(&format!(
            "failed {}: start limit hit ({} starts in {} s)",
            unit.tag(),
            policy::START_LIMIT_BURST,
            policy::START_LIMIT_INTERVAL.as_secs()
        ));
        return true;
    }
    start(unit, clock)
}

/// Reaps every exited child and handles the units whose process or group is gone; returns how
/// many of them exited with a failure.
fn reap(units: &mut [Unit]) -> u32 {
    let mut failures = 0;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a local.
        let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
        if pid <= 0 {
            return failures;
        }
        let exit = Exit::from_wait_status(status);
        for unit in units.iter_mut() {
            let Some(main) = unit.pid else { continue };
            let gone = match unit.service.daemon {
                Daemon::Forking => !group_alive(main),
                _ => main == pid,
            };
            if gone {
                console(&format!("exit {} {}", unit.tag(), exit.word()));
                failures += u32::from(exit != Exit::Code(0));
                schedule(unit, exit);
            }
        }
    }
}

/// Stops the running units in reverse start order.
fn stop_all(units: &mut [Unit]) {
    for unit in units.iter_mut().rev() {
        let pending = unit.restart_at.take().is_some();
        let Some(pgid) = unit.pid.take() else {
            if pending {
                console(&format!("stop {} by=cancelled-restart", unit.tag()));
            }
            continue;
        };
        // SAFETY: signals to the unit's own process group.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + unit.service.stop_timeout;
        let mut how = "sigterm";
        while group_alive(pgid) {
            reap_quietly();
            if Instant::now() >= deadline {
                // SAFETY: as above.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                how = "sigkill";
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        reap_quietly();
        console(&format!("stop {} by={how}", unit.tag()));
    }
}

fn reap_quietly() {
    // SAFETY: reaping without looking at the status.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// Blocks SIGCHLD and SIGTERM so they are taken by [`wait_signal`] only.
fn signal_set() -> libc::sigset_t {
    // SAFETY: the set is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGCHLD);
        libc::sigaddset(&raw mut set, libc::SIGTERM);
        libc::sigprocmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
        set
    }
}

fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos().min(999_999_999) as i32),
    };
    // SAFETY: the set and timespec are valid for the call.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &raw const ts) };
    (sig > 0).then_some(sig)
}
