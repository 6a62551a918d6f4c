//! `build --output-format qcow2|zst`: the converted image holds the raw image's bytes, read back
//! by the canonical tools (`qemu-img check` and `qemu-img compare` for qcow2, `zstd -d` for
//! zst), and two builds give the same bytes in every format (`--verify-reproducible`).

mod support;

use snapsmith::exec::Cmd;
use std::path::Path;
use support::Succeeds;
use support::build::{Kit, TOOLS, build, names_in};

fn built(kit: &Kit, format: &str) -> std::path::PathBuf {
    let out = kit.dir.path().join(format);
    build(&kit.snaps(), &out)
        .args([
            "--label",
            "dev",
            "--verify-reproducible",
            "--output-format",
            format,
        ])
        .ok_stdout();
    out
}

#[test]
fn converted_images_hold_the_raw_bytes_and_are_reproducible() {
    if !support::have_tools(TOOLS) || !support::have_tools(&["qemu-img", "zstd", "cmp"]) {
        return;
    }
    let kit = Kit::new();
    let raw = built(&kit, "raw").join("pc.img");
    let qcow2 = built(&kit, "qcow2");
    assert_eq!(
        names_in(&qcow2),
        ["manifest.json", "pc.img.bmap", "pc.qcow2"]
    );
    let image = qcow2.join("pc.qcow2");
    let check = Cmd::new("qemu-img")
        .arg("check")
        .arg(&image)
        .run_string()
        .unwrap();
    assert!(check.contains("No errors were found"), "{check}");
    Cmd::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "qcow2"])
        .arg(&raw)
        .arg(&image)
        .run()
        .expect("the qcow2 image holds the raw image's bytes");
    let zst = built(&kit, "zst");
    assert_eq!(
        names_in(&zst),
        ["manifest.json", "pc.img.bmap", "pc.img.zst"]
    );
    let unpacked = kit.dir.path().join("unpacked.img");
    Cmd::new("zstd")
        .args(["-q", "-d", "-o"])
        .arg(&unpacked)
        .arg(zst.join("pc.img.zst"))
        .run()
        .unwrap();
    Cmd::new("cmp").arg(&raw).arg(&unpacked).run().unwrap();
    // The manifest and bmap describe the raw bytes in every format.
    let same = |name: &str, dir: &Path| std::fs::read(dir.join(name)).unwrap();
    let raw_dir = raw.parent().unwrap();
    for dir in [&qcow2, &zst] {
        assert_eq!(same("manifest.json", dir), same("manifest.json", raw_dir));
        assert_eq!(same("pc.img.bmap", dir), same("pc.img.bmap", raw_dir));
    }
}

#[test]
fn qcow2_of_a_sparse_odd_sized_raw_file_reads_back_the_same() {
    if !support::have_tools(&["qemu-img"]) {
        return;
    }
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("odd.img");
    let file = std::fs::File::create(&raw).unwrap();
    let size = (1u64 << 30) + 123;
    file.set_len(size).unwrap();
    // The first cluster, both sides of the first L2 table's end (512 MiB), a cluster written
    // with zeros only, and the short last cluster.
    for (at, bytes) in [
        (0, &b"start"[..]),
        ((512 << 20) - 3, b"across"),
        (700 << 20, &[0u8; 4096][..]),
        (size - 2, b"ed"),
    ] {
        file.write_all_at(bytes, at).unwrap();
    }
    let qcow2 = dir.path().join("odd.qcow2");
    snapsmith::build::qcow2::write(&raw, &qcow2).unwrap();
    let check = Cmd::new("qemu-img")
        .arg("check")
        .arg(&qcow2)
        .run_string()
        .unwrap();
    assert!(check.contains("No errors were found"), "{check}");
    // start; across, in two clusters; ed. The zeros are not stored.
    assert!(
        check.lines().any(|l| l.starts_with("4/")),
        "four data clusters allocated: {check}"
    );
    Cmd::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "qcow2"])
        .arg(&raw)
        .arg(&qcow2)
        .run()
        .unwrap();
}
