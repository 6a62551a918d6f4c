//! The `.bmap` beside each image, read by the canonical tool: `bmaptool copy` writes the image
//! from its block map byte for byte (verifying every range's SHA-256 and the bmap's own
//! checksum as it goes), and refuses a bmap whose range digest was changed.

mod support;

use snapsmith::exec::Cmd;
use support::Succeeds;
use support::build::{Kit, build};

const TOOLS: &[&str] = &["bmaptool", "mksquashfs", "mkfs.vfat", "mke2fs", "cmp"];

#[test]
fn bmaptool_copies_the_image_from_its_bmap() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    build(&kit.snaps(), &out)
        .args(["--label", "dev"])
        .ok_stdout();
    let (image, bmap) = (out.join("pc.img"), out.join("pc.img.bmap"));
    let copy = kit.dir.path().join("copy.img");
    let copied = |bmap: &std::path::Path| {
        let _ = std::fs::remove_file(&copy);
        Cmd::new("bmaptool")
            .arg("copy")
            .arg("--bmap")
            .arg(bmap)
            .arg(&image)
            .arg(&copy)
            .run()
    };
    copied(&bmap).unwrap();
    Cmd::new("cmp").arg(&image).arg(&copy).run().unwrap();
    let text = std::fs::read_to_string(&bmap).unwrap();
    let mapped: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("<MappedBlocksCount> "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let size = std::fs::metadata(&image).unwrap().len();
    assert!(
        mapped * 4096 < size / 2,
        "the map skips the zeros: {mapped} blocks of {size} bytes"
    );
    // One range's digest changed (the bmap's own checksum left as it was): refused.
    let at = text.find("chksum=\"").unwrap() + 8;
    let flipped = if &text[at..=at] == "0" { "1" } else { "0" };
    let tampered = kit.dir.path().join("tampered.bmap");
    std::fs::write(
        &tampered,
        format!("{}{flipped}{}", &text[..at], &text[at + 1..]),
    )
    .unwrap();
    assert!(
        copied(&tampered).is_err(),
        "bmaptool accepted a changed bmap"
    );
}
