//! Unit tests of the partition trees.

use super::*;
use crate::seed::Revision;
use crate::snap::{SnapDigest, SnapInfo};
use std::path::PathBuf;

fn snap(name: &str, t: &str, revision: Revision, in_model: bool) -> SeedSnap {
    let info =
        SnapInfo::parse(format!("name: {name}\nversion: '2.1'\ntype: {t}\n").as_bytes()).unwrap();
    SeedSnap {
        name: name.into(),
        snap_type: info.snap_type,
        path: PathBuf::from(format!("/in/{name}.snap")),
        info,
        digest: SnapDigest {
            sha3_384: "d".into(),
            size: 1,
        },
        revision,
        snap_id: Some(format!("{name}-id")),
        in_model,
        modes: vec!["run".into(), "ephemeral".into()],
    }
}

fn model() -> ModelId {
    ModelId {
        brand: "acme".into(),
        model: "dev-amd64".into(),
        grade: Grade::Dangerous,
        sign_key_id: "KEY".into(),
        base: "core22".into(),
    }
}

fn paths(tree: &Tree) -> Vec<&str> {
    tree.entries().iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn asserted_seed_layout() {
    let snaps = vec![
        snap("core22", "base", Revision::Asserted(7), true),
        snap("pc", "gadget", Revision::Asserted(3), true),
    ];
    let a = SeedAssertions {
        model: b"M".to_vec(),
        ..Default::default()
    };
    let tree = seed_tree("20261125", Grade::Signed, &snaps, &a).unwrap();
    assert_eq!(
        paths(&tree),
        [
            "snaps",
            "systems",
            "systems/20261125",
            "systems/20261125/model",
            "systems/20261125/assertions",
            "systems/20261125/assertions/model-etc",
            "systems/20261125/assertions/snaps",
            "snaps/core22_7.snap",
            "snaps/pc_3.snap",
        ]
    );
}

#[test]
fn unasserted_snaps_go_under_the_system_with_options() {
    let snaps = vec![
        snap("core22", "base", Revision::Local(1), true),
        snap("extra", "app", Revision::Asserted(5), false),
    ];
    let tree = seed_tree("dev", Grade::Dangerous, &snaps, &SeedAssertions::default()).unwrap();
    let p = paths(&tree);
    assert!(p.contains(&"systems/dev/snaps/core22_2.1.snap"), "{p:?}");
    assert!(p.contains(&"systems/dev/snaps/extra_5.snap"), "{p:?}");
    let options = tree
        .entries()
        .iter()
        .find(|e| e.path == "systems/dev/options.yaml")
        .unwrap();
    let FileSource::Bytes(bytes) = &options.source else {
        panic!()
    };
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.contains("name: core22\n  unasserted: core22_2.1.snap"),
        "{text}"
    );
    assert!(text.contains("name: extra\n  id: extra-id"), "{text}");
    assert!(seed_tree("dev", Grade::Signed, &snaps, &SeedAssertions::default()).is_err());
}

#[test]
fn extra_systems_share_the_model_snaps() {
    let snaps = vec![
        snap("pc", "gadget", Revision::Asserted(3), true),
        snap("extra", "app", Revision::Asserted(5), false),
    ];
    let labels = ["dev".to_string(), "spare".to_string()];
    let tree = seed_systems_tree(
        &labels,
        Grade::Dangerous,
        &snaps,
        &SeedAssertions::default(),
    )
    .unwrap();
    let p = paths(&tree);
    for want in [
        "snaps/pc_3.snap",
        "systems/dev/model",
        "systems/dev/snaps/extra_5.snap",
        "systems/spare/model",
        "systems/spare/assertions/snaps",
        "systems/spare/snaps/extra_5.snap",
        "systems/spare/options.yaml",
    ] {
        assert!(p.contains(&want), "{want} missing: {p:?}");
    }
    assert_eq!(p.iter().filter(|p| p.ends_with("pc_3.snap")).count(), 1);
    let twice = ["dev".to_string(), "dev".to_string()];
    let err = seed_systems_tree(&twice, Grade::Dangerous, &snaps, &SeedAssertions::default())
        .unwrap_err();
    assert!(err.to_string().contains("named twice"), "{err}");
}

#[test]
fn run_system_on_data_with_modeenv() {
    let snaps = vec![
        snap("core22", "base", Revision::Local(1), true),
        snap("pc-kernel", "kernel", Revision::Local(1), true),
        snap("pc", "gadget", Revision::Local(1), true),
    ];
    let tree = data_tree("20261125", &model(), &snaps).unwrap();
    let p = paths(&tree);
    assert!(
        p.contains(&"system-data/var/lib/snapd/snaps/pc-kernel_x1.snap"),
        "{p:?}"
    );
    let modeenv = tree
        .entries()
        .iter()
        .find(|e| e.path == MODEENV_PATH)
        .unwrap();
    let FileSource::Bytes(bytes) = &modeenv.source else {
        panic!()
    };
    let env = Modeenv::decode(std::str::from_utf8(bytes).unwrap()).unwrap();
    assert_eq!(env.base, "core22_x1.snap");
    assert_eq!(env.current_kernels, ["pc-kernel_x1.snap"]);
    assert_eq!(env.gadget, "pc_x1.snap");
    assert_eq!(env.try_base, "");
    assert_eq!(env.model, "acme/dev-amd64");
}
