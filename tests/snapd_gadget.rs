//! Gadget layout against snapd's own code: for every gadget.yaml of the corpus
//! (`$SNAPSMITH_CORPUS/gadgets`), of tests/fixtures/gadgets and of the example gadgets, `snapsmith gadget layout --json`
//! gives the offsets, sizes and volume sizes that snapd 2.57's `gadget.InfoFromGadgetYaml`,
//! `gadget.Validate` and `gadget.LayoutVolumePartially` give (through
//! `tests/snapd/snapd-check gadget-layout`), and refuses what snapd refuses.
//!
//! The rule classes where the two could part (structures listed out of offset order, offsets
//! not aligned to the sector size, where an `offset-write` may point, `partial`, newer roles)
//! are held case by case: each case either agrees with snapd or is a named [`Difference`],
//! explained, and checked to still differ (also listed in docs/gadget.md, "Differences from
//! snapd"). Where snapd 2.57 lacks a newer feature, snapsmith follows the newer snapd
//! (@bee548f7) and the case says so.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::snapd::{helper, snapd};

/// A laid-out volume as both sides report it: name, size, and (index, offset, size) of every
/// structure in offset order.
type View = Vec<(String, u64, Vec<(u64, u64, u64)>)>;

fn view_of(volumes: &Value) -> View {
    let mut out: View = volumes
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let structures = v["structures"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let n = |k: &str| s[k].as_u64().unwrap();
                    (n("index"), n("offset"), n("size"))
                })
                .collect();
            let name = v["name"].as_str().unwrap().to_string();
            (name, v["size"].as_u64().unwrap(), structures)
        })
        .collect();
    out.sort();
    out
}

/// snapd's layout, or its refusal.
fn snapd_view(helper: &Path, file: &Path) -> Result<View, String> {
    let out = snapd(helper, &[Path::new("gadget-layout"), file]).unwrap();
    let json: Value = serde_json::from_str(&out).unwrap();
    match json.get("error") {
        Some(e) => Err(e.as_str().unwrap().to_string()),
        None => Ok(view_of(&json["volumes"])),
    }
}

/// snapsmith's layout, or its refusal.
fn snapsmith_view(file: &Path) -> Result<View, String> {
    let out = support::snapsmith()
        .args(["gadget", "layout", "--json"])
        .arg(file)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok(view_of(&json["volumes"]))
}

fn gadget_files() -> Vec<PathBuf> {
    let mut dirs = vec![support::repo().join("tests/fixtures/gadgets")];
    if let Some(corpus) = support::corpus() {
        dirs.push(corpus.join("gadgets"));
    }
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    // The example gadgets of the repository (gadgets/NAME/meta/gadget.yaml).
    for e in std::fs::read_dir(support::repo().join("gadgets")).unwrap() {
        let yaml = e.unwrap().path().join("meta/gadget.yaml");
        if yaml.is_file() {
            files.push(yaml);
        }
    }
    files.sort();
    files
}

#[test]
fn corpus_and_fixture_gadgets_lay_out_as_snapd_does() {
    let Some(helper) = helper() else {
        return;
    };
    let files = gadget_files();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let (theirs, ours) = (snapd_view(&helper, &file), snapsmith_view(&file));
        match (&theirs, &ours) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", file.display()),
            (Err(_), Err(_)) => {}
            _ => panic!("{}: snapd {theirs:?}, snapsmith {ours:?}", file.display()),
        }
    }
}

/// Where snapsmith's layout deliberately parts from snapd 2.57's, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Difference {
    /// snapsmith refuses a partition whose offset or size is not a whole number of sectors
    /// (a partition table cannot express it); snapd 2.57's layout accepts it.
    UnalignedPartition,
    /// snapsmith, like the newer snapd, lets `offset-write` name only the first structure, at
    /// offset 0; snapd 2.57 accepts any named structure.
    OffsetWriteNotFromFirstStructure,
    /// snapsmith refuses an `offset-write` whose 4 bytes land in the partition table (MBR
    /// bytes 446..512, or the primary GPT); snapd 2.57 accepts it.
    OffsetWriteIntoPartitionTable,
    /// Both accept an `offset-write` beyond the last structure; snapd 2.57 grows the volume to
    /// hold the 4 bytes, snapsmith's volume size stays the end of the last structure.
    OffsetWriteBeyondVolume,
    /// snapsmith, like the newer snapd, knows the `system-seed-null` role; snapd 2.57 refuses
    /// it as unsupported.
    SeedNullRole,
}

impl Difference {
    /// Whether the two verdicts differ the way this class says.
    fn holds(self, snapd: &Result<View, String>, ours: &Result<View, String>) -> bool {
        match self {
            Difference::UnalignedPartition
            | Difference::OffsetWriteNotFromFirstStructure
            | Difference::OffsetWriteIntoPartitionTable => snapd.is_ok() && ours.is_err(),
            Difference::OffsetWriteBeyondVolume => match (snapd, ours) {
                (Ok(a), Ok(b)) => a[0].1 > b[0].1 && a[0].2 == b[0].2,
                _ => false,
            },
            Difference::SeedNullRole => snapd.is_err() && ours.is_ok(),
        }
    }
}

const LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
const MBR: &str = "mbr type:mbr offset:0 size:440";

/// A gadget.yaml with one volume `pc` (grub), extra volume keys and the given structures.
fn pc(volume_keys: &str, structures: &[String]) -> String {
    format!(
        "volumes:\n  pc:\n    bootloader: grub\n{volume_keys}    structure:\n{}",
        structures.concat()
    )
}

/// One structure from a compact form: `"NAME key:value ..."`; the type is a Linux-data GUID
/// unless a `type:` is given.
fn st(compact: &str) -> String {
    let mut words = compact.split_whitespace();
    let name = words.next().unwrap();
    let fields: Vec<(&str, &str)> = words.map(|w| w.split_once(':').unwrap()).collect();
    let ty = fields
        .iter()
        .find(|(k, _)| *k == "type")
        .map_or(LINUX, |f| f.1);
    let mut out = format!("      - name: {name}\n        type: {ty}\n");
    for (k, v) in fields.iter().filter(|(k, _)| *k != "type") {
        out += &format!("        {k}: {v}\n");
    }
    out
}

/// A GPT volume `pc` with extra volume keys and the structures in compact form.
fn gpt(volume_keys: &str, structures: &[&str]) -> String {
    pc(
        volume_keys,
        &structures.iter().map(|c| st(c)).collect::<Vec<_>>(),
    )
}

/// One rule-class case: what it is, extra volume keys, structures (compact form), and the
/// difference expected (None: snapsmith agrees with snapd 2.57).
struct Case(
    &'static str,
    &'static str,
    &'static [&'static str],
    Option<Difference>,
);

const B10: &str = "b offset:10M size:4M";
const A2: &str = "a offset:2M size:4M";

/// The rule-class cases.
#[rustfmt::skip]
const CASES: &[Case] = {
    use Difference::*;
    &[
        Case("explicit offsets listed out of order (snapd sorts)", "", &[B10, A2], None),
        Case("implicit offset after out-of-order ones fits a gap", "", &[B10, A2, "c size:4M"], None),
        Case("implicit offset after out-of-order ones overlaps", "", &[B10, A2, "c size:5M"], None),
        Case("explicit offset inside the previous structure", "", &["a size:8M", "b offset:2M size:1M"], None),
        Case("boot blob below 1 MiB", "", &["spl type:bare offset:33792 size:100000", "a size:4M"], None),
        Case("bare structure off sector boundaries", "", &["blob type:bare offset:1048577 size:1000"], None),
        Case("partition on 512-byte sectors", "", &["a offset:1049088 size:4M"], None),
        Case("partition offset off sector boundaries", "", &["a offset:1048577 size:4M"], Some(UnalignedPartition)),
        Case("partition size off sector boundaries", "", &["a size:1048577"], Some(UnalignedPartition)),
        Case("mbr not at offset 0", "", &["mbr type:mbr offset:512 size:440", "a size:4M"], None),
        Case("offset-write absolute", "", &["a size:4M offset-write:92"], None),
        Case("offset-write relative to the mbr", "", &[MBR, "a size:4M offset-write:mbr+92"], None),
        Case("offset-write relative to an unknown structure", "", &["a size:4M offset-write:nothere+92"], None),
        Case("offset-write relative to a partition", "", &["a size:4M", "b size:4M offset-write:a+92"], Some(OffsetWriteNotFromFirstStructure)),
        Case("offset-write into the partition table", "", &["a size:4M offset-write:500"], Some(OffsetWriteIntoPartitionTable)),
        Case("offset-write beyond the last structure", "", &["a size:4M offset-write:100M"], Some(OffsetWriteBeyondVolume)),
        Case("partial structure", "    partial: [structure]\n", &["a size:4M"], None),
        // The newer snapd accepts a missing size under `partial: [size]` and leaves it to install
        // time; snapsmith lays out the whole image at build time, so it refuses, as 2.57 does.
        Case("partial size without a size", "    partial: [size]\n", &["a size:4M", "b"], None),
        Case("system-seed-null role (newer snapd)", "", &["ubuntu-seed type:EF,C12A7328-F81F-11D2-BA4B-00A0C93EC93B role:system-seed-null filesystem:vfat size:100M"], Some(SeedNullRole)),
    ]
};

#[test]
fn layout_rule_classes_agree_with_snapd_or_differ_as_named() {
    let Some(helper) = helper() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for (i, Case(what, volume_keys, structures, expected)) in CASES.iter().enumerate() {
        let yaml = gpt(volume_keys, structures);
        let file = dir.path().join(format!("case{i}.yaml"));
        std::fs::write(&file, &yaml).unwrap();
        let (theirs, ours) = (snapd_view(&helper, &file), snapsmith_view(&file));
        let agree = match (&theirs, &ours) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        let fine = match *expected {
            None => agree,
            Some(class) => class.holds(&theirs, &ours),
        };
        if !fine {
            wrong.push(format!(
                "{what} (expected {expected:?}):\n{yaml}snapd: {theirs:?}\nsnapsmith: {ours:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n----\n"));
}
