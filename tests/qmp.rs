//! The QMP client against a real QEMU (paused, no guest): commands answer, errors are errors,
//! and the events QEMU sends on its own (RESET, STOP, SHUTDOWN) are recorded in order.

mod support;

use serde_json::{Value, json};
use snapsmith::exec::Cmd;
use snapsmith::qemu::qmp::Qmp;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn commands_and_events_against_a_real_qemu() {
    if !support::have_tools(&["qemu-system-x86_64"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qmp.sock");
    let mut qemu = Cmd::new("qemu-system-x86_64")
        .args([
            "-machine",
            "pc",
            "-nodefaults",
            "-display",
            "none",
            "-S",
            "-qmp",
        ])
        .arg(format!("unix:{},server=on,wait=off", socket.display()))
        .spawn(Stdio::null(), Stdio::null())
        .unwrap();
    let mut qmp = Qmp::connect(&socket, Duration::from_secs(20)).unwrap();

    let status = qmp.execute("query-status", Value::Null).unwrap();
    assert_eq!(status["running"], json!(false), "{status}");
    let err = qmp.execute("no-such-command", Value::Null).unwrap_err();
    assert!(format!("{err:#}").contains("CommandNotFound"), "{err:#}");

    qmp.execute("system_reset", Value::Null).unwrap();
    let reset = qmp
        .wait_event("RESET", Duration::from_secs(10))
        .expect("no RESET event");
    assert_eq!(reset.data["guest"], json!(false), "{:?}", reset);
    qmp.execute("quit", Value::Null).unwrap();
    assert!(
        qmp.wait_event("SHUTDOWN", Duration::from_secs(10))
            .is_some()
    );
    let names: Vec<String> = qmp.events().into_iter().map(|e| e.name).collect();
    let (r, s) = (
        names.iter().position(|n| n == "RESET").unwrap(),
        names.iter().position(|n| n == "SHUTDOWN").unwrap(),
    );
    assert!(r < s, "events out of order: {names:?}");
    assert!(qemu.wait().unwrap().success());
}
