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

#[test]
fn extra_systems_follow_the_current_one() {
    let two = super::choose_systems("dev", &["spare".into()]).unwrap();
    assert_eq!(two, ["dev", "spare"]);
    let err = super::choose_systems("dev", &["dev".into()]).unwrap_err();
    assert!(err.to_string().contains("dev is named twice"), "{err}");
    let err = super::choose_systems("dev", &["Spare".into()]).unwrap_err();
    assert!(
        format!("{err:#}").contains("--extra-recovery-system"),
        "{err:#}"
    );
}

fn empty_build() -> Assembled {
    build_of(ImagePlan { volumes: vec![] })
}

fn build_of(plan: ImagePlan) -> Assembled {
    let m = model();
    Assembled {
        manifest: Manifest::new(&m.id, "dev", &[], &plan),
        plan,
        snaps: vec![],
        label: "dev".into(),
        systems: vec!["dev".into()],
    }
}

/// A build whose write fails half-way: its raw "image" is a directory, which passes the checks
/// but cannot be read.
fn failing_build(source: &Path) -> Assembled {
    use crate::plan::{DiskId, RawImage, StructurePlan, VolumePlan};
    build_of(ImagePlan {
        volumes: vec![VolumePlan {
            name: "pc".into(),
            schema: Schema::Mbr,
            sector_size: crate::units::SectorSize::B512,
            size: 2 << 20,
            disk_id: DiskId::Mbr(1),
            structures: vec![StructurePlan {
                index: 0,
                name: "raw".into(),
                role: None,
                offset: 1 << 20,
                size: 1 << 20,
                partition: None,
                content: StructureContent::Raw(vec![RawImage {
                    source: source.to_path_buf(),
                    offset: 0,
                    size: 1 << 20,
                }]),
            }],
            offset_writes: vec![],
        }],
    })
}

fn run_execute(a: &mut Assembled, out: &Path, keep_failed: bool) -> Result<Vec<PathBuf>> {
    let checked = crate::disk::check(&a.plan)?;
    let out = OutputOptions {
        out_dir: out,
        keep_failed,
        write: crate::disk::WriteOptions::new(0),
        format: Default::default(),
    };
    execute(checked, &mut a.manifest, &out)
}

#[test]
fn failed_execution_leaves_nothing_or_keeps_the_staging_dir() {
    let out = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    let err = run_execute(&mut failing_build(source.path()), out.path(), false).unwrap_err();
    assert!(format!("{err:#}").contains("writing"), "{err:#}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);

    let err = run_execute(&mut failing_build(source.path()), out.path(), true).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("partial output kept in"), "{text}");
    let kept: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(kept.len(), 1);
    let kept = kept[0].as_ref().unwrap().path();
    assert!(kept.join("pc.img").exists());
}

#[test]
fn successful_execution_writes_the_manifest_last() {
    let out = tempfile::tempdir().unwrap();
    let written = run_execute(&mut empty_build(), out.path(), false).unwrap();
    assert_eq!(written, vec![out.path().join(MANIFEST_NAME)]);
    let m: Manifest =
        serde_json::from_slice(&std::fs::read(out.path().join(MANIFEST_NAME)).unwrap()).unwrap();
    assert_eq!((m.model.brand.as_str(), m.label.as_str()), ("b", "dev"));
}
