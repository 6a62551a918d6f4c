//! The writer's promises about the output path: identical bytes for the same plan, nothing left
//! behind on failure (or the partial file, when asked), refusal before writing of plans that
//! would break the partition table.

mod support;

use snapsmith::plan::*;
use std::path::Path;
use support::disk::*;

/// Whether two files hold the same bytes (compared a MiB at a time).
fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn same_plan_gives_identical_bytes() {
    if !support::have_tools(&["mke2fs"]) {
        return;
    }
    let inputs = Inputs::new();
    for schema in [Schema::Gpt, Schema::Mbr] {
        let volume = pc_volume(&inputs, schema, 512);
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = write(&volume, a.path()).unwrap();
        // A second later on the wall clock must not matter either.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = write(&volume, b.path()).unwrap();
        if !same_bytes(&first, &second) {
            let keep = std::env::temp_dir().join("snapsmith-repro");
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&first, keep.join("a.img")).unwrap();
            std::fs::copy(&second, keep.join("b.img")).unwrap();
            panic!("{schema:?}: images differ (copies in {})", keep.display());
        }
        // Sparse: far fewer blocks allocated than the 131 MiB image size.
        use std::os::unix::fs::MetadataExt;
        let allocated = std::fs::metadata(&first).unwrap().blocks() * 512;
        assert!(allocated < 40 * MIB, "{allocated} bytes allocated");
    }
}

#[test]
fn failure_mid_write_leaves_nothing() {
    if !support::have_tools(&["mke2fs"]) {
        return;
    }
    let inputs = Inputs::new();
    let mut volume = pc_volume(&inputs, Schema::Gpt, 512);
    // The ext4 partition comes last; give it a "file" that cannot be read (a directory) so
    // the write fails after the table and the vfat filesystems have been written.
    let StructureContent::Filesystem(fs) = &mut volume.structures[4].content else {
        panic!("structure 4 is ubuntu-data");
    };
    fs.files.push(FileEntry {
        path: "unreadable".into(),
        source: FileSource::File(inputs.dir.path().to_owned()),
    });
    let out = tempfile::tempdir().unwrap();
    let err = write(&volume, out.path()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("ubuntu-data") && msg.contains("staging unreadable"),
        "{msg}"
    );
    assert!(entries(out.path()).is_empty(), "{:?}", entries(out.path()));

    let err = write_kept(&volume, out.path(), true).unwrap_err();
    let kept = entries(out.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].starts_with(".snapsmith-build-"), "{kept:?}");
    assert!(out.path().join(&kept[0]).join("pc.img").exists());
    assert!(format!("{err:#}").contains(&kept[0]), "{err:#}");
    assert!(!out.path().join("pc.img").exists());
}

fn refused(volume: VolumePlan, expect: &str) {
    let out = tempfile::tempdir().unwrap();
    let err = write(&volume, out.path()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(expect), "expected {expect:?} in: {msg}");
    assert!(entries(out.path()).is_empty());
}

#[test]
fn plans_that_would_break_the_table_are_refused() {
    let inputs = Inputs::new();
    let base = pc_volume(&inputs, Schema::Gpt, 512);

    let mut v = base.clone();
    v.structures[1].offset = 8192;
    refused(v, "overlaps the GPT partition table areas");

    let mut v = base.clone();
    v.size = 130 * MIB;
    refused(v, "ubuntu-data (102760448..136314880) overlaps the GPT");

    let mut v = base.clone();
    v.structures[0].size = 447;
    refused(v, "at most 446 bytes");

    let mut v = base.clone();
    v.offset_writes[0].at = 450;
    refused(v, "offset-write at 450 would overwrite the partition table");

    let mut v = pc_volume(&inputs, Schema::Mbr, 512);
    v.offset_writes[0].at = 1000;
    write(&v, tempfile::tempdir().unwrap().path()).unwrap();
    v.offset_writes[0].at = 508;
    refused(v, "would overwrite the partition table");
}

#[test]
fn unfit_filesystems_are_refused_before_writing() {
    let inputs = Inputs::new();
    let mut v = pc_volume(&inputs, Schema::Gpt, 512);
    let StructureContent::Filesystem(fs) = &mut v.structures[3].content else {
        panic!("structure 3 is ubuntu-boot");
    };
    fs.kind = FsKind::Vfat32;
    refused(v, "vfat-32 needs at least 33 MiB");

    let mut v = pc_volume(&inputs, Schema::Gpt, 4096);
    let StructureContent::Filesystem(fs) = &mut v.structures[2].content else {
        panic!("structure 2 is ubuntu-seed");
    };
    fs.kind = FsKind::Vfat32;
    refused(v, "vfat-32 needs at least 257 MiB with 4096-byte sectors");

    let mut v = pc_volume(&inputs, Schema::Gpt, 512);
    let StructureContent::Filesystem(fs) = &mut v.structures[2].content else {
        panic!("structure 2 is ubuntu-seed");
    };
    fs.label = Some("much-too-long".into());
    refused(v, "longer than 11 bytes");

    let big = inputs.dir.path().join("big");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(40 * MIB)
        .unwrap();
    let add_big = |v: &mut VolumePlan, index: usize| {
        let StructureContent::Filesystem(fs) = &mut v.structures[index].content else {
            panic!("structure {index} has a filesystem");
        };
        fs.files.push(FileEntry {
            path: "big".into(),
            source: FileSource::File(big.clone()),
        });
    };
    let mut v = pc_volume(&inputs, Schema::Gpt, 512);
    add_big(&mut v, 3);
    refused(
        v,
        "structure ubuntu-boot: vfat-16: the files need 43.5 MiB (22294 clusters of 2048 bytes), \
         11.6 MiB more than the 31.9 MiB the filesystem holds",
    );
    let mut v = pc_volume(&inputs, Schema::Gpt, 512);
    add_big(&mut v, 4);
    refused(
        v,
        "structure ubuntu-data: ext4: the files need 42.8 MiB plus a 4 MiB journal, 14.8 MiB \
         more than the 32 MiB partition",
    );
}

#[test]
fn missing_raw_source_is_reported() {
    let inputs = Inputs::new();
    let mut v = pc_volume(&inputs, Schema::Gpt, 512);
    let StructureContent::Raw(images) = &mut v.structures[1].content else {
        panic!("structure 1 is BIOS Boot");
    };
    images[0].source = inputs.dir.path().join("missing.img");
    refused(v, "missing.img");
}

/// Set in the child process of [`interrupted_write_leaves_nothing`].
const CHILD: &str = "SNAPSMITH_TEST_INTERRUPT_DIR";

#[test]
fn interrupted_write_leaves_nothing() {
    if let Some(dir) = std::env::var_os(CHILD) {
        // Child: write an image with 4 GiB of raw content (a sparse source, so it is read but
        // not stored) until the parent interrupts it.
        let source = Path::new(&dir).join("source.bin");
        let dir = Path::new(&dir).join("out");
        let big = 4u64 << 30;
        std::fs::File::create(&source)
            .unwrap()
            .set_len(big)
            .unwrap();
        let volume = VolumePlan {
            name: "pc".into(),
            schema: Schema::Gpt,
            sector_size: SectorSize::B512,
            size: big + 2 * MIB,
            disk_id: DiskId::Gpt(uuid::Uuid::nil()),
            structures: vec![StructurePlan {
                index: 0,
                name: "big".into(),
                role: None,
                offset: MIB,
                size: big,
                partition: Some(PartitionEntry {
                    number: 1,
                    kind: gpt_kind(LINUX, "big", 1),
                }),
                content: StructureContent::Raw(vec![RawImage {
                    source,
                    offset: 0,
                    size: big,
                }]),
            }],
            offset_writes: vec![],
        };
        // As the CLI does for a whole command: signals end in the writer's error path.
        let _guard = snapsmith::interrupt::InterruptGuard::install();
        let err = write(&volume, &dir).unwrap_err();
        assert!(format!("{err:#}").contains("interrupted"), "{err:#}");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "interrupted_write_leaves_nothing", "--nocapture"])
        .env(CHILD, work.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the temporary image to appear, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while entries(&out).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the write never started"
        );
        assert!(child.try_wait().unwrap().is_none(), "the child ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sends SIGINT to our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "child: {status}");
    assert!(entries(&out).is_empty(), "{:?}", entries(&out));
}
