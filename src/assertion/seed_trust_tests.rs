//! [`super::check_system`] on a seed signed with real keys: it passes as built, and every kind of
//! damage is refused with the file named.

use super::*;
use crate::assertion::{Assertion, PrivateKey, certify_key, encode_stream, sign};
use serde_json::{Map, Value, json};
use time::macros::datetime;

const KERNEL: &str = "DGOnW4ReT30BEH2FLkwkhcUaUKqqlPxhmV5xu-6YOirDcTgxJkrbR_tr0eBY1fAE";
const BASE: &str = "AGOnW4ReT30BEH2FLkwkhcUaUKqqlPxhmV5xu-6YOirDcTgxJkrbR_tr0eBY1fAE";

fn now() -> OffsetDateTime {
    datetime!(2026-03-01 00:00 UTC)
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

struct Seed {
    model: Vec<u8>,
    etc: Vec<u8>,
    snaps: Vec<u8>,
}

fn asserted(key: &PrivateKey, name: &str, id: &str, digest: &str) -> Vec<Assertion> {
    let decl = obj(json!({"series": "16", "snap-id": id, "snap-name": name,
        "publisher-id": "dev", "timestamp": "2026-01-01T00:00:00Z"}));
    let revision = obj(
        json!({"snap-sha3-384": digest, "snap-id": id, "snap-size": "4096",
        "snap-revision": "1", "developer-id": "dev", "timestamp": "2026-01-01T00:00:00Z"}),
    );
    vec![
        sign("snap-declaration", &decl, &[], key, "root").unwrap(),
        sign("snap-revision", &revision, &[], key, "root").unwrap(),
    ]
}

fn seed(grade: &str) -> Seed {
    let root = PrivateKey::from_seed([1; 32]);
    let brand = PrivateKey::from_seed([2; 32]);
    let epoch = OffsetDateTime::UNIX_EPOCH;
    let mut etc = certify_key(&root.public(), "root", "root", &root, "root", epoch, None).unwrap();
    etc.extend(certify_key(&brand.public(), "brand", "dev", &root, "root", epoch, None).unwrap());
    let model = obj(json!({
        "type": "model", "series": "16", "authority-id": "dev", "brand-id": "dev",
        "model": "dev-amd64", "architecture": "amd64", "base": "core", "grade": grade,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "snaps": [
            {"name": "pc", "id": "snapsmithexamplepc00000000000000", "type": "gadget"},
            {"name": "pc-kernel", "id": "snapsmithexamplepckernel00000000", "type": "kernel"},
            {"name": "core", "id": "snapsmithexamplecore000000000000", "type": "base"},
        ],
    }));
    let m = sign("model", &model, &[], &brand, "dev").unwrap();
    let mut snaps = asserted(
        &root,
        "pc-kernel",
        "snapsmithexamplepckernel00000000",
        KERNEL,
    );
    snaps.extend(asserted(
        &root,
        "core",
        "snapsmithexamplecore000000000000",
        BASE,
    ));
    Seed {
        model: m.encode(),
        etc: encode_stream(&etc),
        snaps: encode_stream(&snaps),
    }
}

fn file(path: &str, digest: &str) -> SeedFile {
    SeedFile {
        path: path.into(),
        sha3_384: digest.into(),
        size: 4096,
    }
}

fn files() -> Vec<SeedFile> {
    vec![
        file("snaps/core_1.snap", BASE),
        file("snaps/pc-kernel_1.snap", KERNEL),
    ]
}

fn check(s: &Seed, files: &[SeedFile]) -> Result<RecoverySystem, SeedRefusal> {
    let sys = SystemFiles {
        label: "20260101",
        model: &s.model,
        model_etc: &s.etc,
        snaps: &s.snaps,
        extra_snaps: b"",
    };
    check_system(&sys, files, now())
}

#[test]
fn a_seed_as_built_passes() {
    let sys = check(&seed("signed"), &files()).unwrap();
    assert_eq!(sys.kernel, "snaps/pc-kernel_1.snap");
    assert_eq!(sys.base, "snaps/core_1.snap");
    assert_eq!(sys.model.model, "dev-amd64");
}

#[test]
fn a_model_that_does_not_verify_is_refused_by_name() {
    let mut s = seed("signed");
    let text = String::from_utf8(s.model.clone()).unwrap();
    s.model = text.replace("dev-amd64", "dev-amd65").into_bytes();
    let err = check(&s, &files()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("systems/20260101/model does not verify"),
        "{err}"
    );
}

#[test]
fn snap_assertions_that_do_not_verify_are_refused_by_name() {
    let mut s = seed("signed");
    let text = String::from_utf8(s.snaps.clone()).unwrap();
    s.snaps = text
        .replacen("snap-size: 4096", "snap-size: 4097", 1)
        .into_bytes();
    let err = check(&s, &files()).unwrap_err().to_string();
    assert!(
        err.starts_with("systems/20260101/assertions/snaps does not verify"),
        "{err}"
    );
}

#[test]
fn a_snap_whose_digest_does_not_match_is_refused_by_name() {
    let s = seed("signed");
    let mut bad = files();
    bad[0].sha3_384 = KERNEL.replace('D', "E");
    let err = check(&s, &bad).unwrap_err();
    assert!(matches!(&err, SeedRefusal::Digest { file, .. } if file == "snaps/core_1.snap"));
    let mut bad = files();
    bad[1].size = 1;
    let err = check(&s, &bad).unwrap_err();
    assert!(matches!(err, SeedRefusal::Size { size: 1, .. }), "{err}");
    let mut bad = files();
    bad[1].path = "snaps/pc-kernel_2.snap".into();
    let err = check(&s, &bad).unwrap_err();
    assert!(matches!(err, SeedRefusal::Name { .. }), "{err}");
}

#[test]
fn unasserted_snaps_only_in_dangerous_seeds_and_the_model_snaps_must_be_there() {
    let mut extra = files();
    extra.push(file(
        "systems/20260101/snaps/hello_1.0.snap",
        &"A".repeat(64),
    ));
    let err = check(&seed("signed"), &extra).unwrap_err();
    assert!(matches!(err, SeedRefusal::Unasserted { .. }), "{err}");
    assert!(check(&seed("dangerous"), &extra).is_ok());
    // A dangerous seed of unasserted snaps only: empty snap assertions, snaps filed by version.
    let mut bare = seed("dangerous");
    bare.snaps.clear();
    let unasserted = [
        file("systems/20260101/snaps/core_1.snap", &"B".repeat(64)),
        file(
            "systems/20260101/snaps/pc-kernel_6.1.0-57-amd64.snap",
            &"C".repeat(64),
        ),
    ];
    let sys = check(&bare, &unasserted).unwrap();
    assert_eq!(
        sys.kernel,
        "systems/20260101/snaps/pc-kernel_6.1.0-57-amd64.snap"
    );
    let mut signed = seed("signed");
    signed.snaps.clear();
    let err = check(&signed, &files()).unwrap_err();
    assert!(matches!(err, SeedRefusal::Digest { .. }), "{err}");
    let err = check(&seed("signed"), &files()[1..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the model's base \"core\" is not in the seed"
    );
}
