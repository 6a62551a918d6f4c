//! The base's health check (`/snapsmith/health`, optional), run with a time limit: a check that
//! does not answer in [`TIMEOUT`] is killed and counts as hung, which the agent treats apart
//! from a check that failed (see docs/agent.md).

use std::process::Stdio;
use std::time::{Duration, Instant};

/// The base's optional health check.
pub const HEALTH: &str = "/snapsmith/health";
/// How long the health check may run.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How the health check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// It passed, or the base has none.
    Good,
    /// It ran and failed (or could not be started), with the reason.
    Failed(String),
    /// It did not finish in time and was killed.
    Hung,
}

/// Runs the health check with the time limit `limit`; its output goes to the console.
pub fn check(limit: Duration) -> Health {
    if std::fs::symlink_metadata(HEALTH).is_err() {
        return Health::Good;
    }
    let mut child = match crate::exec::Cmd::new(HEALTH).spawn(Stdio::inherit(), Stdio::inherit()) {
        Ok(child) => child,
        Err(err) => return Health::Failed(format!("{err:#}")),
    };
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Health::Good,
            Ok(Some(status)) => return Health::Failed(format!("{HEALTH} exited with {status}")),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Health::Hung;
            }
            Err(err) => return Health::Failed(format!("waiting for {HEALTH}: {err}")),
        }
    }
}
