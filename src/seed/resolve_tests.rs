//! Unit tests of resolution: each refusal, and the selection of a valid set.

use super::*;

fn snap(name: &str, yaml_extra: &str) -> Candidate {
    let yaml = format!("name: {name}\nversion: '1'\n{yaml_extra}");
    Candidate {
        path: PathBuf::from(format!("/snaps/{name}.snap")),
        info: SnapInfo::parse(yaml.as_bytes()).unwrap(),
        digest: SnapDigest {
            sha3_384: format!("digest-of-{name}"),
            size: 4096,
        },
    }
}

fn entry(name: &str, t: SnapType) -> ModelSnap {
    ModelSnap {
        name: name.into(),
        id: Some(format!("{name}-id")),
        snap_type: t,
        required: true,
        modes: vec!["run".into()],
    }
}

fn model(grade: Grade) -> ModelSpec {
    ModelSpec {
        architecture: "amd64".into(),
        base: "core22".into(),
        grade,
        snaps: vec![
            entry("pc", SnapType::Gadget),
            entry("pc-kernel", SnapType::Kernel),
            entry("core22", SnapType::Base),
            entry("snapd", SnapType::Snapd),
            entry("hello", SnapType::App),
        ],
    }
}

fn files() -> Vec<Candidate> {
    vec![
        snap(
            "hello",
            "base: core22\napps:\n  hello:\n    command: bin/hello\n",
        ),
        snap("pc", "type: gadget\nbase: core22\n"),
        snap("pc-kernel", "type: kernel\narchitectures: [amd64]\n"),
        snap("core22", "type: base\n"),
        snap("snapd", "type: snapd\n"),
    ]
}

fn assertion(c: &Candidate, revision: u64) -> AssertedRevision {
    AssertedRevision {
        snap_id: format!("{}-id", c.info.name),
        snap_name: c.info.name.clone(),
        sha3_384: c.digest.sha3_384.clone(),
        size: c.digest.size,
        revision,
    }
}

fn all_asserted(files: &[Candidate]) -> Vec<AssertedRevision> {
    files
        .iter()
        .zip(1..)
        .map(|(c, r)| assertion(c, r * 10))
        .collect()
}

#[test]
fn dangerous_accepts_local_snaps() {
    let got = resolve(&model(Grade::Dangerous), &files(), &[]).unwrap();
    let names: Vec<_> = got.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["snapd", "core22", "pc-kernel", "pc", "hello"]);
    assert!(got.iter().all(|s| s.revision == Revision::Local(1)));
    assert_eq!(got[1].file_name(), "core22_x1.snap");
    assert_eq!(got[1].snap_id.as_deref(), Some("core22-id"));
}

#[test]
fn a_listed_snapd_snap_is_required_an_unlisted_one_is_not() {
    let without: Vec<_> = files()
        .into_iter()
        .filter(|c| c.info.name != "snapd")
        .collect();
    let err = resolve(&model(Grade::Dangerous), &without, &[]).unwrap_err();
    assert!(err.to_string().contains("snapd"), "{err}");
    let mut m = model(Grade::Dangerous);
    m.snaps.retain(|s| s.name != "snapd");
    let got = resolve(&m, &without, &[]).unwrap();
    assert!(got.iter().all(|s| s.snap_type != SnapType::Snapd));
}

#[test]
fn a_gadget_on_another_base_is_refused() {
    let mut files = files();
    let gadget = files.iter_mut().find(|c| c.info.name == "pc").unwrap();
    *gadget = snap("pc", "type: gadget\nbase: core24\n");
    let err = resolve(&model(Grade::Dangerous), &files, &[]).unwrap_err();
    assert!(matches!(err, ResolveError::GadgetBase { .. }), "{err}");
    assert!(err.to_string().contains("core24"), "{err}");
}

#[test]
fn signed_uses_assertion_revisions() {
    let files = files();
    let got = resolve(&model(Grade::Signed), &files, &all_asserted(&files)).unwrap();
    let hello = got.iter().find(|s| s.name == "hello").unwrap();
    assert_eq!(hello.revision, Revision::Asserted(10));
    assert_eq!(hello.file_name(), "hello_10.snap");
    assert!(got.iter().all(SeedSnap::asserted));
}

#[test]
fn unlisted_model_base_is_required() {
    let mut m = model(Grade::Dangerous);
    m.snaps.retain(|s| s.name != "core22");
    let files: Vec<_> = files()
        .into_iter()
        .filter(|c| c.info.name != "core22")
        .collect();
    assert_eq!(
        resolve(&m, &files, &[]).unwrap_err(),
        ResolveError::Missing {
            name: "core22".into()
        }
    );
}

#[test]
fn missing_required_snap() {
    let files: Vec<_> = files()
        .into_iter()
        .filter(|c| c.info.name != "hello")
        .collect();
    let err = resolve(&model(Grade::Dangerous), &files, &[]).unwrap_err();
    assert_eq!(
        err,
        ResolveError::Missing {
            name: "hello".into()
        }
    );
    assert!(
        err.to_string()
            .contains("\"hello\" is required by the model")
    );
}

#[test]
fn optional_snap_may_be_absent() {
    let mut m = model(Grade::Dangerous);
    m.snaps[4].required = false;
    let files: Vec<_> = files()
        .into_iter()
        .filter(|c| c.info.name != "hello")
        .collect();
    assert_eq!(resolve(&m, &files, &[]).unwrap().len(), 4);
}

#[test]
fn wrong_type() {
    let mut files = files();
    files[1] = snap(
        "pc",
        "type: app\nbase: core22\napps:\n  a:\n    command: a\n",
    );
    let err = resolve(&model(Grade::Dangerous), &files, &[]).unwrap_err();
    assert!(
        matches!(err, ResolveError::WrongType { ref name, .. } if name == "pc"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("type app in meta/snap.yaml, but the model says gadget")
    );
}

#[test]
fn wrong_name_for_model_snap_id() {
    let mut files = files();
    files[0] = snap("hullo", "base: core22\n");
    let mut asserted = all_asserted(&files);
    asserted[0].snap_id = "hello-id".into();
    let err = resolve(&model(Grade::Signed), &files, &asserted).unwrap_err();
    assert!(matches!(err, ResolveError::WrongName { .. }), "{err}");
    assert!(
        err.to_string().contains("the file is snap \"hullo\""),
        "{err}"
    );
}

#[test]
fn wrong_architecture() {
    let mut files = files();
    files[2] = snap("pc-kernel", "type: kernel\narchitectures: [arm64]\n");
    let err = resolve(&model(Grade::Dangerous), &files, &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("built for arm64, not for the model's architecture amd64")
    );
}

#[test]
fn base_not_in_image() {
    let mut files = files();
    files[0] = snap("hello", "base: core24\n");
    let err = resolve(&model(Grade::Dangerous), &files, &[]).unwrap_err();
    assert_eq!(
        err,
        ResolveError::MissingBase {
            name: "hello".into(),
            file: "/snaps/hello.snap".into(),
            base: "core24".into()
        }
    );
    files[0] = snap("hello", "");
    let err = resolve(&model(Grade::Dangerous), &files, &[]).unwrap_err();
    assert!(err.to_string().contains("needs base \"core\""), "{err}");
}

#[test]
fn extra_snaps_only_in_dangerous() {
    let mut files = files();
    files.push(snap("extra", "base: core22\n"));
    let got = resolve(&model(Grade::Dangerous), &files, &[]).unwrap();
    let extra = got.last().unwrap();
    assert_eq!((extra.name.as_str(), extra.in_model), ("extra", false));
    let asserted = all_asserted(&files);
    let err = resolve(&model(Grade::Signed), &files, &asserted).unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::Extra {
                grade: Grade::Signed,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not in the model"));
}

#[test]
fn signed_needs_matching_assertions() {
    let files = files();
    let mut asserted = all_asserted(&files);
    asserted.remove(0);
    let err = resolve(&model(Grade::Secured), &files, &asserted).unwrap_err();
    assert!(
        matches!(err, ResolveError::Unasserted { ref name, .. } if name == "hello"),
        "{err}"
    );

    let mut asserted = all_asserted(&files);
    asserted[0].size += 1;
    let err = resolve(&model(Grade::Signed), &files, &asserted).unwrap_err();
    assert!(matches!(err, ResolveError::WrongSize { .. }), "{err}");

    let mut asserted = all_asserted(&files);
    asserted[0].snap_id = "other-id".into();
    let err = resolve(&model(Grade::Signed), &files, &asserted).unwrap_err();
    assert!(matches!(err, ResolveError::WrongSnapId { .. }), "{err}");

    let mut asserted = all_asserted(&files);
    asserted[0].snap_name = "other".into();
    let err = resolve(&model(Grade::Signed), &files, &asserted).unwrap_err();
    assert!(matches!(err, ResolveError::DeclaredName { .. }), "{err}");
}

#[test]
fn duplicate_files() {
    let mut files = files();
    let mut dup = files[0].clone();
    dup.path = "/other/hello.snap".into();
    files.push(dup);
    let err = resolve(&model(Grade::Dangerous), &files, &[]).unwrap_err();
    assert!(matches!(err, ResolveError::Duplicate { .. }), "{err}");
}
