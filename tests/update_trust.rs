//! `snapsmith update-disk`: snaps and their assertions become an update disk whose partition
//! holds each snap with `<stem>.assert` beside it; assertions that fit no snap, a declaration
//! missing for a revision and a file that is not a snap are refused naming the file, and a
//! refused run leaves nothing at the output path.

mod support;

use snapsmith::assertion::{self, PrivateKey};
use snapsmith::snap::{SnapAssertRequest, snap_assertions};
use std::io::Read;
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;

fn kernel(dir: &Path, version: &str) -> PathBuf {
    let yaml = format!("name: pc-kernel\nversion: '{version}'\ntype: kernel\n");
    support::build::pack(
        dir,
        &format!("pc-kernel_{version}"),
        &[("meta/snap.yaml", yaml.as_bytes()), ("vmlinuz", b"kernel")],
    )
}

fn asserted(snap: &Path, revision: u64) -> Vec<assertion::Assertion> {
    let key = PrivateKey::from_seed([7; 32]);
    let request = SnapAssertRequest {
        snap_id: "pc-kernel-id",
        revision,
        publisher: None,
        timestamp: "2026-01-01T00:00:00Z",
    };
    snap_assertions(snap, &request, &key, "root").unwrap()
}

fn root_files(disk: &Path) -> Vec<(String, Vec<u8>)> {
    let file = std::fs::File::open(disk).unwrap();
    let size = file.metadata().unwrap().len() - 2 * MIB;
    let fs = fatfs::FileSystem::new(
        snapsmith::window::Window::new(&file, MIB, size),
        fatfs::FsOptions::new(),
    )
    .unwrap();
    let mut out = Vec::new();
    for entry in fs.root_dir().iter() {
        let entry = entry.unwrap();
        let mut bytes = Vec::new();
        entry.to_file().read_to_end(&mut bytes).unwrap();
        out.push((entry.file_name(), bytes));
    }
    out.sort();
    out
}

#[test]
fn update_disk_pairs_snaps_with_their_assertions() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (kernel(dir.path(), "2"), kernel(dir.path(), "3"));
    let stream = dir.path().join("both.assert");
    let mut all = asserted(&a, 2);
    all.extend(asserted(&b, 3));
    std::fs::write(&stream, assertion::encode_stream(&all)).unwrap();
    let out = dir.path().join("usb.img");
    support::snapsmith()
        .arg("update-disk")
        .arg("--snap")
        .args([&a, &b])
        .arg("--assertions")
        .arg(&stream)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stdout(format!("{}\n", out.display()));
    let files = root_files(&out);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "pc-kernel_2.assert",
            "pc-kernel_2.snap",
            "pc-kernel_3.assert",
            "pc-kernel_3.snap"
        ]
    );
    assert_eq!(files[1].1, std::fs::read(&a).unwrap());
    let beside = assertion::decode_stream(&files[2].1).unwrap();
    assert_eq!(beside, asserted(&b, 3), "each snap gets its own pair");
}

#[test]
fn update_disk_refuses_what_fits_no_snap() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (kernel(dir.path(), "2"), kernel(dir.path(), "3"));
    let out = dir.path().join("usb.img");
    let run = |snap: &Path, stream: Vec<assertion::Assertion>| {
        let path = dir.path().join("given.assert");
        std::fs::write(&path, assertion::encode_stream(&stream)).unwrap();
        let output = support::snapsmith()
            .arg("update-disk")
            .arg("--snap")
            .arg(snap)
            .arg("--assertions")
            .arg(&path)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert!(!out.exists(), "nothing at the output path");
        String::from_utf8(output.stderr).unwrap()
    };
    let err = run(&a, asserted(&b, 3));
    assert!(
        err.contains("given.assert") && err.contains("matches none of the snaps"),
        "{err}"
    );
    let err = run(&a, asserted(&a, 2)[1..].to_vec());
    assert!(
        err.contains("given.assert") && err.contains("no snap-declaration"),
        "{err}"
    );
    let not_a_snap = dir.path().join("notes.txt");
    std::fs::write(&not_a_snap, "x").unwrap();
    let err = run(&not_a_snap, asserted(&a, 2));
    assert!(
        err.contains("notes.txt") && err.contains("must end in .snap"),
        "{err}"
    );
}
