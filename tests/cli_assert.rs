//! The assertion commands end to end: `key create/list/trust/delegate`, `sign`, `verify`,
//! `model show`, keyring location rules, the example device, and bad input (exit 1 with a
//! message that names the problem).

mod support;

use predicates::str::contains;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use support::{repo, snapsmith};

fn models(name: &str) -> String {
    repo().join("models").join(name).display().to_string()
}

fn verify_example(model: &Path) -> assert_cmd::assert::Assert {
    snapsmith()
        .args(["verify"])
        .arg(model)
        .args([
            &models("dev-brand.assert"),
            "--trusted",
            &models("dev-root.assert"),
        ])
        .assert()
}

#[test]
fn example_model_verifies() {
    verify_example(&repo().join("models/dev-amd64.model"))
        .success()
        .stdout(contains("verified model 16/dev/dev-amd64"));
}

#[test]
fn example_model_resigns_byte_identically() {
    let out = snapsmith()
        .args([
            "sign",
            "--keyring",
            &models("test-keys"),
            "--key",
            "dev-brand",
            &models("dev-amd64.json"),
        ])
        .env_remove("SNAPSMITH_KEYRING")
        .assert()
        .success();
    let expected = std::fs::read(repo().join("models/dev-amd64.model")).unwrap();
    assert_eq!(out.get_output().stdout, expected);
}

#[test]
fn model_show_fills_defaults() {
    let out = snapsmith()
        .arg("model")
        .args(["show", "--json"])
        .arg(repo().join("tests/fixtures/models/dev-amd64-dangerous.model"))
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(json["grade"], "dangerous");
    assert_eq!(json["storage-safety"], "prefer-encrypted");
    let hello = support::fixtures::entry(&json["snaps"], "name", "hello");
    assert_eq!(hello["modes"], serde_json::json!(["run"]));
    assert_eq!(hello["presence"], "required");
    let kernel = support::fixtures::entry(&json["snaps"], "type", "kernel");
    assert_eq!(kernel["modes"], serde_json::json!(["run", "ephemeral"]));
    snapsmith()
        .args(["model", "show", &models("dev-amd64.model")])
        .assert()
        .success()
        .stdout(contains("pc-kernel"));
}

/// A fresh keyring with root `r` (account `r`) and brand key `b` (account `dev`).
struct Ring {
    dir: tempfile::TempDir,
}

impl Ring {
    fn new(brand_since: Option<&str>, brand_until: Option<&str>) -> Ring {
        let ring = Ring {
            dir: tempfile::tempdir().unwrap(),
        };
        ring.run(&["key", "create", "r", "--account-id", "r"])
            .success();
        ring.run(&["key", "create", "b", "--account-id", "dev"])
            .success();
        let root = ring
            .run(&["key", "trust", "r"])
            .success()
            .get_output()
            .stdout
            .clone();
        std::fs::write(ring.path("root.assert"), root).unwrap();
        let mut args = vec!["key", "delegate", "b", "--signer", "r"];
        if let Some(s) = brand_since {
            args.extend(["--since", s]);
        }
        if let Some(u) = brand_until {
            args.extend(["--until", u]);
        }
        let brand = ring.run(&args).success().get_output().stdout.clone();
        std::fs::write(ring.path("brand.assert"), brand).unwrap();
        ring
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        snapsmith()
            .args(args)
            .env("SNAPSMITH_KEYRING", self.path("keys"))
            .assert()
    }

    fn sign(&self, key: &str, json: &str) -> Vec<u8> {
        let path = self.path("headers.json");
        std::fs::write(&path, json).unwrap();
        let out = self
            .run(&["sign", "--key", key, path.to_str().unwrap()])
            .success();
        out.get_output().stdout.clone()
    }

    /// Verifies `model` bytes with this ring's brand chain and root.
    fn verify(&self, model: &[u8]) -> assert_cmd::assert::Assert {
        std::fs::write(self.path("m.model"), model).unwrap();
        let p = |n: &str| self.path(n).display().to_string();
        self.run(&[
            "verify",
            &p("m.model"),
            &p("brand.assert"),
            "--trusted",
            &p("root.assert"),
        ])
    }
}

/// The example model's headers as grade dangerous (the malformed cases edit that header).
fn example_json() -> String {
    std::fs::read_to_string(repo().join("tests/fixtures/models/dev-amd64-dangerous.json")).unwrap()
}

#[test]
fn key_commands_and_keyring_rules() {
    let ring = Ring::new(None, None);
    let key_file = ring.path("keys/r.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key file mode");
    let dir_mode = std::fs::metadata(ring.path("keys"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700, "new keyring directory mode");
    let out = ring.run(&["key", "list", "--json"]).success();
    let list: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(list[0]["name"], "b");
    assert_eq!(list[0]["account-id"], "dev");
    assert_eq!(list[1]["key-id"].as_str().unwrap().len(), 64);
    ring.run(&["key", "create", "r", "--account-id", "r"])
        .failure()
        .code(1)
        .stderr(contains("already exists"));
    // --keyring wins over the environment.
    let other = ring.path("other");
    ring.run(&[
        "key",
        "create",
        "x",
        "--account-id",
        "x",
        "--keyring",
        other.to_str().unwrap(),
    ])
    .success();
    assert!(other.join("x.key").exists());
    // Without either, the user's data dir.
    let data = ring.path("data");
    snapsmith()
        .args(["key", "create", "d", "--account-id", "d"])
        .env_remove("SNAPSMITH_KEYRING")
        .env("XDG_DATA_HOME", &data)
        .assert()
        .success();
    assert!(data.join("snapsmith/keys/d.key").exists());
    ring.run(&["key", "trust", "nope"])
        .failure()
        .code(1)
        .stderr(contains("key \"nope\" not found"));
}

#[test]
fn signed_yaml_from_stdin_verifies() {
    let ring = Ring::new(None, None);
    let json: serde_json::Value = serde_json::from_str(&example_json()).unwrap();
    let yaml = serde_yaml::to_string(&json).unwrap();
    let out = snapsmith()
        .args(["sign", "--key", "b"])
        .env("SNAPSMITH_KEYRING", ring.path("keys"))
        .write_stdin(yaml)
        .assert()
        .success();
    let model = out.get_output().stdout.clone();
    ring.verify(&model).success();
}

fn expect_failure(ring: &Ring, model: &[u8], message: &str) {
    ring.verify(model)
        .failure()
        .code(1)
        .stderr(contains(message));
}

#[test]
fn malformed_assertions_fail_with_reasons() {
    let ring = Ring::new(None, None);
    let good = String::from_utf8(ring.sign("b", &example_json())).unwrap();
    ring.verify(good.as_bytes()).success();
    let cases = [
        (
            "    name: hello\n",
            "     name: hello\n",
            "wrong indentation",
        ),
        (
            "base: core\n",
            "base: core\nbase: core\n",
            "repeated header \"base\"",
        ),
        (
            "architecture: amd64\n",
            "",
            "header \"architecture\": required header is missing",
        ),
        (
            "grade: dangerous\n",
            "grade: dangerous\nbody-length: 9\n",
            "body-length",
        ),
        ("\n\nAc", "\n\n!c", "bad base64"),
        (
            "grade: dangerous\n",
            "grade: risky\n",
            "\"risky\" is not secured, signed or dangerous",
        ),
    ];
    for (from, to, message) in cases {
        assert!(good.contains(from), "{from:?}");
        expect_failure(&ring, good.replacen(from, to, 1).as_bytes(), message);
    }
    // One flipped byte anywhere: a sample of positions through the CLI (the library test
    // covers every byte).
    for i in (0..good.len()).step_by(37) {
        let mut bad = good.clone().into_bytes();
        bad[i] ^= 0x01;
        ring.verify(&bad)
            .failure()
            .code(1)
            .stderr(contains("error: "));
    }
}

#[test]
fn chain_failures_fail_with_reasons() {
    let ring = Ring::new(None, None);
    // Unknown key: a key nobody delegated.
    ring.run(&["key", "create", "stray", "--account-id", "dev"])
        .success();
    expect_failure(&ring, &ring.sign("stray", &example_json()), "is unknown");
    // Signature by another key than sign-key-sha3-384 names.
    let good = String::from_utf8(ring.sign("b", &example_json())).unwrap();
    let stray = String::from_utf8(ring.sign("stray", &example_json())).unwrap();
    let forged = format!(
        "{}{}",
        &good[..good.find("\n\n").unwrap()],
        &stray[stray.find("\n\n").unwrap()..]
    );
    expect_failure(&ring, forged.as_bytes(), "signature does not verify");
    // Brand/authority mismatch: sign refuses, and so would verify.
    let mismatched = example_json().replace("\"brand-id\": \"dev\"", "\"brand-id\": \"acme\"");
    let path = ring.path("mismatch.json");
    std::fs::write(&path, mismatched).unwrap();
    ring.run(&["sign", "--key", "b", path.to_str().unwrap()])
        .failure()
        .code(1)
        .stderr(contains("\"authority-id\"").and(contains("must equal brand-id")));
    // No trusted root given.
    std::fs::write(ring.path("m.model"), &good).unwrap();
    ring.run(&[
        "verify",
        ring.path("m.model").to_str().unwrap(),
        ring.path("brand.assert").to_str().unwrap(),
    ])
    .failure()
    .code(1)
    .stderr(contains("--trusted"));
}

use predicates::prelude::PredicateBooleanExt;

#[test]
fn key_outside_validity_window_fails() {
    let ring = Ring::new(Some("2027-01-01T00:00:00Z"), None);
    let model = ring.sign("b", &example_json());
    expect_failure(&ring, &model, "outside the signing key's validity");
    ring.run(&[
        "key",
        "delegate",
        "b",
        "--signer",
        "r",
        "--since",
        "yesterday",
    ])
    .failure()
    .code(1)
    .stderr(contains("--since"));
}

#[test]
fn rsa_models_fail_for_their_missing_chain() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    let model = corpus.join("models/ubuntu-core-22-amd64.model");
    snapsmith()
        .arg("verify")
        .arg(&model)
        .assert()
        .failure()
        .code(1)
        .stderr(contains("is unknown").and(contains("--trusted")));
    snapsmith()
        .args(["model", "show"])
        .arg(&model)
        .assert()
        .success()
        .stdout(contains("ubuntu-core-22-amd64"));
}

fn base64_block_after(text: &str, marker: &str) -> Vec<u8> {
    use base64::Engine;
    let start = text.find(marker).unwrap() + marker.len();
    let block: String = text[start..]
        .split("\n\n")
        .next()
        .unwrap()
        .replace('\n', "");
    base64::engine::general_purpose::STANDARD
        .decode(block.trim())
        .unwrap()
}

#[test]
fn gpg_decodes_key_and_signature_packets() {
    if !support::have_tools(&["gpg"]) {
        return;
    }
    let brand = std::fs::read_to_string(repo().join("models/dev-brand.assert")).unwrap();
    let key_section = &brand[brand.find("type: account-key").unwrap()..];
    let key_blob = base64_block_after(key_section, "\n\n");
    let model = std::fs::read_to_string(repo().join("models/dev-amd64.model")).unwrap();
    let sig_blob = base64_block_after(&model, "\n\n");
    assert_eq!((key_blob[0], sig_blob[0]), (1, 1), "v1 envelope");
    let home = tempfile::tempdir().unwrap();
    for (blob, wants) in [
        (
            &key_blob,
            vec![
                ":public key packet:",
                "version 4, algo 1, created 1451606400",
                "pkey[0]: [4096 bits]",
            ],
        ),
        (
            &sig_blob,
            vec![
                ":signature packet: algo 1",
                "sigclass 0x00",
                "digest algo 10",
                "sig created 2026-01-01",
                "hashed subpkt 2 len 4",
            ],
        ),
    ] {
        let packets = home.path().join("packets.bin");
        std::fs::write(&packets, &blob[1..]).unwrap();
        let text = snapsmith::exec::Cmd::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .arg("--list-packets")
            .arg(&packets)
            .run_string()
            .unwrap();
        for want in wants {
            assert!(
                text.contains(want),
                "gpg --list-packets lacks {want:?}:\n{text}"
            );
        }
    }
}
