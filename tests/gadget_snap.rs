//! `gadget layout` on the example gadget, as a source directory and packed as a `.snap`: the
//! three inputs (yaml, directory, snap) give the same layout, and a snap's content is checked.

mod support;

use std::path::Path;
use support::fixtures::{MIB, cli_json};

fn layout_json(path: &Path) -> serde_json::Value {
    cli_json(&["gadget", "layout", "--json"], path)
}

fn pack(dir: &Path, out: &Path) {
    let opts = snapsmith::snap::PackOptions::at(0).unwrap();
    snapsmith::snap::pack_dir(dir, out, &opts).unwrap();
}

#[test]
fn example_gadget_layout() {
    let json = layout_json(&support::repo().join("gadgets/pc"));
    let v = &json["volumes"][0];
    assert_eq!(v["name"], "pc");
    assert_eq!(v["schema"], "gpt");
    assert_eq!(v["bootloader"], "grub");
    let places: Vec<_> = v["structures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["offset"].as_u64().unwrap() / MIB,
                s["size"].as_u64().unwrap() / MIB,
            )
        })
        .collect();
    let expected = [
        ("ubuntu-seed", 1, 256),
        ("ubuntu-boot", 257, 192),
        ("ubuntu-save", 449, 16),
        ("ubuntu-data", 465, 384),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(n, o, s)| (n.to_string(), *o, *s))
        .collect();
    assert_eq!(places, expected);
    assert_eq!(v["size"].as_u64().unwrap(), 849 * MIB);
    assert_eq!(
        v["structures"][0]["type"],
        "EF,C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    );
}

#[test]
fn snap_directory_and_yaml_agree() {
    if !support::have_tools(&["mksquashfs", "unsquashfs"]) {
        return;
    }
    let dir = support::repo().join("gadgets/pc");
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("pc.snap");
    pack(&dir, &snap);
    let from_dir = layout_json(&dir);
    assert_eq!(layout_json(&snap), from_dir);
    assert_eq!(layout_json(&dir.join("meta/gadget.yaml")), from_dir);
}

#[test]
fn snap_content_is_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("meta")).unwrap();
    std::fs::write(
        src.join("meta/snap.yaml"),
        "name: bad\nversion: '1'\ntype: gadget\n",
    )
    .unwrap();
    let yaml = "volumes:\n  pc:\n    bootloader: grub\n    structure:\n      - name: seed\n        type: C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n        filesystem: vfat\n        size: 8M\n        content:\n          - source: grubx64.efi\n            target: EFI/boot/bootx64.efi\n";
    std::fs::write(src.join("meta/gadget.yaml"), yaml).unwrap();
    let snap = tmp.path().join("bad.snap");
    pack(&src, &snap);
    let out = support::snapsmith()
        .args(["gadget", "layout"])
        .arg(&snap)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "volume pc: structure seed: content[0].source: \"grubx64.efi\" does not exist"
        ),
        "{stderr}"
    );
    std::fs::write(src.join("grubx64.efi"), b"grub").unwrap();
    let good = tmp.path().join("good.snap");
    pack(&src, &good);
    layout_json(&good);
    // A snap of another type is not a gadget.
    std::fs::write(src.join("meta/snap.yaml"), "name: hello\nversion: '1'\n").unwrap();
    let app = tmp.path().join("hello.snap");
    pack(&src, &app);
    let out = support::snapsmith()
        .args(["gadget", "layout"])
        .arg(&app)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("snap hello is not a gadget snap"),
        "{stderr}"
    );
}

#[test]
fn example_gadget_text_table() {
    let out = support::snapsmith()
        .args(["gadget", "layout", "--sector-size", "4096"])
        .arg(support::repo().join("gadgets/pc"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("volume pc (gpt, bootloader grub, 4096-byte sectors, size 890241024 = 849 MiB)")
    );
    assert!(lines.next().unwrap().contains("INDEX"));
    let seed: Vec<_> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        seed,
        [
            "0",
            "ubuntu-seed",
            "system-seed",
            "EF,C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "vfat",
            "-",
            "1048576",
            "268435456"
        ]
    );
    assert_eq!(lines.count(), 3);
}

/// The JSON form is a stable schema (docs/gadget.md): exactly these keys, sizes and offsets as
/// integers, every structure (bare and mbr ones included) with its computed offset.
#[test]
fn layout_json_keys_are_exactly_the_documented_schema() {
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let dir = tempfile::tempdir().unwrap();
    let yaml = "volumes:\n  pc:\n    bootloader: grub\n    structure:\n      \
        - name: mbr\n        type: mbr\n        size: 440\n      \
        - name: spl\n        type: bare\n        offset: 33792\n        size: 4096\n      \
        - name: data\n        role: system-data\n        filesystem: ext4\n        \
        filesystem-label: writable\n        type: 83,0FC63DAF-8483-4772-8E79-3D69D8477DE4\n        \
        size: 2M\n";
    let path = dir.path().join("gadget.yaml");
    std::fs::write(&path, yaml).unwrap();
    let json = layout_json(&path);
    assert_eq!(keys(&json), ["volumes"]);
    let volumes = json["volumes"].as_array().unwrap();
    assert_eq!(volumes.len(), 1);
    let v = &volumes[0];
    assert_eq!(
        keys(v),
        [
            "bootloader",
            "name",
            "schema",
            "sector-size",
            "size",
            "structures"
        ]
    );
    assert!(v["size"].is_u64() && v["sector-size"].is_u64(), "{v}");
    let structures = v["structures"].as_array().unwrap();
    assert_eq!(
        structures.len(),
        3,
        "every structure, bare and mbr included"
    );
    for s in structures {
        assert_eq!(
            keys(s),
            [
                "filesystem",
                "index",
                "label",
                "name",
                "offset",
                "role",
                "size",
                "type"
            ]
        );
        assert!(s["offset"].is_u64() && s["size"].is_u64(), "{s}");
    }
    let offsets: Vec<_> = structures.iter().map(|s| s["offset"].as_u64()).collect();
    assert_eq!(offsets, [Some(0), Some(33792), Some(MIB)]);
    assert_eq!(structures[2]["label"], "writable");
}
