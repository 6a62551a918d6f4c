//! Runs a [`VmSpec`] in QEMU: the serial console is captured line by line into a log file with
//! timestamps (seconds since QEMU started), markers are awaited with timeouts, kernel panics,
//! snapsmith error markers and QEMU exits end a wait early, and the VM is killed on drop.
//! Every failure names the log file.

use super::qmp::{self, Qmp};
use super::spec::{QEMU, VmSpec};
use crate::runtime::MARKER_ERROR;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Why a wait on a VM ended without what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("timed out after {secs:.1} s waiting for {wanted:?} (serial log: {log})")]
    Timeout {
        wanted: String,
        secs: f64,
        log: PathBuf,
    },
    #[error("kernel panic while waiting for {wanted:?}: {line} (serial log: {log})")]
    Panic {
        wanted: String,
        line: String,
        log: PathBuf,
    },
    #[error("guest reported an error while waiting for {wanted:?}: {line} (serial log: {log})")]
    GuestError {
        wanted: String,
        line: String,
        log: PathBuf,
    },
    #[error("qemu exited ({status}) while waiting for {wanted:?} (serial log: {log})")]
    Exited {
        wanted: String,
        status: String,
        log: PathBuf,
    },
    #[error("KVM failed to run the guest: {line} (serial log: {log})")]
    KvmFailed { line: String, log: PathBuf },
}

/// A marker no console line can contain.
const NO_LINE: &str = "\u{0}";

/// What the capture threads report.
enum Event {
    Serial(Duration, String),
    Stderr(String),
    SerialClosed,
}

/// A running QEMU process; killed when dropped.
pub struct Vm {
    child: Child,
    events: Receiver<Event>,
    log: PathBuf,
    started: Instant,
    lines: Vec<(Duration, String)>,
    status: Option<ExitStatus>,
    /// The QMP session when the spec asked for one, and when it connected (since start).
    qmp: Option<(Qmp, Duration)>,
    /// QMP events already matched by [`Vm::wait_event`].
    events_matched: usize,
}

impl Vm {
    /// Starts QEMU for `spec`, logging the serial console (and QEMU's stderr) to `log`.
    pub fn start(spec: &VmSpec, log: &Path) -> Result<Vm> {
        let cmd = crate::exec::Cmd::new(QEMU).args(spec.argv());
        std::fs::write(log, format!("# {}\n", cmd.display()))
            .with_context(|| format!("creating serial log {}", log.display()))?;
        // Both capture threads append through their own handles; O_APPEND keeps lines whole.
        let open = || std::fs::OpenOptions::new().append(true).open(log);
        let (serial_log, stderr_log) = (open()?, open()?);
        let started = Instant::now();
        let mut child = cmd.spawn(Stdio::piped(), Stdio::piped())?;
        let (tx, events) = channel();
        let stdout = child.stdout.take().context("qemu stdout")?;
        let stderr = child.stderr.take().context("qemu stderr")?;
        let serial_tx = tx.clone();
        std::thread::spawn(move || {
            capture(stdout, serial_log, started, "", |at, line| {
                serial_tx.send(Event::Serial(at, line)).is_ok()
            });
            let _ = serial_tx.send(Event::SerialClosed);
        });
        std::thread::spawn(move || {
            capture(stderr, stderr_log, started, "qemu stderr: ", |_, line| {
                tx.send(Event::Stderr(line)).is_ok()
            });
        });
        let mut vm = Vm {
            child,
            events,
            log: log.to_path_buf(),
            started,
            lines: Vec::new(),
            status: None,
            qmp: None,
            events_matched: 0,
        };
        if let Some(sock) = &spec.qmp {
            // On an error the VM is dropped, which kills QEMU.
            vm.qmp = Some((
                Qmp::connect(sock, Duration::from_secs(30))?,
                started.elapsed(),
            ));
        }
        Ok(vm)
    }

    /// Runs a QMP command (`system_reset`, `system_powerdown`…); an error without a session.
    pub fn qmp(&mut self, command: &str) -> Result<()> {
        let (qmp, _) = self
            .qmp
            .as_mut()
            .context("the VM was started without a QMP socket")?;
        qmp.execute(command, serde_json::Value::Null).map(|_| ())
    }

    /// The QMP events so far, with their time since QEMU started.
    pub fn qmp_events(&self) -> Vec<qmp::Event> {
        let Some((qmp, offset)) = &self.qmp else {
            return Vec::new();
        };
        qmp.events()
            .into_iter()
            .map(|e| qmp::Event {
                at: e.at + *offset,
                ..e
            })
            .collect()
    }

    /// Waits up to `timeout` for a QMP event named `name` not matched before, reading the
    /// console meanwhile (a panic or error line ends the wait as in [`Vm::wait_for`]).
    pub fn wait_event(&mut self, name: &str, timeout: Duration) -> Result<Duration, VmError> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.qmp_events();
            if let Some((i, e)) = events
                .iter()
                .enumerate()
                .skip(self.events_matched)
                .find(|(_, e)| e.name == name)
            {
                self.events_matched = i + 1;
                return Ok(e.at);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(VmError::Timeout {
                    wanted: format!("QMP event {name}"),
                    secs: timeout.as_secs_f64(),
                    log: self.log.clone(),
                });
            }
            match self.wait_for(NO_LINE, left.min(Duration::from_millis(100))) {
                Err(VmError::Timeout { .. }) | Ok(_) => {}
                Err(other) => return Err(other),
            }
        }
    }

    /// The QEMU process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Time since QEMU started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The serial log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Serial lines seen so far, with their time since QEMU started.
    pub fn lines(&self) -> &[(Duration, String)] {
        &self.lines
    }

    /// Waits until a serial line contains `marker`; returns its time since QEMU started.
    /// A kernel panic, a `snapsmith: error` line (unless that is what is awaited), QEMU's exit
    /// or the timeout end the wait with the matching [`VmError`].
    pub fn wait_for(&mut self, marker: &str, timeout: Duration) -> Result<Duration, VmError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Serial(at, line)) => {
                    self.lines.push((at, line.clone()));
                    if line.contains(marker) {
                        return Ok(at);
                    }
                    if line.contains("Kernel panic") {
                        return Err(VmError::Panic {
                            wanted: marker.into(),
                            line,
                            log: self.log.clone(),
                        });
                    }
                    if line.contains(MARKER_ERROR) {
                        return Err(VmError::GuestError {
                            wanted: marker.into(),
                            line,
                            log: self.log.clone(),
                        });
                    }
                }
                Ok(Event::Stderr(line)) => {
                    if line.contains("KVM internal error") {
                        return Err(VmError::KvmFailed {
                            line,
                            log: self.log.clone(),
                        });
                    }
                }
                Ok(Event::SerialClosed) | Err(RecvTimeoutError::Disconnected) => {
                    let status = self.reap(Duration::from_secs(5));
                    return Err(VmError::Exited {
                        wanted: marker.into(),
                        status,
                        log: self.log.clone(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(VmError::Timeout {
                        wanted: marker.into(),
                        secs: timeout.as_secs_f64(),
                        log: self.log.clone(),
                    });
                }
            }
        }
    }

    /// Reads the console for `time`, passing over panics and error markers (as a guest that
    /// reboots on them goes on); ends early when QEMU exits.
    pub fn follow(&mut self, time: Duration) {
        let deadline = Instant::now() + time;
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.wait_for(NO_LINE, left) {
                Err(VmError::Panic { .. } | VmError::GuestError { .. }) | Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    /// Waits for QEMU to exit (for example after a guest reboot with `-no-reboot`), reading
    /// the rest of the serial output; returns the exit status and time since start.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<(ExitStatus, Duration), VmError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // The wait ends only at exit or timeout, while panics and error markers are
            // passed over (they usually precede the exit).
            match self.wait_for(NO_LINE, left) {
                Err(VmError::Exited {
                    status,
                    wanted,
                    log,
                }) => {
                    return match self.status {
                        Some(code) => Ok((code, self.started.elapsed())),
                        None => Err(VmError::Exited {
                            status,
                            wanted,
                            log,
                        }),
                    };
                }
                Err(VmError::Panic { .. } | VmError::GuestError { .. }) | Ok(_) => continue,
                Err(other) => return Err(other),
            }
        }
    }

    /// Collects QEMU's exit status, waiting up to `grace`; describes it for errors.
    fn reap(&mut self, grace: Duration) -> String {
        let deadline = Instant::now() + grace;
        while self.status.is_none() && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => self.status = Some(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        self.status
            .map_or_else(|| "still running".to_string(), |s| s.to_string())
    }
}

/// Reads `from` line by line, logs each line with its time since `started`, and hands it to
/// `send` until that returns false (nobody listens any more) or the stream ends.
fn capture(
    from: impl std::io::Read,
    mut log: std::fs::File,
    started: Instant,
    prefix: &str,
    send: impl Fn(Duration, String) -> bool,
) {
    let mut reader = BufReader::new(from);
    let mut buf = Vec::new();
    while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
        let at = started.elapsed();
        let line = String::from_utf8_lossy(&buf)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        buf.clear();
        let _ = writeln!(log, "[{:8.3}] {prefix}{line}", at.as_secs_f64());
        if !send(at, line) {
            break;
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
