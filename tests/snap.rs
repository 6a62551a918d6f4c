//! Snap packing and reading, checked against squashfs-tools and openssl.

mod support;

use support::Succeeds;

use snapsmith::exec::Cmd;
use snapsmith::snap::{self, Compression, EntryKind, PackOptions, SnapFile, SnapType};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::{have_tools, snapsmith};

/// A small app snap tree: a daemon, a symlink, a nested dir and a file above the block size.
fn make_tree(dir: &Path, reversed: bool) {
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "meta/snap.yaml",
            b"name: hello\nversion: '1.0'\nbase: core22\narchitectures: [amd64]\n\
apps:\n  srv:\n    command: bin/srv\n    daemon: simple\nplugs:\n  net: network\n"
                .to_vec(),
        ),
        ("bin/srv", b"#!/bin/sh\necho hello\n".to_vec()),
        ("share/doc/a.txt", b"alpha\n".to_vec()),
        (
            "share/big.bin",
            (0..300_000u32).map(|i| (i % 251) as u8).collect(),
        ),
    ];
    let order: Vec<_> = if reversed {
        files.iter().rev().collect()
    } else {
        files.iter().collect()
    };
    for (path, bytes) in order {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
    }
    fs::set_permissions(dir.join("bin/srv"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("srv", dir.join("bin/hello")).unwrap();
}

#[test]
fn same_tree_gives_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    make_tree(&a, false);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    make_tree(&b, true);
    let opts = PackOptions {
        compression: Compression::Xz,
        mtime: 1_700_000_000,
    };
    snap::pack_dir(&a, &tmp.path().join("a.snap"), &opts).unwrap();
    snap::pack_dir(&b, &tmp.path().join("b.snap"), &opts).unwrap();
    let (x, y) = (
        fs::read(tmp.path().join("a.snap")).unwrap(),
        fs::read(tmp.path().join("b.snap")).unwrap(),
    );
    assert_eq!(x, y, "same tree packed twice differs");
    let other = PackOptions {
        mtime: 1_700_000_001,
        ..opts
    };
    snap::pack_dir(&a, &tmp.path().join("c.snap"), &other).unwrap();
    assert_ne!(x, fs::read(tmp.path().join("c.snap")).unwrap());
}

#[test]
fn unsquashfs_reads_packed_snaps() {
    if !have_tools(&["unsquashfs"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree, false);
    for (compression, name) in [(Compression::Xz, "xz"), (Compression::Gzip, "gzip")] {
        let out = tmp.path().join(format!("{name}.snap"));
        let opts = PackOptions {
            compression,
            mtime: 0,
        };
        snap::pack_dir(&tree, &out, &opts).unwrap();
        let stats = Cmd::new("unsquashfs")
            .arg("-s")
            .arg(&out)
            .run_string()
            .unwrap();
        assert!(stats.contains(&format!("Compression {name}")), "{stats}");
        let listing = Cmd::new("unsquashfs")
            .arg("-lln")
            .arg(&out)
            .run_string()
            .unwrap();
        for want in [
            "-rwxr-xr-x 0/0",
            "squashfs-root/bin/srv",
            "squashfs-root/bin/hello -> srv",
            "squashfs-root/share/big.bin",
            "squashfs-root/meta/snap.yaml",
        ] {
            assert!(listing.contains(want), "{want} missing from:\n{listing}");
        }
        assert!(!listing.lines().any(|l| !l.contains(" 0/0 ")), "{listing}");
        let dest = tmp.path().join(format!("unpacked-{name}"));
        Cmd::new("unsquashfs")
            .arg("-d")
            .arg(&dest)
            .arg(&out)
            .run()
            .unwrap();
        assert_same_files(&dest, &tree);
    }
}

/// The files of the test tree read back the same from `dest`.
fn assert_same_files(dest: &Path, tree: &Path) {
    for f in [
        "meta/snap.yaml",
        "bin/srv",
        "share/doc/a.txt",
        "share/big.bin",
    ] {
        assert_eq!(
            fs::read(dest.join(f)).unwrap(),
            fs::read(tree.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn reads_metadata_files_and_extracts() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree, false);
    let out = tmp.path().join("hello.snap");
    snap::pack_dir(&tree, &out, &PackOptions::default()).unwrap();

    let snap = SnapFile::open(&out).unwrap();
    let info = snap.info();
    assert_eq!(
        (info.name.as_str(), info.version.as_str(), info.snap_type),
        ("hello", "1.0", SnapType::App)
    );
    assert_eq!(info.daemons(), vec!["srv"]);
    assert_eq!(snap.compression(), "xz");
    assert_eq!(
        snap.read_file("share/big.bin").unwrap(),
        fs::read(tree.join("share/big.bin")).unwrap()
    );
    let err = format!("{:#}", snap.read_file("meta/gadget.yaml").unwrap_err());
    assert!(err.contains("meta/gadget.yaml not found"), "{err}");
    assert!(snap.kernel_yaml().unwrap().is_none());
    let entries = snap.entries();
    assert!(entries.iter().any(|e| e.path == "bin/hello"
        && e.kind
            == EntryKind::Symlink {
                target: "srv".into()
            }));
    assert!(entries.iter().all(|e| e.uid == 0 && e.gid == 0));

    let dest = tmp.path().join("out");
    snap.extract_to(&dest).unwrap();
    assert_same_files(&dest, &tree);
    let mode = fs::metadata(dest.join("bin/srv"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        fs::read_link(dest.join("bin/hello")).unwrap(),
        Path::new("srv")
    );
}

#[test]
fn digest_matches_openssl() {
    if !have_tools(&["openssl"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree, false);
    let out = tmp.path().join("hello.snap");
    snap::pack_dir(&tree, &out, &PackOptions::default()).unwrap();
    let d = snap::digest(&out).unwrap();
    assert_eq!(d.size, fs::metadata(&out).unwrap().len());
    let hex = Cmd::new("openssl")
        .args(["dgst", "-sha3-384", "-r"])
        .arg(&out)
        .run_string()
        .unwrap();
    let hex = hex.split_whitespace().next().unwrap();
    let raw: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    use base64::Engine;
    let want = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    assert_eq!(d.sha3_384, want);
}

#[test]
fn cli_pack_and_info() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree, false);
    let out = snapsmith()
        .current_dir(tmp.path())
        .args(["snap", "pack", "tree"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .ok_stdout();
    assert_eq!(
        String::from_utf8(out).unwrap().trim(),
        "hello_1.0_amd64.snap"
    );
    let json = snapsmith()
        .current_dir(tmp.path())
        .args(["snap", "info", "hello_1.0_amd64.snap", "--json"])
        .ok_stdout();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["name"], "hello");
    assert_eq!(v["type"], "app");
    assert_eq!(v["base"], "core22");
    assert_eq!(v["architectures"][0], "amd64");
    assert_eq!(v["apps"]["srv"]["daemon"], "simple");
    assert_eq!(v["plugs"]["net"]["interface"], "network");
    let digest = snap::digest(&tmp.path().join("hello_1.0_amd64.snap")).unwrap();
    assert_eq!(v["sha3-384"], digest.sha3_384.as_str());
    assert_eq!(v["size"], digest.size);
    snapsmith()
        .current_dir(tmp.path())
        .args(["snap", "info", "hello_1.0_amd64.snap"])
        .assert()
        .success()
        .stdout(predicates::str::contains("srv: bin/srv (daemon: simple)"));
}

#[test]
fn cli_pack_refuses_bad_snap_yaml_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    make_tree(&tree, false);
    fs::write(tree.join("meta/snap.yaml"), "name: Hello\nversion: '1'\n").unwrap();
    snapsmith()
        .current_dir(tmp.path())
        .args(["snap", "pack", "tree", "-o", "out.snap"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("meta/snap.yaml"))
        .stderr(predicates::str::contains("field `name`"));
    let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the tree remains: {left:?}");

    fs::remove_file(tree.join("meta/snap.yaml")).unwrap();
    snapsmith()
        .current_dir(tmp.path())
        .args(["snap", "pack", "tree", "-o", "out.snap"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("meta/snap.yaml"));
    assert!(!tmp.path().join("out.snap").exists());
}

#[test]
fn info_refuses_non_snaps() {
    let tmp = tempfile::tempdir().unwrap();
    let bogus = tmp.path().join("bogus.snap");
    fs::write(&bogus, b"not a squashfs").unwrap();
    snapsmith()
        .args(["snap", "info"])
        .arg(&bogus)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "bogus.snap is not a squashfs snap: it does not start with the squashfs magic",
        ));
}

#[test]
fn cli_pack_checks_a_gadget_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("pc");
    fs::create_dir_all(tree.join("meta")).unwrap();
    fs::write(
        tree.join("meta/snap.yaml"),
        "name: pc\nversion: '1'\ntype: gadget\n",
    )
    .unwrap();
    snapsmith()
        .current_dir(tmp.path())
        .args(["snap", "pack", "pc", "-o", "pc.snap"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("gadget.yaml"));
    assert!(!tmp.path().join("pc.snap").exists());
    fs::write(
        tree.join("meta/gadget.yaml"),
        fs::read(support::repo().join("gadgets/pc/meta/gadget.yaml")).unwrap(),
    )
    .unwrap();
    snapsmith()
        .current_dir(tmp.path())
        .args(["snap", "pack", "pc", "-o", "pc.snap"])
        .assert()
        .success();
    assert!(
        SnapFile::open(tmp.path().join("pc.snap"))
            .unwrap()
            .has_file("meta/gadget.yaml")
    );
}
