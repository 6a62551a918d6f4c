//! Gadgets to images: the example gadget and every corpus gadget.yaml are laid out by the
//! gadget module, written by the disk writer and read back with sfdisk, fsck and inspect.

mod support;

use snapsmith::gadget::content::Trees;
use snapsmith::gadget::{self, Content, PlanOptions, Ruleset};
use snapsmith::inspect::{TableKind, inspect};
use snapsmith::plan::{ImagePlan, Schema, StructureContent};
use std::path::Path;
use support::disk::*;
use support::fixtures::{gadget_yaml, vfat_file, write_file};

fn write_plan(plan: &ImagePlan, out: &Path) -> Vec<std::path::PathBuf> {
    let opts = snapsmith::disk::WriteOptions::new(1_700_000_000);
    snapsmith::disk::check(plan)
        .and_then(|plan| snapsmith::disk::write_image(plan, out, &opts))
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// inspect agrees with the plan on every partition, and every filesystem is recognised.
fn check_against_plan(plan: &ImagePlan, images: &[std::path::PathBuf]) {
    for (volume, image) in plan.volumes.iter().zip(images) {
        let report = inspect(image).unwrap_or_else(|e| panic!("{e:#}"));
        let table = report.table.as_ref().expect("a partition table");
        let kind = match volume.schema {
            Schema::Gpt => TableKind::Gpt,
            Schema::Mbr => TableKind::Mbr,
        };
        assert_eq!(table.kind, kind, "{}", volume.name);
        let planned = planned_partitions(volume);
        assert_eq!(report.partitions.len(), planned.len(), "{}", volume.name);
        for (p, s) in report.partitions.iter().zip(planned) {
            assert_eq!((p.offset, p.size), (s.offset, s.size), "{}", s.name);
            let found = p.filesystem.as_ref().map(|f| f.kind.as_str());
            match &s.content {
                StructureContent::Filesystem(fs) => {
                    let expected = match fs.kind {
                        snapsmith::plan::FsKind::Ext4 => "ext4",
                        _ => "vfat",
                    };
                    assert_eq!(found, Some(expected), "{}", s.name);
                    let label = p.filesystem.as_ref().and_then(|f| f.label.clone());
                    assert_eq!(label, fs.label, "{}", s.name);
                }
                _ => assert_eq!(found, None, "{}", s.name),
            }
        }
        if volume.schema == Schema::Gpt && volume.sector_size.bytes() == 512 {
            let verify = run("sfdisk", &["--verify", image.to_str().unwrap()]);
            assert!(verify.contains("No errors detected"), "{verify}");
        }
    }
}

#[test]
fn example_gadget_becomes_a_clean_image() {
    if !support::have_tools(&["sfdisk", "fsck.vfat", "e2fsck", "mke2fs", "debugfs"]) {
        return;
    }
    let dir = support::repo().join("gadgets/pc");
    for sector_size in [512, 4096] {
        let loaded = gadget::load(&dir, Ruleset::Uc20).unwrap();
        let opts = PlanOptions {
            sector_size,
            ruleset: Ruleset::Uc20,
            ..PlanOptions::default()
        };
        let trees = Trees {
            gadget: &dir,
            kernel: None,
        };
        let plan = gadget::image_plan(&loaded, trees, &opts).unwrap();
        let out = tempfile::tempdir().unwrap();
        let images = write_plan(&plan, out.path());
        check_against_plan(&plan, &images);
        for s in &plan.volumes[0].structures {
            let StructureContent::Filesystem(fs) = &s.content else {
                continue;
            };
            match fs.kind {
                snapsmith::plan::FsKind::Ext4 => e2fsck(&images[0], s.offset, s.size),
                _ => fsck_vfat(&images[0], s.offset, s.size),
            }
        }
    }
}

/// Every corpus gadget's layout (content left out: the corpus has only the YAML) is written
/// and read back.
#[test]
fn corpus_gadgets_become_images() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    if !support::have_tools(&["sfdisk", "mke2fs", "debugfs"]) {
        return;
    }
    let mut written = 0;
    let mut files: Vec<_> = std::fs::read_dir(corpus.join("gadgets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let empty = tempfile::tempdir().unwrap();
    for path in files {
        let mut plan = None;
        for ruleset in [Ruleset::Uc20, Ruleset::Uc16, Ruleset::Unknown] {
            let Ok(mut loaded) = gadget::load(&path, ruleset) else {
                continue;
            };
            for volume in &mut loaded.gadget.volumes {
                for s in &mut volume.structures {
                    s.content = match s.content {
                        Content::Files(_) => Content::Files(vec![]),
                        Content::Images(_) => Content::Images(vec![]),
                    };
                }
            }
            let opts = PlanOptions {
                ruleset,
                ..PlanOptions::default()
            };
            let trees = Trees {
                gadget: empty.path(),
                kernel: None,
            };
            if let Ok(p) = gadget::image_plan(&loaded, trees, &opts) {
                plan = Some(p);
                break;
            }
        }
        let plan = plan.unwrap_or_else(|| panic!("{}: no rule set plans it", path.display()));
        let out = tempfile::tempdir().unwrap();
        let images = write_plan(&plan, out.path());
        check_against_plan(&plan, &images);
        written += images.len();
    }
    assert!(written >= 6, "only {written} images written");
}

/// A gadget with content (raw images, copy rules, symlinks) for both schemas' worth of
/// sector sizes: the files land where the copy rules say, byte-identical.
#[test]
fn gadget_content_lands_in_the_image() {
    if !support::have_tools(&["fsck.vfat", "e2fsck", "mcopy", "debugfs", "mke2fs"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let put = |rel: &str, bytes: &[u8]| write_file(root, rel, bytes);
    put("meta/gadget.yaml", gadget_yaml("content").as_bytes());
    put("mbr.img", &pattern(440, 5));
    put("core.img", &pattern(30_000, 6));
    put("grubx64.efi", &pattern(200_000, 7));
    put("assets/grub.cfg", b"set timeout=0\n");
    put("assets/sub/deep.txt", b"deep");
    std::os::unix::fs::symlink("grub.cfg", root.join("assets/alias.cfg")).unwrap();
    for sector_size in [512, 4096] {
        let loaded = gadget::load(root, Ruleset::Uc20).unwrap();
        let opts = PlanOptions {
            sector_size,
            ruleset: Ruleset::Uc20,
            ..PlanOptions::default()
        };
        let trees = Trees {
            gadget: root,
            kernel: None,
        };
        let plan = gadget::image_plan(&loaded, trees, &opts).unwrap();
        let out = tempfile::tempdir().unwrap();
        let images = write_plan(&plan, out.path());
        check_against_plan(&plan, &images);
        let image = &images[0];
        assert_eq!(read_at(image, 0, 92), pattern(440, 5)[..92]);
        let lba = u32::try_from((1 << 20) / sector_size).unwrap();
        assert_eq!(read_at(image, 92, 4), lba.to_le_bytes());
        assert_eq!(read_at(image, 1 << 20, 30_000), pattern(30_000, 6));
        let by_name = |name: &str| {
            plan.volumes[0]
                .structures
                .iter()
                .find(|s| s.name == name)
                .unwrap()
        };
        let seed = by_name("ubuntu-seed");
        fsck_vfat(image, seed.offset, seed.size);
        assert_eq!(
            vfat_file(image, seed.offset, "/EFI/boot/bootx64.efi"),
            pattern(200_000, 7)
        );
        assert_eq!(vfat_file(image, seed.offset, "/sub/deep.txt"), b"deep");
        let boot = by_name("ubuntu-boot");
        e2fsck(image, boot.offset, boot.size);
        let device = format!("{}?offset={}", image.display(), boot.offset);
        let link = run("debugfs", &["-R", "stat /copy/assets/alias.cfg", &device]);
        assert!(link.contains("Fast link dest: \"grub.cfg\""), "{link}");
        let cat = run("debugfs", &["-R", "cat /copy/assets/sub/deep.txt", &device]);
        assert_eq!(cat, "deep");
    }
}
