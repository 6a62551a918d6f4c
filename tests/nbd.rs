//! The power-cut disk: QEMU's own NBD client (`qemu-io`) writes through snapsmith's NBD
//! server; a write the client flushed survives a cut, a write it did not flush (the client was
//! killed first, as QEMU is at a cut) is lost, and a clean stop keeps cached writes.

mod support;

use snapsmith::exec::Cmd;
use snapsmith::qemu::nbd::NbdServer;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn qemu_io_cmd(socket: &Path, commands: &[&str]) -> Cmd {
    let mut cmd = Cmd::new("qemu-io")
        .args(["-f", "raw", "-t", "writeback"])
        .arg(format!("nbd+unix:///?socket={}", socket.display()));
    for c in commands {
        cmd = cmd.arg("-c").arg(c);
    }
    cmd
}

/// Runs qemu-io commands against the server to completion (qemu-io flushes when it closes).
fn qemu_io(socket: &Path, commands: &[&str]) -> String {
    qemu_io_cmd(socket, commands).run_string().unwrap()
}

/// Writes with qemu-io and kills it (SIGKILL) before it can flush or close: what the harness
/// does to QEMU at a power cut.
fn qemu_io_killed(server: &NbdServer, commands: &[&str]) {
    let writes = server.stats().writes;
    let mut child = qemu_io_cmd(server.socket(), commands)
        .spawn(Stdio::null(), Stdio::null())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.stats().writes == writes {
        assert!(Instant::now() < deadline, "qemu-io never wrote");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn byte_at(file: &Path, offset: u64) -> u8 {
    let mut b = [0u8; 1];
    std::fs::File::open(file)
        .unwrap()
        .read_exact_at(&mut b, offset)
        .unwrap();
    b[0]
}

/// A zeroed disk file of `len` bytes in a scratch directory, served over NBD.
fn served(len: u64) -> (tempfile::TempDir, PathBuf, NbdServer) {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    std::fs::File::create(&disk).unwrap().set_len(len).unwrap();
    let server = NbdServer::start(&disk, &dir.path().join("nbd.sock")).unwrap();
    (dir, disk, server)
}

#[test]
fn unflushed_writes_are_lost_at_a_cut() {
    if !support::have_tools(&["qemu-io"]) {
        return;
    }
    let (_dir, disk, server) = served(8 << 20);

    qemu_io(server.socket(), &["write -P 0xab 0 64k"]);
    qemu_io_killed(&server, &["write -P 0xcd 1M 64k", "sleep 60000"]);
    // The harness cuts only once the server has read all the killed client sent.
    assert!(server.wait_disconnected(Duration::from_secs(10)));
    let stats = server.stats();
    assert!(stats.pending >= 1, "{stats:?}");
    assert_eq!(
        byte_at(&disk, 1 << 20),
        0,
        "unflushed write reached the file"
    );

    let dropped = server.cut();
    assert!(dropped >= 1, "the cut dropped nothing");
    assert_eq!(server.stats().pending, 0);
    let after = qemu_io(server.socket(), &["read -P 0 1M 64k", "read -P 0xab 0 64k"]);
    assert!(!after.contains("Pattern verification failed"), "{after}");
    drop(server);
    assert_eq!(byte_at(&disk, 0), 0xab, "flushed write lost");
    assert_eq!(byte_at(&disk, 1 << 20), 0, "dropped write came back");
}

#[test]
fn a_clean_stop_keeps_cached_writes() {
    if !support::have_tools(&["qemu-io"]) {
        return;
    }
    let (_dir, disk, server) = served(1 << 20);
    qemu_io_killed(&server, &["write -P 0x5a 4096 512", "sleep 60000"]);
    assert_eq!(server.stats().pending, 1);
    drop(server);
    assert_eq!(byte_at(&disk, 4096), 0x5a);
}
