//! The bridge from a gadget to an `ImagePlan`: partition entries, identifiers, filesystem trees
//! built with the spec's copy rules, raw images, offset writes and image sizes.

mod support;

use snapsmith::gadget::content::Trees;
use snapsmith::gadget::{self, PlanOptions, Role, Ruleset};
use snapsmith::plan::{
    DiskId, FileSource, FsKind, ImagePlan, PartitionKind, StructureContent, StructurePlan,
};
use std::path::Path;
use support::fixtures::{MIB, gadget_yaml, write_file};
use tempfile::TempDir;

fn gpt_gadget() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_file(root, "meta/gadget.yaml", gadget_yaml("plan-gpt").as_bytes());
    write_file(root, "mbr.img", &[0xAA; 440]);
    write_file(root, "core-a.img", &[1; 3000]);
    write_file(root, "core-b.img", &[2; 5000]);
    write_file(root, "grubx64.efi", b"grub");
    write_file(root, "assets/a.txt", b"a");
    write_file(root, "assets/sub/b.txt", b"b");
    std::os::unix::fs::symlink("a.txt", root.join("assets/alias")).unwrap();
    std::os::unix::fs::symlink("grubx64.efi", root.join("link-to-grub")).unwrap();
    dir
}

fn plan(dir: &Path, opts: &PlanOptions) -> anyhow::Result<ImagePlan> {
    let loaded = gadget::load(dir, opts.ruleset)?;
    gadget::image_plan(
        &loaded,
        Trees {
            gadget: dir,
            kernel: None,
        },
        opts,
    )
}

fn uc20() -> PlanOptions {
    PlanOptions {
        ruleset: Ruleset::Uc20,
        ..PlanOptions::default()
    }
}

fn by_name<'a>(plan: &'a ImagePlan, name: &str) -> &'a StructurePlan {
    plan.volumes[0]
        .structures
        .iter()
        .find(|s| s.name == name)
        .unwrap()
}

fn files(s: &StructurePlan) -> Vec<(String, FileSource)> {
    match &s.content {
        StructureContent::Filesystem(fs) => fs
            .files
            .iter()
            .map(|f| (f.path.clone(), f.source.clone()))
            .collect(),
        other => panic!("not a filesystem: {other:?}"),
    }
}

#[test]
fn gpt_partitions_ids_and_sizes() {
    let dir = gpt_gadget();
    let plan = plan(dir.path(), &uc20()).unwrap();
    let v = &plan.volumes[0];
    assert_eq!(v.size, 30 * MIB + 33 * 512);
    let numbers: Vec<_> = v
        .structures
        .iter()
        .map(|s| s.partition.as_ref().map(|p| p.number))
        .collect();
    assert_eq!(numbers, [None, Some(1), Some(2), Some(3), Some(4), Some(5)]);
    let Some(PartitionKind::Gpt {
        type_guid, name, ..
    }) = by_name(&plan, "BIOS Boot")
        .partition
        .as_ref()
        .map(|p| &p.kind)
    else {
        panic!("gpt entry expected");
    };
    // The hybrid type uses its GUID half on GPT.
    assert_eq!(
        type_guid.to_string().to_uppercase(),
        "21686148-6449-6E6F-744E-656564454649"
    );
    assert_eq!(name, "BIOS Boot");
    let unique = |n: &str| match &by_name(&plan, n).partition.as_ref().unwrap().kind {
        PartitionKind::Gpt { unique_guid, .. } => *unique_guid,
        _ => unreachable!(),
    };
    // The gadget's id wins; others are derived, distinct and stable.
    assert_eq!(
        unique("ubuntu-boot").to_string(),
        "11111111-2222-3333-4444-555555555555"
    );
    assert_ne!(unique("ubuntu-seed"), unique("ubuntu-data"));
    let again = self::plan(dir.path(), &uc20()).unwrap();
    assert_eq!(plan, again, "same inputs, same plan");
    let other = self::plan(
        dir.path(),
        &PlanOptions {
            id_seed: b"another device".to_vec(),
            ..uc20()
        },
    )
    .unwrap();
    assert_ne!(plan.volumes[0].disk_id, other.volumes[0].disk_id);
    assert!(matches!(plan.volumes[0].disk_id, DiskId::Gpt(_)));
    // offset-write: LBA of BIOS Boot (1M / 512) at byte 92.
    assert_eq!(
        (v.offset_writes[0].at, v.offset_writes[0].value),
        (92, 2048)
    );
}

#[test]
fn implicit_labels_need_a_grade() {
    let dir = gpt_gadget();
    let label = |p: &ImagePlan, n: &str| match &by_name(p, n).content {
        StructureContent::Filesystem(fs) => fs.label.clone(),
        _ => unreachable!(),
    };
    let with = plan(dir.path(), &uc20()).unwrap();
    assert_eq!(label(&with, "ubuntu-seed").as_deref(), Some("ubuntu-seed"));
    assert_eq!(label(&with, "ubuntu-data").as_deref(), Some("ubuntu-data"));
    let without = plan(dir.path(), &PlanOptions::default()).unwrap();
    assert_eq!(label(&without, "ubuntu-seed"), None);
}

#[test]
fn raw_images_back_to_back_unless_offset() {
    let dir = gpt_gadget();
    let plan = plan(dir.path(), &uc20()).unwrap();
    let StructureContent::Raw(images) = &by_name(&plan, "BIOS Boot").content else {
        panic!()
    };
    let placed: Vec<_> = images
        .iter()
        .map(|i| {
            (
                i.source.file_name().unwrap().to_str().unwrap(),
                i.offset,
                i.size,
            )
        })
        .collect();
    assert_eq!(
        placed,
        [("core-a.img", 0, 3000), ("core-b.img", 4096, 5000)]
    );
    let StructureContent::Raw(mbr) = &by_name(&plan, "mbr").content else {
        panic!()
    };
    assert_eq!((mbr[0].offset, mbr[0].size), (0, 440));
    assert!(by_name(&plan, "mbr").partition.is_none());
}

#[test]
fn copy_rules_for_files_dirs_and_symlinks() {
    let dir = gpt_gadget();
    let root = dir.path();
    let plan = plan(root, &uc20()).unwrap();
    let seed = files(by_name(&plan, "ubuntu-seed"));
    let paths: Vec<_> = seed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "EFI",
            "EFI/boot",
            "EFI/boot/bootx64.efi",
            "EFI/linked.efi",
            "EFI/ubuntu",
            "EFI/ubuntu/grubx64.efi",
            "a.txt",
            "alias",
            "copy",
            "copy/assets",
            "copy/assets/a.txt",
            "copy/assets/alias",
            "copy/assets/sub",
            "copy/assets/sub/b.txt",
            "sub",
            "sub/b.txt",
        ]
    );
    let get = |list: &[(String, FileSource)], p: &str| {
        list.iter().find(|(q, _)| q == p).unwrap().1.clone()
    };
    // vfat: symlinks are followed to their (in-tree) target.
    assert_eq!(
        get(&seed, "alias"),
        FileSource::File(root.join("assets/a.txt").canonicalize().unwrap())
    );
    assert_eq!(
        get(&seed, "EFI/linked.efi"),
        FileSource::File(root.join("grubx64.efi").canonicalize().unwrap())
    );
    assert_eq!(get(&seed, "sub"), FileSource::Directory);
    // ext4: symlinks are recreated as they are.
    let boot = files(by_name(&plan, "ubuntu-boot"));
    assert_eq!(get(&boot, "alias"), FileSource::Symlink("a.txt".into()));
    assert_eq!(
        get(&boot, "sub/b.txt"),
        FileSource::File(root.join("assets/sub/b.txt"))
    );
}

#[test]
fn later_stages_add_files_to_a_role() {
    let dir = gpt_gadget();
    let mut plan = plan(dir.path(), &uc20()).unwrap();
    let fs = gadget::filesystem_for_role(&mut plan, Role::SystemSeed).unwrap();
    assert_eq!(fs.kind, FsKind::Vfat);
    gadget::add_file(
        fs,
        "systems/20260101/model",
        FileSource::Bytes(b"model".to_vec()),
    )
    .unwrap();
    let paths: Vec<_> = fs.files.iter().map(|f| f.path.as_str()).collect();
    let i = paths.iter().position(|p| *p == "systems").unwrap();
    assert_eq!(
        &paths[i..i + 3],
        ["systems", "systems/20260101", "systems/20260101/model"]
    );
    assert!(gadget::add_file(fs, "../x", FileSource::Directory).is_err());
    gadget::check_plan_fit(&plan).unwrap();
    // 9 MiB of generated files do not fit the 8 MiB seed.
    let fs = gadget::filesystem_for_role(&mut plan, Role::SystemSeed).unwrap();
    gadget::add_file(fs, "big", FileSource::Bytes(vec![0; 9 << 20])).unwrap();
    let err = gadget::check_plan_fit(&plan).unwrap_err().to_string();
    assert!(
        err.starts_with("volume pc: structure ubuntu-seed: content: needs about 9"),
        "{err}"
    );
    assert!(gadget::filesystem_for_role(&mut plan, Role::SystemBootState).is_none());
}

#[test]
fn requested_image_size() {
    let dir = gpt_gadget();
    let min = 30 * MIB + 33 * 512;
    let opts = |size| PlanOptions {
        image_size: Some(size),
        ..uc20()
    };
    let err = format!("{:#}", plan(dir.path(), &opts(min - 512)).unwrap_err());
    assert!(
        err.contains("volume pc: image-size: requested image size"),
        "{err}"
    );
    assert!(
        err.contains(&format!("too small: the volume needs at least {min} bytes")),
        "{err}"
    );
    assert_eq!(plan(dir.path(), &opts(min)).unwrap().volumes[0].size, min);
    // Rounded up to a whole sector.
    assert_eq!(
        plan(dir.path(), &opts(64 * MIB + 1)).unwrap().volumes[0].size,
        64 * MIB + 512
    );
}

#[test]
fn mbr_types_bootable_flag_and_kernel_assets() {
    let gadget_dir = tempfile::tempdir().unwrap();
    write_file(
        gadget_dir.path(),
        "meta/gadget.yaml",
        gadget_yaml("plan-mbr").as_bytes(),
    );
    write_file(gadget_dir.path(), "boot-assets/config.txt", b"cfg");
    let kernel = tempfile::tempdir().unwrap();
    write_file(
        kernel.path(),
        "meta/kernel.yaml",
        b"assets:\n  dtbs:\n    update: true\n    content:\n      - dtbs/\n",
    );
    write_file(kernel.path(), "dtbs/broadcom/bcm2711-rpi-4-b.dtb", b"dtb");
    let loaded = gadget::load(gadget_dir.path(), Ruleset::Uc20).unwrap();
    let trees = |k| Trees {
        gadget: gadget_dir.path(),
        kernel: k,
    };
    let err = format!(
        "{:#}",
        gadget::image_plan(&loaded, trees(None), &uc20()).unwrap_err()
    );
    assert!(
        err.contains("structure ubuntu-seed: content[0].source:")
            && err.contains("no kernel snap was given"),
        "{err}"
    );
    let plan = gadget::image_plan(&loaded, trees(Some(kernel.path())), &uc20()).unwrap();
    let v = &plan.volumes[0];
    assert!(matches!(v.disk_id, DiskId::Mbr(_)));
    assert_eq!(v.size, 25 * MIB, "no GPT backup area on MBR");
    let kinds: Vec<_> = v
        .structures
        .iter()
        .map(|s| s.partition.as_ref().unwrap().kind.clone())
        .collect();
    assert_eq!(
        kinds,
        [
            PartitionKind::Mbr {
                type_byte: 0x0C,
                bootable: false
            },
            PartitionKind::Mbr {
                type_byte: 0x0C,
                bootable: true
            },
            PartitionKind::Mbr {
                type_byte: 0x83,
                bootable: false
            },
        ]
    );
    let seed: Vec<_> = files(&v.structures[0])
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(seed, ["bcm2711-rpi-4-b.dtb", "config.txt"]);
}

#[test]
fn the_whole_tree_can_be_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "volumes:\n  pc:\n    bootloader: grub\n    structure:\n      - name: boot\n        type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4\n        filesystem: ext4\n        size: 8M\n        content:\n          - source: ./\n            target: /copy/\n";
    write_file(dir.path(), "meta/gadget.yaml", yaml.as_bytes());
    let plan = plan(dir.path(), &PlanOptions::default()).unwrap();
    let paths: Vec<_> = files(&plan.volumes[0].structures[0])
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(paths, ["copy", "copy/meta", "copy/meta/gadget.yaml"]);
}
