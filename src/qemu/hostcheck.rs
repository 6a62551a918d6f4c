//! Host checks: after a scenario's VM stopped, the harness reads the scenario's disk itself and
//! judges the outcome from what is on it, not from what the guest printed. Each scenario file
//! names the checks that apply to it; the planner resolves what they expect (which kernel and
//! base, which files) into an [`Expected`]; [`run`] reads the disk through [`super::diskread`]
//! and records one [`HostCheck`] per check for the report.

use super::diskread::{self, DiskReader};
use crate::boot::grubcfg::GRUB_DIR;
use crate::seed::{DATA_SNAPS_DIR, MODEENV_PATH};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[path = "hostcheck_apps.rs"]
mod apps;

/// GPT names of the partitions the checks read.
pub const SEED: &str = "ubuntu-seed";
pub const BOOT: &str = "ubuntu-boot";
pub const DATA: &str = "ubuntu-data";

/// The kinds of host check a scenario file can list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// grubenv (ubuntu-boot) and modeenv (ubuntu-data) name the expected kernel and base, and
    /// no try state is left over.
    BootState,
    /// The files written onto ubuntu-data before the scenario have exactly their bytes.
    DataFiles,
    /// The installed snaps are exactly the expected set.
    SnapSet,
    /// ubuntu-seed holds the same files as the image, except `EFI/ubuntu/grubenv`, whose values
    /// are the expected ones.
    SeedUnchanged,
    /// The partition table reads the same as the image's.
    TableUnchanged,
    /// `fsck.vfat -n` and `e2fsck -fn` find every filesystem clean.
    FsClean,
    /// Every installed app snap has an active revision (`current`) with its data dirs.
    AppActive,
    /// The example daemons' start counters in SNAP_DATA and SNAP_COMMON (docs/apps.md).
    AppCounters,
    /// ubuntu-data holds exactly the bytes it held before boot (recover mode never writes it).
    DataUnchanged,
    /// The rogue disk of the `rogue-disk` scenario holds exactly the bytes it was written with.
    RogueUnchanged,
    /// The files the scenario expects on ubuntu-data afterwards have exactly their bytes, and
    /// those it expects absent are absent.
    DataAfter,
}

impl CheckKind {
    /// The checks of app state, for images with app snaps.
    pub const APPS: [CheckKind; 2] = [CheckKind::AppActive, CheckKind::AppCounters];

    /// The checks of the boot state and the disk, for every image.
    pub const ALL: [CheckKind; 6] = [
        CheckKind::BootState,
        CheckKind::DataFiles,
        CheckKind::SnapSet,
        CheckKind::SeedUnchanged,
        CheckKind::TableUnchanged,
        CheckKind::FsClean,
    ];

    /// The name scenario files and reports use.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::BootState => "boot-state",
            CheckKind::DataFiles => "data-files",
            CheckKind::SnapSet => "snap-set",
            CheckKind::SeedUnchanged => "seed-unchanged",
            CheckKind::TableUnchanged => "table-unchanged",
            CheckKind::FsClean => "fs-clean",
            CheckKind::AppActive => "app-active",
            CheckKind::AppCounters => "app-counters",
            CheckKind::DataUnchanged => "data-unchanged",
            CheckKind::RogueUnchanged => "rogue-unchanged",
            CheckKind::DataAfter => "data-after",
        }
    }
}

/// What the checks expect to find, resolved from the scenario and the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Kernel snap file (`<name>_<rev>.snap`) the boot state must name.
    pub kernel: String,
    /// Base snap file the modeenv must name.
    pub base: String,
    /// File names under the installed snaps directory on ubuntu-data.
    pub snaps: BTreeSet<String>,
    /// Paths on ubuntu-data and their exact bytes.
    pub data_files: BTreeMap<String, Vec<u8>>,
    /// Values of the seed's grubenv.
    pub seed_grubenv: BTreeMap<String, String>,
    /// SHA3-384 of ubuntu-data's bytes as the harness left them before boot (filled in then).
    pub data_digest: Option<String>,
    /// The rogue disk attached beside the scenario's, as written (filled in before boot).
    pub rogue: Option<super::rogue::Rogue>,
    /// What ubuntu-data must hold after the scenario (paths on the filesystem).
    pub after: After,
}

/// What a scenario expects on ubuntu-data after its run (`after:` in the scenario file, paths
/// under system-data/ there; on the filesystem here): the `data-after` check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct After {
    /// Files and their exact contents.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Paths that must not exist.
    #[serde(default)]
    pub absent: Vec<String>,
}

impl After {
    /// The same, with `{placeholder}`s in its paths and contents filled in.
    pub fn expanded(&self, vars: &BTreeMap<&str, String>) -> After {
        let fill = |t: &str| super::scenario::expand(t, vars);
        After {
            files: self.files.iter().map(|(p, t)| (fill(p), fill(t))).collect(),
            absent: self.absent.iter().map(|p| fill(p)).collect(),
        }
    }

    /// The same expectations with `prefix` before every path.
    pub fn under(&self, prefix: &str) -> After {
        After {
            files: self
                .files
                .iter()
                .map(|(p, text)| (format!("{prefix}{p}"), text.clone()))
                .collect(),
            absent: self.absent.iter().map(|p| format!("{prefix}{p}")).collect(),
        }
    }
}

/// One check's verdict, as the report records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostCheck {
    pub check: String,
    pub passed: bool,
    pub detail: String,
}

/// Runs `kinds` on the scenario's raw `disk`, comparing with the built `image` where a check
/// needs the original. A check that cannot read what it needs fails, saying why.
pub fn run(kinds: &[CheckKind], disk: &Path, image: &Path, expected: &Expected) -> Vec<HostCheck> {
    let readers = DiskReader::open(disk).and_then(|d| Ok((d, DiskReader::open(image)?)));
    kinds
        .iter()
        .map(|&kind| {
            let verdict = match &readers {
                Ok((disk, image)) => check(kind, disk, image, expected),
                Err(e) => Err(anyhow::anyhow!("reading the disks: {e:#}")),
            };
            let (passed, detail) = match verdict {
                Ok(detail) => (true, detail),
                Err(e) => (false, format!("{e:#}")),
            };
            HostCheck {
                check: kind.name().to_string(),
                passed,
                detail,
            }
        })
        .collect()
}

/// One check: `Ok(what was confirmed)` or `Err(what is wrong)`.
fn check(kind: CheckKind, disk: &DiskReader, image: &DiskReader, e: &Expected) -> Result<String> {
    match kind {
        CheckKind::BootState => boot_state(disk, e),
        CheckKind::DataFiles => data_files(disk, e),
        CheckKind::SnapSet => snap_set(disk, e),
        CheckKind::SeedUnchanged => seed_unchanged(disk, image, e),
        CheckKind::TableUnchanged => table_unchanged(disk, image),
        CheckKind::FsClean => fs_clean(disk),
        CheckKind::AppActive => apps::app_active(disk),
        CheckKind::AppCounters => apps::app_counters(disk),
        CheckKind::DataUnchanged => data_unchanged(disk, e),
        CheckKind::RogueUnchanged => rogue_unchanged(e),
        CheckKind::DataAfter => data_after(disk, &e.after),
    }
}

/// The seed's grubenv of the image at `path`, as built: what `seed-unchanged` compares with.
pub fn image_seed_grubenv(path: &Path) -> Result<BTreeMap<String, String>> {
    read_grubenv(&DiskReader::open(path)?, SEED)
}

/// The run system's grubenv on ubuntu-boot, read by grub-editenv and snapsmith alike.
pub fn boot_grubenv(disk: &DiskReader) -> Result<BTreeMap<String, String>> {
    read_grubenv(disk, BOOT)
}

fn read_grubenv(disk: &DiskReader, part: &str) -> Result<BTreeMap<String, String>> {
    let path = format!("{GRUB_DIR}/grubenv");
    let bytes = diskread::vfat_file(&disk.vfat(part)?, &path)?
        .with_context(|| format!("{part} has no {path}"))?;
    diskread::grubenv(&bytes).with_context(|| format!("{part} {path}"))
}

/// The modeenv on ubuntu-data, read with debugfs, as `key=value` pairs.
pub fn modeenv(disk: &DiskReader) -> Result<BTreeMap<String, String>> {
    let bytes = diskread::ext4_file(&disk.ext4(DATA)?, MODEENV_PATH)?
        .with_context(|| format!("{DATA} has no {MODEENV_PATH}"))?;
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

fn boot_state(disk: &DiskReader, e: &Expected) -> Result<String> {
    let env = boot_grubenv(disk)?;
    let mode = modeenv(disk)?;
    let get = |m: &BTreeMap<String, String>, k: &str| m.get(k).cloned().unwrap_or_default();
    let mut copy_wrong = None;
    // The second copy, when the image has one, holds the same state.
    let backup = format!("{GRUB_DIR}/{}", crate::boot::grubcfg::GRUBENV_BACKUP);
    if let Some(bytes) = diskread::vfat_file(&disk.vfat(BOOT)?, &backup)? {
        let copy = diskread::grubenv(&bytes).with_context(|| format!("{BOOT} {backup}"))?;
        if copy != env {
            copy_wrong = Some(format!("{backup} is {copy:?}, grubenv {env:?}"));
        }
    }
    let mut wrong: Vec<String> = copy_wrong.into_iter().collect();
    let mut want = |what: &str, have: String, expect: &str| {
        if have != expect {
            wrong.push(format!("{what} is {have:?}, expected {expect:?}"));
        }
    };
    want("grubenv snap_kernel", get(&env, "snap_kernel"), &e.kernel);
    want("grubenv kernel_status", get(&env, "kernel_status"), "");
    want("grubenv snap_try_kernel", get(&env, "snap_try_kernel"), "");
    want("modeenv base", get(&mode, "base"), &e.base);
    want("modeenv try_base", get(&mode, "try_base"), "");
    want("modeenv base_status", get(&mode, "base_status"), "");
    want(
        "modeenv current_kernels",
        get(&mode, "current_kernels"),
        &e.kernel,
    );
    if !wrong.is_empty() {
        bail!("{}", wrong.join("; "));
    }
    Ok(format!(
        "kernel {} and base {}, no try state",
        e.kernel, e.base
    ))
}

fn data_files(disk: &DiskReader, e: &Expected) -> Result<String> {
    if e.data_files.is_empty() {
        bail!("the scenario names no data files to check");
    }
    let data = disk.ext4(DATA)?;
    for (path, want) in &e.data_files {
        match diskread::ext4_file(&data, path)? {
            None => bail!("{path} is missing from {DATA}"),
            Some(have) if &have != want => bail!(
                "{path} holds {} bytes that differ from the {} written before the scenario",
                have.len(),
                want.len()
            ),
            Some(_) => {}
        }
    }
    Ok(format!("{} file(s) kept byte for byte", e.data_files.len()))
}

fn data_after(disk: &DiskReader, after: &After) -> Result<String> {
    if after.files.is_empty() && after.absent.is_empty() {
        bail!("the scenario names nothing to find on {DATA} afterwards");
    }
    let data = disk.ext4(DATA)?;
    let mut wrong = Vec::new();
    for (path, want) in &after.files {
        match diskread::ext4_file(&data, path)? {
            None => wrong.push(format!("{path} is missing")),
            Some(have) if have != want.as_bytes() => wrong.push(format!(
                "{path} holds {:?}, expected {want:?}",
                String::from_utf8_lossy(&have)
            )),
            Some(_) => {}
        }
    }
    for path in &after.absent {
        if diskread::ext4_file(&data, path)?.is_some() {
            wrong.push(format!("{path} exists"));
        }
    }
    if !wrong.is_empty() {
        bail!("{}", wrong.join("; "));
    }
    Ok(format!(
        "{} file(s) as expected, {} absent",
        after.files.len(),
        after.absent.len()
    ))
}

/// SHA3-384 of the partition `name`'s bytes.
pub fn partition_digest(disk: &DiskReader, name: &str) -> Result<String> {
    let part = disk.partition(name)?;
    let file = std::fs::File::open(disk.disk())
        .with_context(|| format!("opening {}", disk.disk().display()))?;
    let window = crate::window::Window::new(&file, part.offset, part.size);
    Ok(crate::snap::digest_reader(window)
        .with_context(|| format!("reading {name}"))?
        .sha3_384)
}

fn data_unchanged(disk: &DiskReader, e: &Expected) -> Result<String> {
    let want = e
        .data_digest
        .as_deref()
        .context("no digest of ubuntu-data was taken before boot")?;
    let have = partition_digest(disk, DATA)?;
    if have != want {
        bail!("{DATA}'s bytes changed (SHA3-384 {have}, before boot {want})");
    }
    Ok(format!("{DATA} byte for byte as before boot"))
}

fn rogue_unchanged(e: &Expected) -> Result<String> {
    let rogue = e.rogue.as_ref().context("no rogue disk was attached")?;
    let have = super::rogue::file_digest(&rogue.path)?;
    if have != rogue.digest {
        bail!(
            "the rogue disk's bytes changed (SHA3-384 {have}, as written {})",
            rogue.digest
        );
    }
    Ok("the rogue disk byte for byte as written".to_string())
}

fn snap_set(disk: &DiskReader, e: &Expected) -> Result<String> {
    let names = diskread::ext4_dir(&disk.ext4(DATA)?, DATA_SNAPS_DIR)?
        .with_context(|| format!("{DATA} has no {DATA_SNAPS_DIR}"))?;
    let have: BTreeSet<String> = names.into_iter().collect();
    if have != e.snaps {
        let extra: Vec<_> = have.difference(&e.snaps).collect();
        let missing: Vec<_> = e.snaps.difference(&have).collect();
        bail!("installed snaps differ: unexpected {extra:?}, missing {missing:?}");
    }
    Ok(format!("installed: {}", join(&have)))
}

fn seed_unchanged(disk: &DiskReader, image: &DiskReader, e: &Expected) -> Result<String> {
    let grubenv = format!("{GRUB_DIR}/grubenv");
    let mut have = diskread::vfat_tree(&disk.vfat(SEED)?)?;
    let mut was = diskread::vfat_tree(&image.vfat(SEED)?)?;
    if have.remove(&grubenv).is_none() {
        bail!("{SEED} lost {grubenv}");
    }
    was.remove(&grubenv);
    if have != was {
        let changed: BTreeSet<&String> = have
            .iter()
            .chain(was.iter())
            .filter(|(k, v)| have.get(*k) != Some(v) || was.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        bail!("{SEED} files changed: {changed:?}");
    }
    let env = read_grubenv(disk, SEED)?;
    if env != e.seed_grubenv {
        bail!("{SEED} grubenv is {env:?}, expected {:?}", e.seed_grubenv);
    }
    Ok(format!(
        "{} files unchanged, grubenv as expected",
        was.len()
    ))
}

fn table_unchanged(disk: &DiskReader, image: &DiskReader) -> Result<String> {
    let have = comparable_table(disk.disk())?;
    let was = comparable_table(image.disk())?;
    if have != was {
        bail!("partition table differs from the image's: {have} vs {was}");
    }
    Ok(format!("{} partitions as built", disk.partitions().len()))
}

/// `sfdisk --json` without the device paths, which name the file read.
fn comparable_table(path: &Path) -> Result<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_str(&diskread::sfdisk_json(path)?)?;
    let table = &mut value["partitiontable"];
    if let Some(map) = table.as_object_mut() {
        map.remove("device");
    }
    if let Some(parts) = table["partitions"].as_array_mut() {
        for p in parts.iter_mut().filter_map(|p| p.as_object_mut()) {
            p.remove("node");
        }
    }
    Ok(value)
}

fn fs_clean(disk: &DiskReader) -> Result<String> {
    let report = crate::inspect::inspect(disk.disk())?;
    let mut checked = Vec::new();
    let mut dirty = Vec::new();
    for p in &report.partitions {
        let (Some(fs), Some(name)) = (&p.filesystem, &p.name) else {
            continue;
        };
        let ext4 = match fs.kind.as_str() {
            "ext4" => true,
            "vfat" => false,
            _ => continue,
        };
        let target = if ext4 {
            disk.ext4(name)?
        } else {
            disk.image_of(name)?
        };
        if let Some(problem) = diskread::fsck(&target, ext4)? {
            dirty.push(format!("{name}: {problem}"));
        }
        checked.push(name.clone());
    }
    if !dirty.is_empty() {
        bail!("{}", dirty.join("; "));
    }
    if checked.is_empty() {
        bail!("no vfat or ext4 filesystem found to check");
    }
    Ok(format!("clean: {}", join(&checked)))
}

fn join<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    names
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
