//! `snapsmith gadget write`: gadgets with content become images that the canonical tools read
//! as the layout says: `sfdisk --json` (512-byte sectors), `fdisk -b 4096 -l` (4096), mtools for
//! vfat files, debugfs and e2fsck for ext4, raw bytes for the mbr blob and the offset-write.

mod support;

use serde_json::Value;
use snapsmith::exec::Cmd;
use std::path::{Path, PathBuf};
use support::fixtures::{MIB, cli_json, gadget_yaml, read_at, sfdisk_table, vfat_file, write_file};

const TOOLS: &[&str] = &["sfdisk", "fdisk", "mcopy", "debugfs", "e2fsck"];

fn gadget_tree(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_file(root, "meta/gadget.yaml", yaml.as_bytes());
    write_file(root, "boot.img", &[0xEB; 440]);
    write_file(
        root,
        "core.img",
        &(0..70_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    );
    write_file(
        root,
        "grubx64.efi",
        &(0..300_000u32).map(|i| (i % 241) as u8).collect::<Vec<_>>(),
    );
    write_file(root, "assets/grub.cfg", b"set timeout=3\n");
    std::os::unix::fs::symlink("grub.cfg", root.join("assets/grub.link")).unwrap();
    dir
}

fn gadget_write(gadget: &Path, out: &Path, extra: &[&str]) -> Vec<PathBuf> {
    let output = support::snapsmith()
        .args(["gadget", "write"])
        .arg(gadget)
        .arg("-O")
        .arg(out)
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect()
}

fn layout(gadget: &Path, sector: &str) -> Value {
    cli_json(
        &["gadget", "layout", "--json", "--sector-size", sector],
        gadget,
    )
}

/// The partitions of the layout (structures that are not bare nor the mbr blob), as
/// (start sector, sectors).
fn partitions(layout: &Value, sector: u64) -> Vec<(u64, u64)> {
    layout["volumes"][0]["structures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] != "bare" && s["role"] != "mbr")
        .map(|s| {
            (
                s["offset"].as_u64().unwrap() / sector,
                s["size"].as_u64().unwrap() / sector,
            )
        })
        .collect()
}

#[test]
fn gpt_gadget_image_matches_its_layout() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let gadget = gadget_tree(&gadget_yaml("write-gpt"));
    let out = tempfile::tempdir().unwrap();
    let images = gadget_write(gadget.path(), out.path(), &[]);
    assert_eq!(images, [out.path().join("pc.img")]);
    let image = &images[0];
    let table = sfdisk_table(image);
    assert_eq!(table["label"], "gpt");
    let found: Vec<_> = table["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["start"].as_u64().unwrap(), p["size"].as_u64().unwrap()))
        .collect();
    assert_eq!(found, partitions(&layout(gadget.path(), "512"), 512));
    let names: Vec<_> = table["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["BIOS Boot", "ubuntu-seed", "ubuntu-boot", "ubuntu-data"]
    );
    assert_eq!(
        table["partitions"][0]["type"],
        "21686148-6449-6E6F-744E-656564454649"
    );
    assert_eq!(
        table["partitions"][1]["type"],
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    );
    // Image = volume (1M + 1M + 40M + 16M + 16M) + backup GPT (33 sectors).
    assert_eq!(std::fs::metadata(image).unwrap().len(), 74 * MIB + 33 * 512);
    // mbr blob in bytes 0..440 except the offset-write at 92: BIOS Boot's LBA, 2048.
    let mbr = read_at(image, 0, 440);
    assert_eq!(&mbr[92..96], &2048u32.to_le_bytes());
    assert!(mbr[..92].iter().chain(&mbr[96..]).all(|b| *b == 0xEB));
    assert_eq!(
        read_at(image, MIB, 70_000),
        std::fs::read(gadget.path().join("core.img")).unwrap()
    );
    // vfat content, read back with mtools.
    let seed = 2 * MIB;
    assert_eq!(
        vfat_file(image, seed, "EFI/boot/bootx64.efi"),
        std::fs::read(gadget.path().join("grubx64.efi")).unwrap()
    );
    assert_eq!(
        vfat_file(image, seed, "EFI/ubuntu/grub.link"),
        b"set timeout=3\n",
        "vfat follows symlinks"
    );
    // ext4 content: `assets` without a slash is copied as a directory; the symlink is kept.
    let boot = 42 * MIB;
    let part = out.path().join("boot.ext4");
    std::fs::write(
        &part,
        read_at(image, boot, usize::try_from(16 * MIB).unwrap()),
    )
    .unwrap();
    Cmd::new("e2fsck").arg("-fn").arg(&part).run().unwrap();
    let cat = Cmd::new("debugfs")
        .args(["-R", "cat /assets/grub.cfg"])
        .arg(&part)
        .run_string()
        .unwrap();
    assert_eq!(cat, "set timeout=3\n");
    let stat = Cmd::new("debugfs")
        .args(["-R", "stat /assets/grub.link"])
        .arg(&part)
        .run_string()
        .unwrap();
    assert!(stat.contains("Fast link dest: \"grub.cfg\""), "{stat}");
    // Same inputs, same bytes.
    let again = tempfile::tempdir().unwrap();
    let second = gadget_write(gadget.path(), again.path(), &[]);
    assert!(
        std::fs::read(image).unwrap() == std::fs::read(&second[0]).unwrap(),
        "not reproducible"
    );
}

#[test]
fn gpt_gadget_with_4k_sectors() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let gadget = gadget_tree(&gadget_yaml("write-gpt"));
    let out = tempfile::tempdir().unwrap();
    let image = gadget_write(gadget.path(), out.path(), &["--sector-size", "4096"]).remove(0);
    assert_eq!(
        std::fs::metadata(&image).unwrap().len(),
        74 * MIB + 5 * 4096
    );
    let listing = Cmd::new("fdisk")
        .args(["-b", "4096", "-l"])
        .arg(&image)
        .run_string()
        .unwrap();
    for (start, size) in partitions(&layout(gadget.path(), "4096"), 4096) {
        let row = listing
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(&start.to_string()))
            .unwrap_or_else(|| panic!("no partition at sector {start}:\n{listing}"));
        assert_eq!(
            row.split_whitespace().nth(3),
            Some(size.to_string().as_str()),
            "{row}"
        );
    }
    assert_eq!(read_at(&image, 92, 4), 256u32.to_le_bytes());
}

#[test]
fn mbr_gadget_with_kernel_content() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let gadget = tempfile::tempdir().unwrap();
    write_file(
        gadget.path(),
        "meta/gadget.yaml",
        gadget_yaml("write-mbr").as_bytes(),
    );
    let kernel = tempfile::tempdir().unwrap();
    write_file(
        kernel.path(),
        "meta/kernel.yaml",
        b"assets:\n  dtbs:\n    content:\n      - dtbs/\n",
    );
    write_file(
        kernel.path(),
        "dtbs/broadcom/bcm2711-rpi-4-b.dtb",
        b"device tree",
    );
    let out = tempfile::tempdir().unwrap();
    let image = gadget_write(
        gadget.path(),
        out.path(),
        &["--kernel", kernel.path().to_str().unwrap()],
    )
    .remove(0);
    assert_eq!(image, out.path().join("pi.img"));
    let table = sfdisk_table(&image);
    assert_eq!(table["label"], "dos");
    let parts = table["partitions"].as_array().unwrap();
    let rows: Vec<_> = parts
        .iter()
        .map(|p| {
            (
                p["start"].as_u64().unwrap(),
                p["size"].as_u64().unwrap(),
                p["type"].as_str().unwrap(),
                p["bootable"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (2048, 81920, "c", false),
            (83968, 81920, "c", true),
            (165888, 32768, "83", false)
        ]
    );
    assert_eq!(
        std::fs::metadata(&image).unwrap().len(),
        97 * MIB,
        "no backup table on MBR"
    );
    assert_eq!(
        vfat_file(&image, MIB, "bcm2711-rpi-4-b.dtb"),
        b"device tree"
    );
}

#[test]
fn too_small_image_size_leaves_nothing_behind() {
    let gadget = gadget_tree(&gadget_yaml("write-gpt"));
    let out = tempfile::tempdir().unwrap();
    let result = support::snapsmith()
        .args(["gadget", "write", "--image-size", "64M", "-O"])
        .arg(out.path())
        .arg(gadget.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    let min = 74 * MIB + 33 * 512;
    assert!(stderr.contains(&format!("volume pc: image-size: requested image size {} (64 MiB) is too small: the volume needs at least {min} bytes", 64 * MIB)), "{stderr}");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "no file left behind"
    );
}

#[test]
fn requested_image_size_is_used() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let gadget = gadget_tree(&gadget_yaml("write-gpt"));
    let out = tempfile::tempdir().unwrap();
    let image = gadget_write(gadget.path(), out.path(), &["--image-size", "100M"]).remove(0);
    assert_eq!(std::fs::metadata(&image).unwrap().len(), 100 * MIB);
    // The backup GPT sits at the end of the larger image: sfdisk reads the table without
    // complaint and the last usable LBA reaches it.
    let table = sfdisk_table(&image);
    assert_eq!(table["lastlba"].as_u64().unwrap(), 100 * MIB / 512 - 34);
}
