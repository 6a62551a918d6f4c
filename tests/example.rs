//! `snapsmith example -O DIR`: two runs give the same bytes (the second into a directory a
//! previous run and some leftovers occupy); the image of the grade `signed` model reads back
//! with `snapsmith inspect`; the model and snap assertions verify against the root they ship;
//! the keyring is there and labelled TEST-ONLY; and a missing prerequisite is one error that
//! leaves nothing behind.

mod support;

use support::Succeeds;

use predicates::str::contains;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use support::build::example;
use support::snapsmith;

/// The example's tools beside the kernel package (checked by the command itself too).
const TOOLS: &[&str] = &["dpkg-deb", "mke2fs", "debugfs", "grub-mkimage"];

/// Every file under `dir`, relative and sorted (directories too, marked with a trailing `/`).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Compares two files in chunks (the image is hundreds of MiB).
fn same_bytes(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        let mut m = 0;
        while m < n {
            let k = fb.read(&mut bb[m..n]).unwrap();
            if k == 0 {
                return false;
            }
            m += k;
        }
        if n == 0 {
            return fb.read(&mut bb).unwrap() == 0;
        }
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

fn json(args: &[&str], path: &Path) -> Value {
    support::fixtures::cli_json(args, path)
}

#[test]
fn example_is_reproducible_verified_and_labelled() {
    let Some(deb) = support::kernel_deb() else {
        return;
    };
    if !support::have_tools(TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    example(&deb, &a).assert().success();
    // The second run finds a previous run's outputs and leftovers: it replaces them whole.
    std::fs::create_dir_all(b.join("snaps")).unwrap();
    std::fs::write(b.join("snaps/stale.snap"), b"old").unwrap();
    std::fs::write(b.join("pc.img"), b"old").unwrap();
    let stdout = example(&deb, &b).ok_stdout();
    assert!(String::from_utf8(stdout).unwrap().contains("pc.img"));
    let files = tree(&a);
    assert_eq!(files, tree(&b), "the two runs wrote different files");
    for want in [
        "pc.img",
        "manifest.json",
        "snaps/pc-kernel.snap",
        "snaps/core.snap",
        "snaps/hello.snap",
        "snaps/pc.snap",
        "snaps/snapd.snap",
        "assertions/dev-amd64.model",
        "assertions/dev-brand.assert",
        "assertions/dev-root.assert",
        "assertions/pc-kernel.assert",
        "assertions/core.assert",
        "assertions/hello.assert",
        "assertions/pc.assert",
        "assertions/snapd.assert",
        "keyring/README.md",
        "keyring/dev-root.key",
        "keyring/dev-brand.key",
    ] {
        assert!(files.iter().any(|f| f == want), "{want} missing: {files:?}");
    }
    assert!(!files.iter().any(|f| f.starts_with('.')), "{files:?}");
    for f in files.iter().filter(|f| !f.ends_with('/')) {
        assert!(
            same_bytes(&a.join(f), &b.join(f)),
            "{f} differs between runs"
        );
    }
    check_image(&a);
    check_keyring(&a);
}

fn check_image(out: &Path) {
    let report = json(&["inspect", "--json"], &out.join("pc.img"));
    let system = &report["seed"]["systems"][0];
    assert_eq!(system["brand"], "dev");
    assert_eq!(system["model"], "dev-amd64");
    // Grade signed: every snap is asserted (revision 1), so the verified path is the one taken.
    assert_eq!(system["grade"], "signed");
    assert_eq!(
        report["seed"]["snaps"],
        serde_json::json!([
            "core_1.snap",
            "hello_1.snap",
            "neighbour_1.snap",
            "pc-kernel_1.snap",
            "pc_1.snap",
            "snapd_1.snap",
            "tinker_1.snap"
        ])
    );
    assert_eq!(
        system["snaps"],
        serde_json::json!([]),
        "no unasserted snaps"
    );
    // The recovery system is labelled with the example's fixed date.
    assert_eq!(system["label"], "20260101");
    let manifest: Value = support::fixtures::read_json(&out.join("manifest.json"));
    assert_eq!(manifest["model"]["model"], "dev-amd64");
    let hello = snapsmith::snap::digest(&out.join("snaps/hello.snap")).unwrap();
    let listed = support::fixtures::entry(&manifest["snaps"], "name", "hello");
    assert_eq!(listed["sha3-384"], hello.sha3_384.as_str());
    let assertions: Vec<PathBuf> = std::fs::read_dir(out.join("assertions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("dev-root.assert"))
        .collect();
    snapsmith()
        .arg("verify")
        .args(&assertions)
        .arg("--trusted")
        .arg(out.join("assertions/dev-root.assert"))
        .assert()
        .success()
        .stdout(contains("verified model 16/dev/dev-amd64"))
        .stdout(contains("verified snap-revision"));
}

fn check_keyring(out: &Path) {
    let readme = std::fs::read_to_string(out.join("keyring/README.md")).unwrap();
    assert!(readme.starts_with("# TEST-ONLY"), "{readme}");
    let keys = snapsmith()
        .args(["key", "list", "--json", "--keyring"])
        .arg(out.join("keyring"))
        .ok_stdout();
    let keys: Value = serde_json::from_slice(&keys).unwrap();
    let names: Vec<_> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["dev-brand", "dev-root"]);
    // The same keys as the repository's TEST-ONLY keyring.
    for name in ["dev-brand.key", "dev-root.key"] {
        assert_eq!(
            std::fs::read(out.join("keyring").join(name)).unwrap(),
            std::fs::read(support::repo().join("models/test-keys").join(name)).unwrap()
        );
    }
}

#[test]
fn a_missing_prerequisite_is_one_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    example(&dir.path().join("no-such.deb"), &out)
        .assert()
        .code(1)
        .stderr(contains("the example device needs:"))
        .stderr(contains("no-such.deb not found"));
    assert!(!out.exists(), "a refused example created {}", out.display());
}
