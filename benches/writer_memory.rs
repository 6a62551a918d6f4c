//! Peak memory of the image writer for two content sizes: it streams, so the peak must not grow
//! with the content. Each measurement runs in a fresh child process (this same binary) that
//! writes one image holding the content three times: as a raw image, as a file in a FAT32
//! filesystem and as a file in ext4, then reports its peak RSS (VmHWM) and the largest peak of
//! its children (mke2fs, debugfs).
//!
//! Run: `cargo bench --bench writer_memory` (optionally `-- SMALL_MIB LARGE_MIB`).

use snapsmith::disk::{Progress, WriteOptions, check, write_image};
use snapsmith::plan::*;
use snapsmith::repro::derive_uuid;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

const MIB: u64 = 1 << 20;
const CHILD: &str = "SNAPSMITH_BENCH_CHILD";

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    // `cargo bench` passes --bench; anything else (a test run) only checks that it builds.
    if !std::env::args().any(|a| a == "--bench") {
        println!("writer_memory: run with `cargo bench --bench writer_memory`");
        return;
    }
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (small, large) = match args[..] {
        [s, l, ..] => (s, l),
        _ => (16, 512),
    };
    let work = tempfile::tempdir().expect("temporary directory");
    println!("writer_memory: content written 3 times (raw, vfat file, ext4 file)");
    println!(
        "{:>12} {:>14} {:>18} {:>10} {:>12}",
        "content", "peak RSS", "children peak", "seconds", "MiB/s"
    );
    let mut peaks = Vec::new();
    for mib in [small, large] {
        let (rss, children, secs, steps) = measure(work.path(), mib);
        let rate = f64::from(u32::try_from(3 * mib).unwrap_or(u32::MAX)) / secs;
        println!(
            "{:>8} MiB {:>10} KiB {:>14} KiB {secs:>10.2} {rate:>12.1}",
            mib, rss, children
        );
        print!("{steps}");
        peaks.push(rss);
    }
    let as_f64 = |n: u64| f64::from(u32::try_from(n).unwrap_or(u32::MAX));
    let ratio = as_f64(peaks[1]) / as_f64(peaks[0]);
    let content_ratio = as_f64(large) / as_f64(small);
    println!(
        "peak RSS ratio {ratio:.2} for {content_ratio:.0}x the content (baseline: {small} MiB)"
    );
    if ratio > 1.25 {
        println!("WARNING: peak memory grows with content size");
    }
}

/// Writes a content file of `mib` MiB, runs a child writing the image, returns its figures.
fn measure(work: &Path, mib: u64) -> (u64, u64, f64, String) {
    let dir = work.join(format!("{mib}"));
    std::fs::create_dir_all(&dir).expect("work directory");
    let content = dir.join("content.bin");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&content).expect("content"));
    let mut block = vec![0u8; usize::try_from(MIB).expect("MiB fits usize")];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..mib {
        for b in block.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x.to_le_bytes()[0];
        }
        out.write_all(&block).expect("content");
    }
    out.flush().expect("content");
    drop(out);
    let exe = std::env::current_exe().expect("own path");
    let output = std::process::Command::new(exe)
        .env(CHILD, format!("{mib}:{}", dir.display()))
        .output()
        .expect("child");
    let steps = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "child failed: {steps}");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| -> &str {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap_or_else(|| panic!("child output lacks {name}: {text}"))
    };
    let figures = (
        field("rss_kib=").parse().expect("rss"),
        field("children_kib=").parse().expect("children rss"),
        field("seconds=").parse().expect("seconds"),
        steps,
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
    figures
}

fn child(spec: &str) {
    let (mib, dir) = spec.split_once(':').expect("MIB:DIR");
    let mib: u64 = mib.parse().expect("size");
    let dir = PathBuf::from(dir);
    let content = dir.join("content.bin");
    let volume = volume(mib, &content);
    let steps = StepTimes::default();
    let opts = WriteOptions {
        build_time: 1_700_000_000,
        progress: &steps,
    };
    let start = Instant::now();
    let plan = ImagePlan {
        volumes: vec![volume],
    };
    write_image(check(&plan).expect("check"), &dir, &opts).expect("write");
    let seconds = start.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .expect("VmHWM");
    // SAFETY: getrusage fills the struct it is given.
    let children = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    };
    steps.step("end");
    println!("rss_kib={rss} children_kib={children} seconds={seconds}");
    let done = steps.done.lock().expect("step times");
    for (what, secs) in done.iter() {
        eprintln!("  {what}: {secs:.2} s");
    }
}

/// Records how long each writer step took (structures are written side by side: each reports
/// its own time).
#[derive(Default)]
struct StepTimes {
    current: Mutex<Option<(String, Instant)>>,
    done: Mutex<Vec<(String, f64)>>,
}

impl Progress for StepTimes {
    fn timed(&self, what: &str) {
        self.step(what);
    }
    fn took(&self, part: &str, seconds: f64) {
        let mut done = self.done.lock().expect("step times");
        done.push((format!("  {part}"), seconds));
    }
}

impl StepTimes {
    fn step(&self, what: &str) {
        let now = Instant::now();
        let mut current = self.current.lock().expect("step times");
        if let Some((name, since)) = current.replace((what.to_string(), now)) {
            let mut done = self.done.lock().expect("step times");
            done.push((name, now.duration_since(since).as_secs_f64()));
        }
    }
}

/// Raw image, FAT32 file and ext4 file, each `mib` MiB, in one GPT volume.
fn volume(mib: u64, content: &Path) -> VolumePlan {
    let part_size = (mib + mib / 4 + 40) * MIB;
    let fs = |kind: FsKind, label: &str| {
        StructureContent::Filesystem(FilesystemPlan {
            kind,
            label: Some(label.into()),
            uuid: derive_uuid(&[label.as_bytes()]),
            hash_seed: derive_uuid(&[b"hash", label.as_bytes()]),
            files: vec![
                FileEntry {
                    path: "data".into(),
                    source: FileSource::Directory,
                },
                FileEntry {
                    path: "data/content.bin".into(),
                    source: FileSource::File(content.to_owned()),
                },
            ],
        })
    };
    let contents = [
        (
            "raw",
            StructureContent::Raw(vec![RawImage {
                source: content.to_owned(),
                offset: 0,
                size: mib * MIB,
            }]),
        ),
        ("ubuntu-seed", fs(FsKind::Vfat32, "ubuntu-seed")),
        ("ubuntu-data", fs(FsKind::Ext4, "ubuntu-data")),
    ];
    let mut structures = Vec::new();
    for (i, (name, content)) in contents.into_iter().enumerate() {
        let n = u64::try_from(i).expect("index");
        structures.push(StructurePlan {
            index: i,
            name: name.into(),
            role: None,
            offset: MIB + n * part_size,
            size: part_size,
            partition: Some(PartitionEntry {
                number: u32::try_from(i + 1).expect("partition number"),
                kind: PartitionKind::Gpt {
                    type_guid: derive_uuid(&[b"type"]),
                    unique_guid: derive_uuid(&[name.as_bytes()]),
                    name: name.into(),
                },
            }),
            content,
        });
    }
    VolumePlan {
        name: "bench".into(),
        schema: Schema::Gpt,
        sector_size: snapsmith::units::SectorSize::B512,
        size: 2 * MIB + 3 * part_size,
        disk_id: DiskId::Gpt(derive_uuid(&[b"bench"])),
        structures,
        offset_writes: vec![],
    }
}
