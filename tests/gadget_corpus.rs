//! Every real gadget.yaml of the corpus parses and lays out, for both sector sizes, through the
//! library and the CLI; offsets are spot-checked against values worked out by hand from the
//! spec's rules (1 MiB push for implicit offsets, cumulative sizes, explicit offsets kept).

mod support;

use snapsmith::gadget::{self, Gadget, Role, Ruleset, VolumeLayout};
use std::path::{Path, PathBuf};
use support::fixtures::MIB;

fn corpus_gadgets() -> Option<Vec<PathBuf>> {
    let dir = support::corpus()?.join("gadgets");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus gadgets folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the corpus gadgets in {}",
        dir.display()
    );
    Some(files)
}

fn corpus_file(name: &str) -> Option<PathBuf> {
    Some(support::corpus()?.join("gadgets").join(name))
}

fn volume(path: &Path, ruleset: Ruleset, sector: u64) -> VolumeLayout {
    let text = std::fs::read_to_string(path).unwrap();
    let g = Gadget::parse(&text, ruleset).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    gadget::layout(&g, sector).unwrap().volumes.remove(0)
}

/// (name, offset, size) of every structure, in disk order.
fn places(v: &VolumeLayout) -> Vec<(String, u64, u64)> {
    v.structures
        .iter()
        .map(|p| (p.structure.display_name(), p.offset, p.structure.size))
        .collect()
}

#[test]
fn every_corpus_gadget_lays_out_with_both_sector_sizes() {
    let Some(files) = corpus_gadgets() else {
        return;
    };
    for file in files {
        for sector in ["512", "4096"] {
            let out = support::snapsmith()
                .args(["gadget", "layout", "--json", "--sector-size", sector])
                .arg(&file)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "{} ({sector}): {stderr}",
                file.display()
            );
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            for v in json["volumes"].as_array().unwrap() {
                assert_eq!(v["sector-size"].as_u64().unwrap().to_string(), sector);
                let structures = v["structures"].as_array().unwrap();
                assert!(!structures.is_empty());
                let mut end = 0;
                for s in structures {
                    let offset = s["offset"].as_u64().unwrap();
                    assert!(offset >= end, "{}: overlap at {offset}", file.display());
                    end = offset + s["size"].as_u64().unwrap();
                }
                assert_eq!(v["size"].as_u64().unwrap(), end);
            }
        }
    }
}

#[test]
fn pc_gadget_offsets_match_the_spec() {
    let Some(file) = corpus_file("canonical__pc-gadget__gadget_gadget-amd64.yaml") else {
        return;
    };
    let v = volume(&file, Ruleset::Uc20, 512);
    // mbr at 0 (440 B); BIOS Boot explicitly at 1M; seed follows at 2M; then cumulative.
    let expected = [
        ("mbr", 0, 440),
        ("BIOS Boot", MIB, MIB),
        ("ubuntu-seed", 2 * MIB, 1200 * MIB),
        ("ubuntu-boot", 1202 * MIB, 750 * MIB),
        ("ubuntu-save", 1952 * MIB, 32 * MIB),
        ("ubuntu-data", 1984 * MIB, 1024 * MIB),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(n, o, s)| (n.to_string(), *o, *s))
        .collect();
    assert_eq!(places(&v), expected);
    assert_eq!(v.size, 3008 * MIB);
    // GPT: the backup header and 32 sectors of entries follow the last structure.
    assert_eq!(v.min_image_size(), 3008 * MIB + 33 * 512);
    let numbers: Vec<_> = v.structures.iter().map(|p| p.partition).collect();
    assert_eq!(numbers, [None, Some(1), Some(2), Some(3), Some(4), Some(5)]);
    let save = v.structure_with_role(Role::SystemSave).unwrap();
    assert_eq!(save.structure.min_size, 16 * MIB);
    // A model with a grade implies the ubuntu-* labels.
    assert_eq!(save.structure.label.as_deref(), Some("ubuntu-save"));
    let v4k = volume(&file, Ruleset::Uc20, 4096);
    assert_eq!(v4k.min_image_size(), 3008 * MIB + 5 * 4096);
}

#[test]
fn offset_write_is_the_start_lba() {
    let Some(file) = corpus_file("anonymouse64__pc-amd64-gadget__gadget.yaml") else {
        return;
    };
    // `offset-write: mbr+92` on BIOS Boot at 1M: LBA 2048 (512) or 256 (4096), written at 92.
    let v = volume(&file, Ruleset::Unknown, 512);
    assert_eq!(v.offset_writes.len(), 1);
    assert_eq!(
        (v.offset_writes[0].at, v.offset_writes[0].value),
        (92, 2048)
    );
    let v = volume(&file, Ruleset::Unknown, 4096);
    assert_eq!((v.offset_writes[0].at, v.offset_writes[0].value), (92, 256));
    // No model: no implicit labels (what ubuntu-image does).
    assert!(v.structures.iter().all(|p| p.structure.label.is_none()));
}

#[test]
fn bare_structure_below_one_mib_keeps_its_offset() {
    let Some(file) = corpus_file("kubiko__imx-gadget__gadget.yaml") else {
        return;
    };
    for sector in [512, 4096] {
        let v = volume(&file, Ruleset::Uc20, sector);
        let p = places(&v);
        assert_eq!(p[0], ("#0".to_string(), 33792, 10451456));
        assert_eq!(p[1].1, 10485760);
        assert_eq!(p[4], ("ubuntu-data".to_string(), 761266176, 1000 * MIB));
        assert_eq!(v.structures[0].partition, None);
        assert_eq!(v.structures[1].partition, Some(1));
    }
}

#[test]
fn mbr_schema_and_legacy_rules() {
    let Some(pi) = corpus_file("canonical__pi-gadget__gadget.yaml") else {
        return;
    };
    let v = volume(&pi, Ruleset::Uc20, 512);
    assert_eq!(v.schema, snapsmith::plan::Schema::Mbr);
    let p = places(&v);
    assert_eq!(p[0].1, MIB);
    assert_eq!(p[1].1, 1201 * MIB);
    assert_eq!(p[3], ("ubuntu-data".to_string(), 1967 * MIB, 1500 * MIB));
    // dragonboard (UC16/18): implicit offsets start at 1M and accumulate; the label
    // system-boot implies the role system-boot under a model without grade.
    let Some(db) = corpus_file("canonical__dragonboard-gadget__gadget.yaml") else {
        return;
    };
    let v = volume(&db, Ruleset::Uc16, 512);
    let p = places(&v);
    assert_eq!(p[0].1, MIB);
    assert_eq!(p[7].1, 9 * MIB);
    assert_eq!(v.size, 137 * MIB);
    assert_eq!(v.structures[7].structure.role, Some(Role::SystemBoot));
    assert_eq!(
        volume(&db, Ruleset::Unknown, 512).structures[7]
            .structure
            .role,
        None
    );
}

#[test]
fn corpus_gadgets_pass_the_rules_of_their_model_kind() {
    let Some(files) = corpus_gadgets() else {
        return;
    };
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let plain = Gadget::parse(&text, Ruleset::Unknown).unwrap();
        // Gadgets with a seed are for models with a grade (UC20+), the others for UC16/18.
        let ruleset = if plain.structure_with_role(Role::SystemSeed).is_some() {
            Ruleset::Uc20
        } else {
            Ruleset::Uc16
        };
        let g = Gadget::parse(&text, ruleset).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if ruleset == Ruleset::Uc20 {
            let (_, seed) = g.structure_with_role(Role::SystemSeed).unwrap();
            assert_eq!(
                seed.label.as_deref(),
                Some("ubuntu-seed"),
                "{}",
                file.display()
            );
        }
    }
}
