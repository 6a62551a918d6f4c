//! What the selected snaps and assertions become on each partition, as file trees (no I/O).
//!
//! - ubuntu-seed: the UC20-style recovery system, `snaps/`, `systems/<label>/...`;
//! - ubuntu-data: the installed run system, `system-data/var/lib/snapd/{snaps/,modeenv}`;
//! - ubuntu-boot: `device/model` plus the bootloader's run-mode assets, handed in by the boot
//!   layer;
//! - ubuntu-save: `device/`, the per-device data directory.
//!
//! docs/image-layout.md explains each path and why it is there.

use super::resolve::{Grade, SeedSnap};
use super::tree::Tree;
use crate::boot::label::validate_label;
use crate::boot::modeenv::Modeenv;
use crate::plan::{FileEntry, FileSource};
use crate::snap::SnapType;
use anyhow::{Context, Result, bail};
use serde::Serialize;

/// Where installed snaps live on ubuntu-data.
pub const DATA_SNAPS_DIR: &str = "system-data/var/lib/snapd/snaps";
/// The run system's boot state on ubuntu-data.
pub const MODEENV_PATH: &str = "system-data/var/lib/snapd/modeenv";

/// The assertion streams the seed carries, already encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedAssertions {
    /// The model assertion.
    pub model: Vec<u8>,
    /// The model's prerequisites: brand account and account-key (and store, if any).
    pub model_etc: Vec<u8>,
    /// snap-declaration, snap-revision and publisher account of each asserted model snap.
    pub snaps: Vec<u8>,
    /// The same for asserted extra snaps (dangerous models only).
    pub extra_snaps: Vec<u8>,
}

/// Who the image is for, as the run system records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelId {
    pub brand: String,
    pub model: String,
    pub grade: Grade,
    pub sign_key_id: String,
    /// The model's `base`: the root filesystem the run system boots.
    pub base: String,
}

/// The seed file name of a snap: `<name>_<rev>.snap` when asserted, `<name>_<version>.snap`
/// when not (the seed keeps unasserted snaps by version; they get `x1` once installed).
pub fn seed_file_name(snap: &SeedSnap) -> String {
    if snap.asserted() {
        snap.file_name()
    } else {
        format!("{}_{}.snap", snap.name, snap.info.version)
    }
}

/// The seed path of a snap, relative to ubuntu-seed's root.
pub fn seed_path(label: &str, snap: &SeedSnap) -> String {
    if snap.asserted() && snap.in_model {
        format!("snaps/{}", seed_file_name(snap))
    } else {
        format!("systems/{label}/snaps/{}", seed_file_name(snap))
    }
}

#[derive(Serialize)]
struct Options<'a> {
    snaps: Vec<OptionsSnap<'a>>,
}

#[derive(Serialize)]
struct OptionsSnap<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unasserted: Option<String>,
}

/// The recovery system on ubuntu-seed.
pub fn seed_tree(
    label: &str,
    grade: Grade,
    snaps: &[SeedSnap],
    assertions: &SeedAssertions,
) -> Result<Tree> {
    seed_systems_tree(&[label.to_string()], grade, snaps, assertions)
}

/// Recovery systems on ubuntu-seed, one `systems/<label>/` for each label, all with the same
/// model, assertions and snaps; the asserted model snaps are shared in `snaps/`.
pub fn seed_systems_tree(
    labels: &[String],
    grade: Grade,
    snaps: &[SeedSnap],
    assertions: &SeedAssertions,
) -> Result<Tree> {
    let mut tree = Tree::new();
    tree.dir("snaps")?;
    for (i, label) in labels.iter().enumerate() {
        if labels[..i].contains(label) {
            bail!("recovery system {label} is named twice");
        }
        system_tree(&mut tree, label, i == 0, (grade, snaps), assertions)?;
    }
    Ok(tree)
}

/// `systems/<label>/`: the model, the assertion streams, the snaps not shared in `snaps/`,
/// and options.yaml when there are such snaps. The first system also places the shared snaps.
fn system_tree(
    tree: &mut Tree,
    label: &str,
    first: bool,
    (grade, snaps): (Grade, &[SeedSnap]),
    assertions: &SeedAssertions,
) -> Result<()> {
    validate_label(label)?;
    let system = format!("systems/{label}");
    tree.file(
        &format!("{system}/model"),
        FileSource::Bytes(assertions.model.clone()),
    )?;
    let streams = [
        ("model-etc", &assertions.model_etc),
        ("snaps", &assertions.snaps),
        ("extra-snaps", &assertions.extra_snaps),
    ];
    for (name, bytes) in streams {
        if !bytes.is_empty() || name != "extra-snaps" {
            tree.file(
                &format!("{system}/assertions/{name}"),
                FileSource::Bytes(bytes.clone()),
            )?;
        }
    }
    for snap in snaps
        .iter()
        .filter(|s| first || !s.asserted() || !s.in_model)
    {
        tree.file(&seed_path(label, snap), FileSource::File(snap.path.clone()))?;
    }
    // snapd's seed loader walks options.yaml alongside the model in its own order (snapd,
    // kernel, base, gadget, the other model snaps, then extra snaps): list them so.
    let mut listed: Vec<&SeedSnap> = snaps
        .iter()
        .filter(|s| !s.asserted() || !s.in_model)
        .collect();
    listed.sort_by_key(|s| (!s.in_model, snapd_rank(s.snap_type)));
    let options: Vec<OptionsSnap> = listed
        .into_iter()
        .map(|s| OptionsSnap {
            name: &s.name,
            id: s.snap_id.as_deref().filter(|_| s.asserted()),
            unasserted: (!s.asserted()).then(|| seed_file_name(s)),
        })
        .collect();
    if !options.is_empty() {
        if grade != Grade::Dangerous {
            bail!("options.yaml is only allowed in grade dangerous seeds");
        }
        let yaml = serde_yaml::to_string(&Options { snaps: options })?;
        tree.file(
            &format!("{system}/options.yaml"),
            FileSource::Bytes(yaml.into_bytes()),
        )?;
    }
    Ok(())
}

/// Where snapd's model puts a snap of type `t` among the essential ones.
fn snapd_rank(t: SnapType) -> u8 {
    match t {
        SnapType::Snapd => 0,
        SnapType::Kernel => 1,
        SnapType::Base | SnapType::Os => 2,
        SnapType::Gadget => 3,
        SnapType::App => 4,
    }
}

/// The run-mode boot state for a freshly installed system.
pub fn initial_modeenv(label: &str, model: &ModelId, snaps: &[SeedSnap]) -> Result<Modeenv> {
    let one = |t: SnapType| -> Result<String> {
        snaps
            .iter()
            .find(|s| s.snap_type == t && s.for_run_mode())
            .map(SeedSnap::file_name)
            .with_context(|| format!("no {t} snap for run mode"))
    };
    Ok(Modeenv {
        mode: "run".into(),
        recovery_system: label.into(),
        current_recovery_systems: vec![label.into()],
        good_recovery_systems: vec![label.into()],
        base: base_file(&model.base, snaps)?,
        gadget: one(SnapType::Gadget)?,
        current_kernels: vec![one(SnapType::Kernel)?],
        model: format!("{}/{}", model.brand, model.model),
        grade: model.grade.to_string(),
        model_sign_key_id: model.sign_key_id.clone(),
        ..Modeenv::default()
    })
}

/// The base the run system boots: the model's base, which resolution put in the image.
fn base_file(base: &str, snaps: &[SeedSnap]) -> Result<String> {
    snaps
        .iter()
        .find(|s| s.name == base && matches!(s.snap_type, SnapType::Base | SnapType::Os))
        .map(SeedSnap::file_name)
        .with_context(|| format!("the model's base {base:?} is not among the image's snaps"))
}

/// The installed run system on ubuntu-data.
pub fn data_tree(label: &str, model: &ModelId, snaps: &[SeedSnap]) -> Result<Tree> {
    let mut tree = Tree::new();
    tree.dir(DATA_SNAPS_DIR)?;
    for snap in snaps.iter().filter(|s| s.for_run_mode()) {
        tree.file(
            &format!("{DATA_SNAPS_DIR}/{}", snap.file_name()),
            FileSource::File(snap.path.clone()),
        )?;
    }
    let modeenv = initial_modeenv(label, model, snaps)?;
    tree.file(
        MODEENV_PATH,
        FileSource::Bytes(modeenv.encode().into_bytes()),
    )?;
    Ok(tree)
}

/// ubuntu-boot: the model (read before ubuntu-data is mounted) and the bootloader's run-mode
/// assets, which the boot layer supplies.
pub fn boot_tree(model: &[u8], boot_assets: &[FileEntry]) -> Result<Tree> {
    let mut tree = Tree::new();
    tree.file("device/model", FileSource::Bytes(model.to_vec()))?;
    tree.extend(boot_assets)?;
    Ok(tree)
}

/// ubuntu-save: the device directory, empty until the device writes to it.
pub fn save_tree() -> Result<Tree> {
    let mut tree = Tree::new();
    tree.dir("device")?;
    Ok(tree)
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
