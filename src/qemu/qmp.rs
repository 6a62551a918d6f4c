//! A QMP client (QEMU's JSON machine protocol over a Unix socket): commands such as
//! `system_reset`, `stop` and `migrate`, and the events QEMU reports on its own (`WATCHDOG`,
//! `RESET`, `SHUTDOWN`, `STOP`…), each stamped with when it arrived, so a report can show that a
//! watchdog fired rather than a guest that rebooted itself.
//!
//! QEMU is started with `-qmp unix:PATH,server=on,wait=off`; [`Qmp::connect`] waits for the
//! socket, reads the greeting and negotiates capabilities. A reader thread sorts what arrives
//! into command replies and events.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An event QEMU sent, with the time since the client connected.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub data: Value,
    pub at: Duration,
}

/// A connected QMP session.
#[derive(Debug)]
pub struct Qmp {
    stream: UnixStream,
    replies: Receiver<Value>,
    events: Arc<Mutex<Vec<Event>>>,
}

/// How long a command may take to answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

impl Qmp {
    /// Connects to the QMP socket at `path`, waiting up to `timeout` for QEMU to create it.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(e)
                        .with_context(|| format!("connecting to QMP at {}", path.display()));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let (tx, replies) = channel();
        let events = Arc::new(Mutex::new(Vec::new()));
        let reader = BufReader::new(stream.try_clone()?);
        let sink = events.clone();
        let start = Instant::now();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(name) = value.get("event").and_then(Value::as_str) {
                    let event = Event {
                        name: name.to_string(),
                        data: value.get("data").cloned().unwrap_or(Value::Null),
                        at: start.elapsed(),
                    };
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(event);
                } else if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut qmp = Qmp {
            stream,
            replies,
            events,
        };
        let greeting = qmp.reply().context("waiting for the QMP greeting")?;
        if greeting.get("QMP").is_none() {
            bail!("not a QMP greeting: {greeting}");
        }
        qmp.execute("qmp_capabilities", Value::Null)?;
        Ok(qmp)
    }

    fn reply(&mut self) -> Result<Value> {
        match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(v) => Ok(v),
            Err(RecvTimeoutError::Timeout) => bail!("QMP gave no answer in {REPLY_TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => bail!("QMP connection closed"),
        }
    }

    /// Runs a command and returns its `return` value; a QMP error is an error.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let mut request = json!({ "execute": command });
        if !arguments.is_null() {
            request["arguments"] = arguments;
        }
        let mut line = serde_json::to_vec(&request)?;
        line.push(b'\n');
        self.stream
            .write_all(&line)
            .with_context(|| format!("sending QMP {command}"))?;
        let reply = self.reply().with_context(|| format!("QMP {command}"))?;
        if let Some(err) = reply.get("error") {
            bail!("QMP {command} failed: {err}");
        }
        Ok(reply.get("return").cloned().unwrap_or(Value::Null))
    }

    /// Every event received so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits up to `timeout` for an event named `name` (one already received counts).
    pub fn wait_event(&self, name: &str, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| e.name == name) {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
