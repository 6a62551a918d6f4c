//! Keys made by GnuPG, as `snap create-key` keeps them: `snapsmith key import` reads the secret
//! key of a real `gpg --export-secret-keys` (armored and binary, passphrase-protected or not,
//! RSA and Ed25519), gives it the key id snapd's own GnuPG key manager gives it (snapd
//! normalizes the creation time), and signs with it what snapd's database verifies;
//! `snapsmith key export` prints what snapd's `export-key` prints. Protected keys stay
//! protected in the keyring and need their passphrase to sign.

mod support;

use std::path::{Path, PathBuf};
use support::snapd::{helper, snapd};
use support::snapsmith;

/// A temporary GnuPG home; its agent is stopped when dropped.
struct Gnupg {
    home: tempfile::TempDir,
}

impl Gnupg {
    fn new() -> Gnupg {
        let home = tempfile::tempdir().unwrap();
        Gnupg { home }
    }

    fn gpg(&self, passphrase: &str, args: &[&str]) -> Vec<u8> {
        let loopback = [
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            passphrase,
        ];
        snapsmith::exec::Cmd::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(loopback)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("gpg {args:?}: {e}"))
            .stdout
    }

    /// Makes key `name` (`rsa4096` or `ed25519`) and exports its secret key to `to`.
    fn key(&self, name: &str, algo: &str, passphrase: &str, armor: bool, to: &Path) {
        self.gpg(
            passphrase,
            &["--quick-gen-key", name, algo, "sign", "never"],
        );
        let mut args = vec!["--export-secret-keys"];
        if armor {
            args.push("--armor");
        }
        args.push(name);
        std::fs::write(to, self.gpg(passphrase, &args)).unwrap();
    }
}

impl Drop for Gnupg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// Runs snapsmith with the keyring in `dir/keys` and `PW` set to the test's passphrase.
fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    support::snapd::in_keyring(dir, args, &[("PW", "brand secret")])
}

/// `key import FILE` with `--account-id ACCOUNT` and `more` arguments.
fn import(dir: &Path, file: &Path, account: &str, more: &[&str]) -> String {
    let mut args = vec![
        "key",
        "import",
        file.to_str().unwrap(),
        "--account-id",
        account,
    ];
    args.extend_from_slice(more);
    ok(dir, &args)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    String::from_utf8(out).unwrap()
}

fn prerequisites() -> Option<PathBuf> {
    if !support::have_tools(&["gpg", "gpg-agent", "gpgconf"]) {
        return None;
    }
    helper()
}

#[test]
fn gnupg_rsa_key_gets_snapds_id_and_signs_what_snapd_verifies() {
    let Some(helper) = prerequisites() else {
        return;
    };
    let gnupg = Gnupg::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let export = d.join("brand.asc");
    gnupg.key("brand-key", "rsa4096", "brand secret", true, &export);
    let id = import(d, &export, "dev", &["--passphrase-env", "PW"]);

    // snapd's GnuPG key manager (snap sign, snap export-key) gives the same id and encoding,
    // though GnuPG's key packet carries today's creation time, not snapd's fixed one.
    let snapd_out = snapsmith::exec::Cmd::new(helper.to_str().unwrap())
        .args(["gpg-key", "brand-key"])
        .env("SNAP_GNUPG_HOME", gnupg.home.path())
        .run_string()
        .unwrap_or_else(|e| panic!("snapd's GnuPG key manager: {e}"));
    let (snapd_id, snapd_export) = snapd_out.split_once('\n').unwrap();
    assert_eq!(id.trim(), snapd_id);
    let exported = ok(d, &["key", "export", "brand"]);
    assert_eq!(
        exported, snapd_export,
        "key export differs from snapd's export-key"
    );
    let file = d.join("brand.pub");
    std::fs::write(&file, &exported).unwrap();
    let decoded = snapd(&helper, &[Path::new("public-key"), &file]).unwrap();
    assert_eq!(decoded.trim(), snapd_id);

    // The imported key stays protected: signing needs the passphrase, from a file too.
    let listed = ok(d, &["key", "list", "--json"]);
    assert!(listed.contains("\"protected\": true"), "{listed}");
    let model = support::repo().join("models/dev-amd64.json");
    let refused = run(d, &["sign", "--key", "brand", model.to_str().unwrap()]).unwrap_err();
    assert!(
        refused.contains("\"brand\" is passphrase-protected"),
        "{refused}"
    );
    let pwfile = d.join("pw");
    let sign_with = |passphrase: &str| {
        std::fs::write(&pwfile, passphrase).unwrap();
        let pw = pwfile.to_str().unwrap();
        run(
            d,
            &[
                "sign",
                "--key",
                "brand",
                "--passphrase-file",
                pw,
                model.to_str().unwrap(),
            ],
        )
    };
    let wrong = sign_with("wrong\n").unwrap_err();
    assert!(wrong.contains("wrong passphrase"), "{wrong}");
    let signed = sign_with("brand secret\n").unwrap();

    // A root made by snapsmith certifies the imported brand key; snapd verifies the chain. The
    // protected brand key is not unlocked for it (no passphrase given, no terminal).
    ok(d, &["key", "create", "root", "--account-id", "root"]);
    let files = [
        d.join("root.assert"),
        d.join("brand.assert"),
        d.join("model.assert"),
    ];
    std::fs::write(&files[0], ok(d, &["key", "trust", "root"])).unwrap();
    std::fs::write(
        &files[1],
        ok(d, &["key", "delegate", "brand", "--signer", "root"]),
    )
    .unwrap();
    std::fs::write(&files[2], &signed).unwrap();
    let verdict = snapd(
        &helper,
        &[
            Path::new("verify"),
            Path::new("--trusted"),
            &files[0],
            &files[1],
            &files[2],
        ],
    )
    .unwrap_or_else(|e| panic!("snapd refused the imported key's model: {e}"));
    assert!(verdict.contains("ok model 16/dev/dev-amd64"), "{verdict}");
    assert!(
        verdict.contains(&format!("ok account-key {snapd_id}")),
        "{verdict}"
    );
}

#[test]
fn gnupg_binary_and_unprotected_exports_import_for_both_algorithms() {
    if !support::have_tools(&["gpg", "gpg-agent", "gpgconf"]) {
        return;
    }
    let gnupg = Gnupg::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let export = d.join("ed.gpg");
    gnupg.key("ed-key", "ed25519", "", false, &export);
    let id = import(d, &export, "ed", &["--name", "ed"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let listed = ok(d, &["key", "list", "--json"]);
    assert!(listed.contains("\"protected\": false"), "{listed}");
    // The imported secret signs, the public key verifies: a self-signed root checks out.
    let root = d.join("ed.assert");
    std::fs::write(&root, ok(d, &["key", "trust", "ed"])).unwrap();
    snapsmith()
        .arg("verify")
        .arg(&root)
        .arg("--trusted")
        .arg(&root)
        .assert()
        .success();

    // Binary and armored exports of one key give one id; a protected export needs the
    // passphrase; a public-key export is refused naming the file.
    let protected = d.join("rsa.gpg");
    gnupg.key("rsa-key", "rsa4096", "brand secret", false, &protected);
    let armored = d.join("rsa.asc");
    std::fs::write(
        &armored,
        gnupg.gpg(
            "brand secret",
            &["--export-secret-keys", "--armor", "rsa-key"],
        ),
    )
    .unwrap();
    let a = import(d, &protected, "dev", &["--passphrase-env", "PW"]);
    let b = import(
        d,
        &armored,
        "dev",
        &["--name", "rsa-armored", "--passphrase-env", "PW"],
    );
    assert_eq!(a, b);
    let public = d.join("public.asc");
    std::fs::write(&public, gnupg.gpg("", &["--export", "--armor", "rsa-key"])).unwrap();
    let refused = run(
        d,
        &[
            "key",
            "import",
            public.to_str().unwrap(),
            "--account-id",
            "dev",
        ],
    )
    .unwrap_err();
    assert!(
        refused.contains("public.asc") && refused.contains("not a private key block"),
        "{refused}"
    );
    let mut flipped = std::fs::read(&protected).unwrap();
    let at = flipped.len() / 3;
    flipped[at] ^= 0x10;
    let bad = d.join("bad.gpg");
    std::fs::write(&bad, flipped).unwrap();
    let refused = run(
        d,
        &[
            "key",
            "import",
            bad.to_str().unwrap(),
            "--account-id",
            "dev",
            "--name",
            "bad",
            "--passphrase-env",
            "PW",
        ],
    )
    .unwrap_err();
    assert!(refused.contains("bad.gpg"), "{refused}");
}
