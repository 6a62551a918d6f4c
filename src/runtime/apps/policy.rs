//! The supervisor's decisions, pure: how a daemon's exit is classified (as systemd does for the
//! units snapd writes), whether its `restart-condition` restarts it, and the back-off between
//! restarts (systemd's rate limit: `StartLimitBurst=5` in `StartLimitIntervalSec=10s`).

use crate::snap::RestartCondition;
use std::time::Duration;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// Decodes a `waitpid` status.
    pub fn from_wait_status(status: i32) -> Exit {
        if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(libc::WEXITSTATUS(status))
        }
    }

    /// systemd's clean exit: code 0 or one of SIGHUP, SIGINT, SIGTERM, SIGPIPE.
    pub fn clean(self) -> bool {
        match self {
            Exit::Code(c) => c == 0,
            Exit::Signal(s) => {
                [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGPIPE].contains(&s)
            }
        }
    }

    /// `status=<code>` or `signal=<n>`, for the markers.
    pub fn word(self) -> String {
        match self {
            Exit::Code(c) => format!("status={c}"),
            Exit::Signal(s) => format!("signal={s}"),
        }
    }
}

/// True when a daemon that ended with `exit` is restarted under `cond` (systemd's `Restart=`
/// table; snapsmith has no watchdog, so `on-watchdog` never restarts).
pub fn restarts(cond: RestartCondition, exit: Exit) -> bool {
    let unclean_signal = matches!(exit, Exit::Signal(_)) && !exit.clean();
    match cond {
        RestartCondition::Never | RestartCondition::OnWatchdog => false,
        RestartCondition::Always => true,
        RestartCondition::OnSuccess => exit.clean(),
        RestartCondition::OnFailure => !exit.clean(),
        RestartCondition::OnAbnormal | RestartCondition::OnAbort => unclean_signal,
    }
}

/// systemd's `RestartSec` default.
pub const DEFAULT_RESTART_DELAY: Duration = Duration::from_millis(100);
/// At most this many starts within [`START_LIMIT_INTERVAL`]; then the daemon is given up.
pub const START_LIMIT_BURST: usize = 5;
pub const START_LIMIT_INTERVAL: Duration = Duration::from_secs(10);

/// The delay before restart number `attempt` (1 for the first restart): the app's
/// `restart-delay` (or 100 ms), doubled for each restart in a row, at most 30 s.
pub fn backoff(restart_delay: Option<Duration>, attempt: u32) -> Duration {
    let base = restart_delay.unwrap_or(DEFAULT_RESTART_DELAY);
    let factor = 1u32 << attempt.saturating_sub(1).min(8);
    base.saturating_mul(factor)
        .min(Duration::from_secs(30).max(base))
}

/// True when one more start now would pass the start limit, given the times (seconds since
/// any fixed point) of earlier starts.
pub fn start_limit_hit(starts: &[Duration], now: Duration) -> bool {
    let recent = starts
        .iter()
        .filter(|t| now.saturating_sub(**t) < START_LIMIT_INTERVAL)
        .count();
    recent >= START_LIMIT_BURST
}

#[cfg(test)]
mod tests {
    use super::*;
    use RestartCondition as R;

    #[test]
    fn restart_table_follows_systemd() {
        let ok = Exit::Code(0);
        let fail = Exit::Code(1);
        let term = Exit::Signal(libc::SIGTERM);
        let segv = Exit::Signal(libc::SIGSEGV);
        let table = [
            (R::Never, [false, false, false, false]),
            (R::Always, [true, true, true, true]),
            (R::OnSuccess, [true, false, true, false]),
            (R::OnFailure, [false, true, false, true]),
            (R::OnAbnormal, [false, false, false, true]),
            (R::OnAbort, [false, false, false, true]),
            (R::OnWatchdog, [false, false, false, false]),
        ];
        for (cond, want) in table {
            let got = [ok, fail, term, segv].map(|e| restarts(cond, e));
            assert_eq!(got, want, "{cond:?}");
        }
    }

    #[test]
    fn wait_status_decodes() {
        assert_eq!(Exit::from_wait_status(3 << 8), Exit::Code(3));
        assert_eq!(
            Exit::from_wait_status(libc::SIGKILL),
            Exit::Signal(libc::SIGKILL)
        );
        assert_eq!(Exit::Code(3).word(), "status=3");
        assert_eq!(Exit::Signal(9).word(), "signal=9");
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(None, 1), Duration::from_millis(100));
        assert_eq!(backoff(None, 2), Duration::from_millis(200));
        assert_eq!(
            backoff(Some(Duration::from_secs(1)), 3),
            Duration::from_secs(4)
        );
        assert_eq!(
            backoff(Some(Duration::from_secs(10)), 9),
            Duration::from_secs(30)
        );
        assert_eq!(
            backoff(Some(Duration::from_secs(60)), 2),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn start_limit_counts_recent_starts() {
        let s = |v: &[u64]| {
            v.iter()
                .map(|x| Duration::from_secs(*x))
                .collect::<Vec<_>>()
        };
        assert!(!start_limit_hit(&s(&[1, 2, 3, 4]), Duration::from_secs(5)));
        assert!(start_limit_hit(
            &s(&[1, 2, 3, 4, 5]),
            Duration::from_secs(6)
        ));
        assert!(!start_limit_hit(
            &s(&[1, 2, 3, 4, 5]),
            Duration::from_secs(12)
        ));
    }
}
