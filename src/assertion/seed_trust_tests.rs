//! [`super::check_system`] on a seed signed with real keys: it passes as built, and every kind of
//! damage is refused with the file named.

use super::*;
use crate::assertion::encode_stream;
use crate::assertion::trust_fixtures::signed_model;
use crate::assertion::trust_fixtures::{BASE_ID, DIGEST as KERNEL, KERNEL_ID, asserted, keys, now};

const BASE: &str = "AGOnW4ReT30BEH2FLkwkhcUaUKqqlPxhmV5xu-6YOirDcTgxJkrbR_tr0eBY1fAE";

struct Seed {
    model: Vec<u8>,
    etc: Vec<u8>,
    snaps: Vec<u8>,
}

fn seed(grade: &str) -> Seed {
    let k = keys();
    let mut snaps = asserted(&k.root, "root", ("pc-kernel", KERNEL_ID), 1, KERNEL);
    snaps.extend(asserted(&k.root, "root", ("core", BASE_ID), 1, BASE));
    Seed {
        model: signed_model(&k, grade).encode(),
        etc: encode_stream(&k.etc),
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
