//! `snapsmith build --verify-reproducible`: two builds of the same inputs are byte-identical
//! (every output: images, manifest, bmaps), and a difference is named by file, byte and
//! structure.

mod support;

use predicates::str::contains;
use snapsmith::qemu::diskread;
use std::os::unix::fs::FileExt;
use support::Succeeds;
use support::build::{Kit, TOOLS, build};

#[test]
fn a_second_build_is_byte_identical_and_a_difference_is_located() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    build(&kit.snaps(), &out)
        .args(["--label", "dev", "--verify-reproducible"])
        .ok_stdout();
    assert_eq!(
        support::build::names_in(&out),
        ["manifest.json", "pc.img", "pc.img.bmap"],
        "no scratch directory left behind"
    );
    // An earlier output with one byte changed inside ubuntu-seed.
    let image = out.join("pc.img");
    let seed = diskread::partitions(&image)
        .unwrap()
        .into_iter()
        .find(|p| p.name == "ubuntu-seed")
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&image)
        .unwrap();
    file.write_all_at(&[0x5a], seed.offset + 4096 + 17).unwrap();
    let again = kit.dir.path().join("again");
    build(&kit.snaps(), &again)
        .args(["--label", "dev", "--verify-reproducible", "--against"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains(format!(
            "not reproducible: pc.img differs first at byte {}, in structure ubuntu-seed at offset {} into it",
            seed.offset + 4096 + 17,
            4096 + 17
        )));
}
