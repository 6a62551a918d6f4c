//! snapd's own code (snapd 2.57's Go packages, from Debian) holds snapsmith's assertions to its
//! rules, and snapsmith verifies what snapd signed: snapd's database accepts the account,
//! account-key, model, snap-declaration and snap-revision snapsmith signs with RSA keys, and
//! refuses the model with a flipped byte;
//! snapsmith verifies a chain snapd's code signs with fresh keys, and Canonical's generic chain
//! (root → generic models key → generic-classic model) from snapd's sysdb.
//!
//! The helper `tests/snapd/snapd-check` is built by `tests/support/snapd.rs`.

mod support;

use std::path::{Path, PathBuf};
use support::snapd::{helper, snapd};
use support::snapsmith;

/// A keyring with an RSA root `r` and brand `b` (account `dev`), and the assertions that make
/// `r` trusted, certify `b`, and a model `b` signs.
fn snapsmith_chain(dir: &Path) -> [PathBuf; 3] {
    let run = |args: &[&str]| -> Vec<u8> {
        support::snapd::in_keyring(dir, args, &[]).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    };
    run(&["key", "create", "r", "--account-id", "r"]);
    run(&["key", "create", "b", "--account-id", "dev"]);
    let files = [
        dir.join("root.assert"),
        dir.join("brand.assert"),
        dir.join("model.assert"),
    ];
    std::fs::write(&files[0], run(&["key", "trust", "r"])).unwrap();
    std::fs::write(&files[1], run(&["key", "delegate", "b", "--signer", "r"])).unwrap();
    let headers = support::repo().join("models/dev-amd64.json");
    std::fs::write(
        &files[2],
        run(&["sign", "--key", "b", headers.to_str().unwrap()]),
    )
    .unwrap();
    files
}

/// `snapsmith verify MODEL BRAND --trusted ROOT`.
fn snapsmith_verify(model: &Path, brand: &Path, root: &Path) -> assert_cmd::assert::Assert {
    snapsmith()
        .arg("verify")
        .args([model, brand])
        .arg("--trusted")
        .arg(root)
        .assert()
}

#[test]
fn snapd_accepts_what_snapsmith_signs_with_rsa() {
    let Some(helper) = helper() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [root, brand, model] = snapsmith_chain(dir.path());
    let trusted = Path::new("--trusted");
    let out = snapd(
        &helper,
        &[Path::new("verify"), trusted, &root, &brand, &model],
    )
    .unwrap_or_else(|e| panic!("snapd refused snapsmith's chain: {e}"));
    for kind in [
        "ok account dev",
        "ok account-key ",
        "ok model 16/dev/dev-amd64",
    ] {
        assert!(out.contains(kind), "{out}");
    }

    // The snap-declaration and snap-revision `snapsmith snap assert` makes, signed by the root.
    let snap = support::build::pack(
        dir.path(),
        "hello",
        &[("meta/snap.yaml", b"name: hello\nversion: '1'\n")],
    );
    let store = dir.path().join("hello.assert");
    let args = [
        "snap",
        "assert",
        "--key",
        "r",
        "--snap-id",
        &"h".repeat(32),
        "--revision",
        "3",
    ];
    let mut args: Vec<&str> = args.to_vec();
    args.push(snap.to_str().unwrap());
    let signed = support::snapd::in_keyring(dir.path(), &args, &[]).unwrap();
    std::fs::write(&store, signed).unwrap();
    let out = snapd(&helper, &[Path::new("verify"), trusted, &root, &store])
        .unwrap_or_else(|e| panic!("snapd refused snapsmith's snap assertions: {e}"));
    for kind in ["ok snap-declaration 16/hhhh", "ok snap-revision "] {
        assert!(out.contains(kind), "{out}");
    }

    // A flipped byte anywhere in the model (headers, body, signature) is refused by snapd too.
    let bytes = std::fs::read(&model).unwrap();
    let bad = dir.path().join("bad.assert");
    for at in [10, bytes.len() / 2, bytes.len() - 20] {
        let mut copy = bytes.clone();
        copy[at] ^= 0x01;
        std::fs::write(&bad, &copy).unwrap();
        let verdict = snapd(
            &helper,
            &[Path::new("verify"), trusted, &root, &brand, &bad],
        );
        assert!(
            verdict.is_err(),
            "snapd accepted the model with byte {at} flipped"
        );
        snapsmith_verify(&bad, &brand, &root).failure();
    }
}

#[test]
fn snapsmith_verifies_what_snapd_signs() {
    let Some(helper) = helper() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    snapd(&helper, &[Path::new("sign-chain"), dir.path()]).unwrap();
    let (root, brand, model) = (
        dir.path().join("root.assert"),
        dir.path().join("brand.assert"),
        dir.path().join("model.assert"),
    );
    snapsmith_verify(&model, &brand, &root).success();
    let mut bytes = std::fs::read(&model).unwrap();
    let at = bytes.len() - 30;
    bytes[at] ^= 0x01;
    std::fs::write(&model, &bytes).unwrap();
    snapsmith_verify(&model, &brand, &root).failure();
}

#[test]
fn snapsmith_verifies_canonicals_generic_chain() {
    let Some(helper) = helper() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let all = snapd(&helper, &[Path::new("sysdb-generic")]).unwrap();
    // Canonical's account and root account-key are the trusted roots; the generic account,
    // its models key and the generic-classic model are what gets verified.
    let parts: Vec<&str> = all.split("\n\ntype: ").collect();
    let assertions: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i == 0 {
                p.to_string()
            } else {
                format!("type: {p}")
            }
        })
        .collect();
    let (trusted, rest): (Vec<&String>, Vec<&String>) = assertions.iter().partition(|a| {
        a.contains("authority-id: canonical\n") && a.contains("account-id: canonical\n")
    });
    assert_eq!(trusted.len(), 2, "{all}");
    let write = |name: &str, items: &[&String]| {
        let path = dir.path().join(name);
        let text: Vec<String> = items
            .iter()
            .map(|s| s.trim_end().to_string() + "\n")
            .collect();
        std::fs::write(&path, text.join("\n")).unwrap();
        path
    };
    let roots = write("canonical.assert", &trusted);
    let chain = write("generic.assert", &rest);
    let out = snapsmith()
        .arg("verify")
        .arg(&chain)
        .arg("--trusted")
        .arg(&roots)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("generic-classic"), "{text}");
}
