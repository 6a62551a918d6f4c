//! `snapsmith build` refuses what needs a snap interface (snapsmith implements none yet): an
//! app snap with plugs or slots, and a gadget with `connections:`, each with the file and the
//! field named and no image left behind.

mod support;

use predicates::str::contains;
use support::build::*;
use support::repo;

fn refused(kit: &Kit, snaps: &[&std::path::Path], message: &str) {
    let out = kit.dir.path().join("out");
    build(snaps, &out)
        .assert()
        .code(1)
        .stderr(contains(message));
    assert!(
        nothing_in(&out),
        "a refused build left files in {}",
        out.display()
    );
}

#[test]
fn app_with_a_plug_is_refused() {
    let kit = Kit::new();
    let hello = kit.repack(
        "hello-plugs",
        &[(
            "meta/snap.yaml",
            b"name: hello\nversion: '1'\nbase: core\napps:\n  srv:\n    command: bin/srv\n    \
daemon: simple\n    plugs: [network-bind]\n",
        )],
    );
    refused(
        &kit,
        &[&kit.gadget, &kit.kernel, &kit.base, &hello],
        "hello-plugs.snap: meta/snap.yaml field `apps.srv.plugs (network-bind)`",
    );
}

#[test]
fn app_with_a_slot_is_refused() {
    let kit = Kit::new();
    let hello = kit.repack(
        "hello-slots",
        &[(
            "meta/snap.yaml",
            b"name: hello\nversion: '1'\nbase: core\nslots:\n  api: content\n",
        )],
    );
    refused(
        &kit,
        &[&kit.gadget, &kit.kernel, &kit.base, &hello],
        "meta/snap.yaml field `slots.api`: snap interfaces",
    );
}

#[test]
fn gadget_with_connections_is_refused() {
    let kit = Kit::new();
    let meta = repo().join("gadgets/pc/meta");
    let mut yaml = std::fs::read(meta.join("gadget.yaml")).unwrap();
    yaml.extend_from_slice(b"connections:\n  - plug: abcdefabcdefabcdefabcdefabcdefab:network\n");
    let snap_yaml = std::fs::read(meta.join("snap.yaml")).unwrap();
    let gadget = kit.repack(
        "pc-connections",
        &[("meta/snap.yaml", &snap_yaml), ("meta/gadget.yaml", &yaml)],
    );
    refused(
        &kit,
        &[&gadget, &kit.kernel, &kit.base, &kit.hello],
        "pc-connections.snap: meta/gadget.yaml field `connections`",
    );
}
