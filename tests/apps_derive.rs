//! The harness's derived app revision (`qemu::derive::apps`): the example's hello repacked so
//! that its daemon fails its first start and runs as before from the second on. The derived
//! snap is extracted and its daemon command run twice with busybox, as the device runs it.

mod support;

use snapsmith::example::{snaps, sources};
use snapsmith::exec::Cmd;
use snapsmith::qemu::derive::apps::{FAILED_ONCE, RESTART_DELAY, WRAPPER, crash_first_start};
use snapsmith::snap::{PackOptions, SnapFile};
use std::path::Path;

#[test]
fn derived_revision_fails_its_first_start_only() {
    if !support::have_tools(&["busybox"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hello = dir.path().join("hello_1.snap");
    snaps::source_snap(&sources::HELLO, dir.path(), &hello, &PackOptions::default()).unwrap();
    let derived = dir.path().join("hello_x1.snap");
    crash_first_start(&hello, "hello", &derived).unwrap();
    let snap = SnapFile::open(&derived).unwrap();
    let command = snap.info().apps["hello"].command.clone().unwrap();
    assert_eq!(command, format!("{WRAPPER} bin/hello"));
    let yaml = snap.read_file("meta/snap.yaml").unwrap();
    let apps = snapsmith::snap::apps::parse(&yaml, &[]).unwrap();
    let delay = apps.services[0].restart_delay.unwrap();
    assert_eq!(
        format!("{}s", delay.as_secs()),
        RESTART_DELAY,
        "the restart waits"
    );
    assert!(
        snap.info().version.ends_with("+crash"),
        "{}",
        snap.info().version
    );
    let root = dir.path().join("root");
    snap.extract_to(&root).unwrap();
    let data = dir.path().join("data");
    let common = dir.path().join("common");
    for d in [&data, &common] {
        std::fs::create_dir(d).unwrap();
    }
    // The daemon execs a sleep: run it with a short timeout instead.
    let run = |root: &Path| {
        Cmd::new("timeout")
            .args(["2", "/bin/busybox", "sh"])
            .arg(root.join(WRAPPER))
            .arg("bin/hello")
            .env("SNAP", root)
            .env("SNAP_NAME", "hello")
            .env("SNAP_REVISION", "x1")
            .env("SNAP_DATA", &data)
            .env("SNAP_COMMON", &common)
            .output_any_status()
            .unwrap()
    };
    let first = run(&root);
    assert_eq!(first.status.code(), Some(1), "{first:?}");
    assert!(String::from_utf8_lossy(&first.stdout).contains("failing the first start of hello"));
    assert!(data.join(FAILED_ONCE).exists());
    assert!(
        !data.join("starts").exists(),
        "the failed start ran the daemon"
    );
    let second = run(&root);
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(out.contains("hello: start rev=x1 data=1 common=1"), "{out}");
    // timeout's own status: the daemon was still up.
    assert_eq!(second.status.code(), Some(124), "{second:?}");
}
