//! Unit tests of the seed's assertion files and labels.

use super::*;
use crate::seed::{Grade, ModelSpec, Revision};
use crate::snap::{SnapDigest, SnapInfo};

fn snap(name: &str, revision: Revision, in_model: bool) -> SeedSnap {
    let info = SnapInfo::parse(format!("name: {name}\nversion: '1'\n").as_bytes()).unwrap();
    SeedSnap {
        name: name.into(),
        snap_type: info.snap_type,
        path: format!("/{name}.snap").into(),
        info,
        digest: SnapDigest {
            sha3_384: format!("{name}-digest"),
            size: 1,
        },
        revision,
        snap_id: None,
        in_model,
        modes: vec!["run".into()],
    }
}

fn model() -> LoadedModel {
    let mut snap_streams = BTreeMap::new();
    for name in ["aa", "bb", "unused"] {
        snap_streams.insert(format!("{name}-digest"), format!("<{name}>").into_bytes());
    }
    LoadedModel {
        spec: ModelSpec {
            architecture: "amd64".into(),
            base: "core".into(),
            grade: Grade::Dangerous,
            snaps: vec![],
        },
        id: ModelId {
            brand: "b".into(),
            model: "m".into(),
            grade: Grade::Dangerous,
            sign_key_id: "k".into(),
            base: "core".into(),
        },
        model: b"<model>".to_vec(),
        model_etc: b"<etc>".to_vec(),
        snap_streams,
        asserted: vec![],
    }
}

#[test]
fn snap_assertions_are_split_by_selection() {
    let snaps = vec![
        snap("aa", Revision::Asserted(1), true),
        snap("cc", Revision::Local(1), true),
        snap("bb", Revision::Asserted(2), false),
    ];
    let a = seed_assertions(&model(), &snaps);
    assert_eq!(a.model, b"<model>");
    assert_eq!(a.model_etc, b"<etc>");
    assert_eq!(a.snaps, b"<aa>");
    assert_eq!(a.extra_snaps, b"<bb>");
}

#[test]
fn labels_default_to_the_build_date() {
    assert_eq!(choose_label(None, 1_767_225_600).unwrap(), "20260101");
    assert_eq!(choose_label(Some("dev-1"), 0).unwrap(), "dev-1");
    let err = choose_label(Some("Dev"), 0).unwrap_err().to_string();
    assert!(
        err.contains("invalid recovery system label \"Dev\""),
        "{err}"
    );
}

fn empty_build() -> Assembled {
    let plan = ImagePlan { volumes: vec![] };
    let m = model();
    Assembled {
        manifest: Manifest::new(&m.id, "dev", &[], &plan),
        plan,
        snaps: vec![],
        label: "dev".into(),
    }
}

fn failing_writer(_: &ImagePlan, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::write(dir.join("pc.img"), b"half")?;
    bail!("disk full")
}

#[test]
fn failed_execution_leaves_nothing_or_keeps_the_staging_dir() {
    let out = tempfile::tempdir().unwrap();
    let err = execute(&mut empty_build(), out.path(), false, failing_writer).unwrap_err();
    assert_eq!(format!("{err:#}"), "disk full");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);

    let err = execute(&mut empty_build(), out.path(), true, failing_writer).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("partial output kept in"), "{text}");
    let kept: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(kept.len(), 1);
    let kept = kept[0].as_ref().unwrap().path();
    assert_eq!(std::fs::read(kept.join("pc.img")).unwrap(), b"half");
}

#[test]
fn successful_execution_writes_the_manifest_last() {
    let out = tempfile::tempdir().unwrap();
    let written = execute(&mut empty_build(), out.path(), false, |_, _| Ok(vec![])).unwrap();
    assert_eq!(written, vec![out.path().join(MANIFEST_NAME)]);
    let m: Manifest =
        serde_json::from_slice(&std::fs::read(out.path().join(MANIFEST_NAME)).unwrap()).unwrap();
    assert_eq!((m.model.brand.as_str(), m.label.as_str()), ("b", "dev"));
}
