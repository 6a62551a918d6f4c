//! snapd's own seed loader (snapd's `seed` package: `seed.Open`, `LoadAssertions`, `LoadMeta`)
//! accepts the seeds snapsmith builds, for grades dangerous and signed, and finds the same
//! essential and run-mode snaps as snapsmith's build manifest lists; and it loads the example
//! device's seed (`snapsmith example`, RSA test keys). The model lists a
//! `snapd`-type snap, as every real UC20 model does (snapd's loader requires one). The seed is
//! read back rootless from the image's ubuntu-seed with mtools.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::build::{EPOCH, Kit, pack};
use support::snapd::{helper, in_keyring};

/// Test ids for the model's snaps (32 characters, as snap ids are).
const IDS: [(&str, &str); 5] = [
    ("pc", "snapsmithexamplepc00000000000000"),
    ("pc-kernel", "snapsmithexamplepckernel00000000"),
    ("core", "snapsmithexamplecore000000000000"),
    ("hello", "snapsmithexamplehello00000000000"),
    ("snapd", "snapsmithexamplesnapd00000000000"),
];

fn ok(dir: &Path, args: &[&str]) -> Vec<u8> {
    in_keyring(dir, args, &[]).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// A keyring with the TEST-ONLY RSA fixture keys: `root` (account `root`, the store and root
/// of trust) and `brand` (account `dev`); writes root.assert and brand.assert.
fn chain(dir: &Path) -> (PathBuf, PathBuf) {
    let ring = snapsmith::assertion::Keyring::open(&dir.join("keys"));
    let fixture = support::fixtures::fixture_key;
    ring.import("root", "root", &fixture("rsa-root")).unwrap();
    ring.import("brand", "dev", &fixture("rsa-brand")).unwrap();
    let (root, brand) = (dir.join("root.assert"), dir.join("brand.assert"));
    std::fs::write(&root, ok(dir, &["key", "trust", "root"])).unwrap();
    std::fs::write(
        &brand,
        ok(dir, &["key", "delegate", "brand", "--signer", "root"]),
    )
    .unwrap();
    (root, brand)
}

/// The example model (it lists a snapd snap) in `grade`, signed by `brand`.
fn model(dir: &Path, grade: &str) -> PathBuf {
    let text = std::fs::read(support::repo().join("models/dev-amd64.json")).unwrap();
    let mut headers: Value = serde_json::from_slice(&text).unwrap();
    headers["grade"] = grade.into();
    let json = dir.join(format!("{grade}.json"));
    std::fs::write(&json, headers.to_string()).unwrap();
    let path = dir.join(format!("{grade}.model"));
    let signed = ok(dir, &["sign", "--key", "brand", json.to_str().unwrap()]);
    std::fs::write(&path, signed).unwrap();
    path
}

/// Builds `model` from the kit and a snapd snap (asserted by `root` for grade signed); returns
/// the output directory.
fn build(dir: &Path, kit: &Kit, model: &Path, signed: bool) -> PathBuf {
    let snapd = pack(
        kit.dir.path(),
        "snapd",
        &[(
            "meta/snap.yaml",
            b"name: snapd\nversion: '1'\ntype: snapd\n",
        )],
    );
    let mut snaps = kit.snaps();
    snaps.push(&snapd);
    let out = dir.join("out");
    let mut cmd = support::snapsmith();
    cmd.env("SOURCE_DATE_EPOCH", EPOCH)
        .env("SNAPSMITH_KEYRING", dir.join("keys"))
        .arg("build")
        .arg(model)
        .args(["--assertions", dir.join("brand.assert").to_str().unwrap()])
        .args(["--trusted", dir.join("root.assert").to_str().unwrap()])
        .args(["--label", "dev", "-O"])
        .arg(&out);
    for (snap, (_, id)) in snaps.iter().zip(IDS) {
        cmd.arg("--snap").arg(snap);
        if signed {
            let file = dir.join(format!("{id}.assert"));
            let args = [
                "snap",
                "assert",
                snap.to_str().unwrap(),
                "--key",
                "root",
                "--snap-id",
                id,
                "--revision",
                "1",
                "--publisher",
                "dev",
            ];
            std::fs::write(&file, ok(dir, &args)).unwrap();
            cmd.arg("--assertions").arg(file);
        }
    }
    cmd.assert().success();
    out
}

/// Copies the image's ubuntu-seed (a vfat filesystem) out with mtools.
fn seed_of(out: &Path, to: &Path) -> Value {
    let manifest: Value = support::fixtures::read_json(&out.join("manifest.json"));
    let seed = support::fixtures::entry(&manifest["partitions"], "name", "ubuntu-seed");
    let image = format!("{}@@{}", out.join("pc.img").display(), seed["offset"]);
    std::fs::create_dir_all(to).unwrap();
    snapsmith::exec::Cmd::new("mcopy")
        .args(["-s", "-n", "-i", &image, "::systems", "::snaps"])
        .arg(to)
        .run()
        .unwrap();
    manifest
}

/// Loads system `label` of the seed of the image in `out` with snapd's code, `trusted` the root,
/// and compares what it finds with the build manifest.
fn check(helper: &Path, out: &Path, label: &str, trusted: &Path, grade: &str) {
    let seed = out.join("seed-copy");
    let manifest = seed_of(out, &seed);
    let args = [
        Path::new("seed"),
        &seed,
        Path::new(label),
        Path::new("--trusted"),
        trusted,
    ];
    let loaded = support::snapd::snapd(helper, &args)
        .unwrap_or_else(|e| panic!("snapd's seed loader refused the {grade} seed: {e}"));
    let loaded: Value = serde_json::from_str(&loaded).unwrap();
    assert_eq!(loaded["model"], "dev/dev-amd64");
    assert_eq!(loaded["grade"], grade);
    assert_eq!(loaded["snapd"], true, "{loaded}");
    let names = |v: &Value, key: &str| -> Vec<(String, String)> {
        let mut all: Vec<_> = v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["file"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        all.sort();
        all
    };
    let essential = names(&loaded, "essential");
    let run = names(&loaded, "run");
    let mut ours: Vec<(String, String, String)> = manifest["snaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let path = s["seed-path"].as_str().unwrap();
            let file = path.rsplit('/').next().unwrap().to_string();
            (
                s["name"].as_str().unwrap().into(),
                file,
                s["type"].as_str().unwrap().into(),
            )
        })
        .collect();
    ours.sort();
    let ours_essential: Vec<_> = ours
        .iter()
        .filter(|s| s.2 != "app")
        .map(|s| (s.0.clone(), s.1.clone()))
        .collect();
    let ours_run: Vec<_> = ours
        .iter()
        .filter(|s| s.2 == "app")
        .map(|s| (s.0.clone(), s.1.clone()))
        .collect();
    assert_eq!(essential, ours_essential, "essential snaps: {loaded}");
    assert_eq!(run, ours_run, "run-mode snaps: {loaded}");
    assert!(essential.iter().any(|s| s.0 == "snapd"), "{loaded}");
}

fn prerequisites() -> Option<PathBuf> {
    if !support::have_tools(support::build::TOOLS) {
        return None;
    }
    helper()
}

/// Builds the example model in `grade` and loads its seed with snapd's code.
fn build_and_load(grade: &str) {
    let Some(helper) = prerequisites() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path());
    let kit = Kit::new();
    let model = model(dir.path(), grade);
    let out = build(dir.path(), &kit, &model, grade != "dangerous");
    check(&helper, &out, "dev", &dir.path().join("root.assert"), grade);
}

#[test]
fn snapd_loads_a_dangerous_seed_snapsmith_built() {
    build_and_load("dangerous");
}

#[test]
fn snapd_loads_a_signed_seed_snapsmith_built() {
    build_and_load("signed");
}

#[test]
fn snapd_loads_the_example_devices_seed() {
    let Some(helper) = prerequisites() else {
        return;
    };
    let Some(deb) = support::kernel_deb() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("example");
    support::build::example(&deb, &out).assert().success();
    let trusted = out.join("assertions/dev-root.assert");
    check(&helper, &out, "20260101", &trusted, "signed");
}
