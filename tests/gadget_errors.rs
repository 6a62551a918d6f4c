//! Bad gadgets are refused by `snapsmith gadget layout` with exit code 1 and one message that
//! names the file, the volume, the structure and the field.

mod support;

use std::path::Path;
use tempfile::TempDir;

/// A gadget source directory holding `yaml` as meta/gadget.yaml.
fn gadget_dir(yaml: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::fixtures::write_file(dir.path(), "meta/gadget.yaml", yaml.as_bytes());
    dir
}

/// Runs `gadget layout` on `path`; asserts exit 1 and that stderr holds every `needle`.
fn refused(path: &Path, extra: &[&str], needles: &[&str]) {
    let out = support::snapsmith()
        .args(["gadget", "layout"])
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
    assert_eq!(stderr.matches("error:").count(), 1, "one error: {stderr}");
}

/// A volume `pc` with the given structure list (YAML, indented for the list).
fn pc(structures: &str) -> String {
    format!("volumes:\n  pc:\n    bootloader: grub\n    structure:\n{structures}")
}

const DATA: &str =
    "      - name: data\n        type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4\n        size: 8M\n";

#[test]
fn overlapping_structures() {
    let yaml = pc(&format!(
        "{DATA}      - name: other\n        type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4\n        offset: 2M\n        size: 1M\n"
    ));
    let dir = gadget_dir(&yaml);
    refused(
        dir.path(),
        &[],
        &[
            "meta/gadget.yaml",
            "volume pc: structure other: offset:",
            "overlaps structure data (1048576..9437184)",
        ],
    );
}

#[test]
fn two_bootloaders() {
    let yaml = format!(
        "{}  more:\n    bootloader: u-boot\n    structure:\n{DATA}",
        pc(DATA)
    );
    let dir = gadget_dir(&yaml);
    refused(
        dir.path(),
        &[],
        &["volume more: bootloader: a second bootloader (volume pc already declares one)"],
    );
}

#[test]
fn duplicate_roles() {
    let two = format!(
        "{}{}",
        DATA.replace("size: 8M", "size: 8M\n        role: system-data"),
        DATA.replace("name: data", "name: data2")
            .replace("size: 8M", "size: 8M\n        role: system-data")
    );
    let dir = gadget_dir(&pc(&two));
    refused(
        dir.path(),
        &[],
        &["volume pc: structure data2: role: duplicate role system-data"],
    );
}

#[test]
fn mbr_blob_over_446_bytes() {
    let yaml = pc(&format!(
        "      - name: mbr\n        type: mbr\n        size: 512\n{DATA}"
    ));
    let dir = gadget_dir(&yaml);
    refused(
        dir.path(),
        &[],
        &["volume pc: structure mbr: size:", "more than the 446 bytes"],
    );
    // A blob file larger than its 440-byte structure does not fit either.
    let yaml = pc(&format!(
        "      - name: mbr\n        type: mbr\n        size: 440\n        content:\n          - image: mbr.img\n{DATA}"
    ));
    let dir = gadget_dir(&yaml);
    std::fs::write(dir.path().join("mbr.img"), [0u8; 446]).unwrap();
    refused(
        dir.path(),
        &[],
        &[
            "structure mbr: content[0].image:",
            "does not fit",
            "6 bytes too many",
        ],
    );
}

fn with_content(source: &str) -> String {
    pc(&format!(
        "      - name: seed\n        type: C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n        filesystem: vfat\n        size: 2M\n        content:\n          - source: {source}\n            target: /\n"
    ))
}

#[test]
fn content_source_missing() {
    let dir = gadget_dir(&with_content("grubx64.efi"));
    refused(
        dir.path(),
        &[],
        &[
            "volume pc: structure seed: content[0].source:",
            "\"grubx64.efi\" does not exist",
        ],
    );
}

#[test]
fn content_source_escaping_the_tree() {
    let dir = gadget_dir(&with_content("../outside"));
    refused(
        dir.path(),
        &[],
        &[
            "structure seed: content[0].source:",
            "escapes the gadget tree",
        ],
    );
    let dir = gadget_dir(&with_content("/etc/hostname"));
    refused(
        dir.path(),
        &[],
        &["structure seed: content[0].source:", "is absolute"],
    );
}

#[test]
fn content_symlinks_pointing_out() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "x").unwrap();
    // A symlinked directory on the way out.
    let dir = gadget_dir(&with_content("linked/secret"));
    std::os::unix::fs::symlink(outside.path(), dir.path().join("linked")).unwrap();
    refused(
        dir.path(),
        &[],
        &[
            "content[0].source:",
            "leads outside the gadget tree through a symlink",
        ],
    );
    // A symlink inside a copied directory.
    let dir = gadget_dir(&with_content("assets/"));
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("assets/s")).unwrap();
    refused(
        dir.path(),
        &[],
        &["content[0].source:", "points outside the gadget tree"],
    );
    // A relative symlink climbing out.
    let dir = gadget_dir(&with_content("assets/"));
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::os::unix::fs::symlink("../../x", dir.path().join("assets/s")).unwrap();
    refused(dir.path(), &[], &["points outside the gadget tree"]);
}

#[test]
fn content_larger_than_its_filesystem() {
    let dir = gadget_dir(&with_content("big.bin"));
    let file = std::fs::File::create(dir.path().join("big.bin")).unwrap();
    file.set_len(3 << 20).unwrap();
    refused(
        dir.path(),
        &[],
        &[
            "volume pc: structure seed: content:",
            "needs about 3 MiB but the 2 MiB vfat filesystem holds about",
            "too much)",
        ],
    );
}

#[test]
fn bad_size_suffix() {
    let dir = gadget_dir(&pc(&DATA.replace("size: 8M", "size: 8K")));
    refused(
        dir.path(),
        &[],
        &["volume pc: structure data: size: invalid size \"8K\""],
    );
    let dir = gadget_dir(&pc(&DATA.replace("size: 8M", "size: 1.5M")));
    refused(
        dir.path(),
        &[],
        &["structure data: size: invalid size \"1.5M\""],
    );
}

#[test]
fn emmc_is_not_supported() {
    let yaml = format!(
        "{}  boot0:\n    schema: emmc\n    structure:\n{DATA}",
        pc(DATA)
    );
    let dir = gadget_dir(&yaml);
    refused(
        dir.path(),
        &[],
        &["volume boot0: schema: emmc volumes are not supported"],
    );
}

#[test]
fn structure_in_the_gpt_header_area() {
    let yaml = pc(&DATA.replace("size: 8M", "size: 8M\n        offset: 8192"));
    let dir = gadget_dir(&yaml);
    refused(
        dir.path(),
        &[],
        &[
            "structure data: offset:",
            "overlaps the GPT header and partition entries (the first 17408 bytes",
        ],
    );
    // Fine with 512-byte sectors at 20480, but not with 4096-byte ones (24576 bytes of GPT).
    let yaml = pc(&DATA.replace("size: 8M", "size: 8M\n        offset: 20480"));
    let dir = gadget_dir(&yaml);
    refused(
        dir.path(),
        &["--sector-size", "4096"],
        &["the first 24576 bytes with 4096-byte sectors"],
    );
}

#[test]
fn partition_not_on_a_4k_sector() {
    let yaml = pc(&DATA.replace("size: 8M", "size: 8M\n        offset: 1049088"));
    let dir = gadget_dir(&yaml);
    refused(
        dir.path(),
        &["--sector-size", "4096"],
        &["structure data: offset: 1049088 is not a multiple of the 4096-byte sector size"],
    );
}

#[test]
fn a_bare_gadget_yaml_file_is_named_in_errors() {
    let dir = gadget_dir(&pc(
        &DATA.replace("type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4", "type: 83")
    ));
    let file = dir.path().join("meta/gadget.yaml");
    refused(
        &file,
        &[],
        &[
            "gadget.yaml: volume pc: structure data: type: MBR partition type \"83\" in a volume with schema gpt",
        ],
    );
}

#[test]
fn raw_images_that_do_not_fit() {
    let raw = |entries: &str| {
        pc(&format!(
            "      - name: blobs\n        type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4\n        size: 1M\n        content:\n{entries}"
        ))
    };
    let a = "          - image: a.bin\n";
    let setup = |yaml: &str| {
        let dir = gadget_dir(yaml);
        std::fs::write(dir.path().join("a.bin"), vec![1u8; 5000]).unwrap();
        dir
    };
    let dir = setup(&raw(&format!("{a}            size: 4096\n")));
    refused(
        dir.path(),
        &[],
        &["structure blobs: content[0].size: 4096 is smaller than \"a.bin\" (5000 bytes)"],
    );
    let dir = setup(&raw(&format!("{a}{a}            offset: 4096\n")));
    refused(
        dir.path(),
        &[],
        &[
            "structure blobs: content[1].image: \"a.bin\" overlaps",
            "(0..5000)",
        ],
    );
    let dir = setup(&raw(&format!("{a}            offset: 1045000\n")));
    refused(
        dir.path(),
        &[],
        &[
            "content[0].image: \"a.bin\" (5000 bytes at offset 1045000) does not fit in the structure's 1048576 bytes (1424 bytes too many)",
        ],
    );
}

#[test]
fn writing_needs_the_gadget_tree() {
    let dir = gadget_dir(&pc(DATA));
    let out = tempfile::tempdir().unwrap();
    let result = support::snapsmith()
        .args(["gadget", "write", "-O"])
        .arg(out.path())
        .arg(dir.path().join("meta/gadget.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("writing images needs the gadget's tree"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn kernel_command_line_files() {
    let dir = gadget_dir(&pc(DATA));
    std::fs::write(dir.path().join("cmdline.extra"), "# quiet boot\nquiet\n").unwrap();
    std::fs::write(dir.path().join("cmdline.full"), "console=ttyS0\n").unwrap();
    refused(
        dir.path(),
        &[],
        &["ships both cmdline.extra and cmdline.full"],
    );
    std::fs::remove_file(dir.path().join("cmdline.full")).unwrap();
    let files = snapsmith::gadget::extras::cmdline_file(dir.path()).unwrap();
    assert_eq!(
        files,
        Some(snapsmith::gadget::extras::CmdlineFile::Extra(vec![
            "quiet".into()
        ]))
    );
    std::fs::write(dir.path().join("cmdline.extra"), "quiet init=/bin/sh\n").unwrap();
    refused(
        dir.path(),
        &[],
        &["cmdline.extra: \"init\" may not be set by a gadget"],
    );
    // snapsmith's own arguments (the boot disk's identity above all) are the boot's to set.
    std::fs::write(
        dir.path().join("cmdline.extra"),
        "snapsmith.disk=00000000-0000-0000-0000-000000000001\n",
    )
    .unwrap();
    refused(
        dir.path(),
        &[],
        &["cmdline.extra: \"snapsmith.disk\" may not be set by a gadget"],
    );
    // A link out of the gadget tree is not read.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("args"), "quiet\n").unwrap();
    std::fs::remove_file(dir.path().join("cmdline.extra")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("args"),
        dir.path().join("cmdline.extra"),
    )
    .unwrap();
    refused(
        dir.path(),
        &[],
        &["cmdline.extra: not a file of the gadget tree"],
    );
}
