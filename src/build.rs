//! `build`: a verified model and snap files become disk images, a recovery system and a
//! manifest.
//!
//! Stages, in order, and nothing written before the last one:
//! 1. **load**: the model and its chain, the snap files (metadata and digest);
//! 2. **resolve**: [`crate::seed::resolve`] picks the snap for each model entry or refuses;
//! 3. **plan**: the gadget's layout becomes an [`ImagePlan`]; the seed, run system and boot
//!    trees are placed on their roles ([`assemble`]); the plan is validated;
//! 4. **execute**: images are written into a staging directory inside the output directory,
//!    the manifest records every partition's hash, and the outputs are renamed into place
//!    ([`execute`]). On failure nothing remains at an output path.

pub mod bmap;
pub mod boot_assets;
pub mod format;
pub mod grub_efi;
mod load;
mod manifest;
mod output;
mod progress;
pub mod qcow2;
pub mod reproducible;
mod run;
mod timings;
pub mod update_disk;

pub use manifest::{
    MANIFEST_NAME, Manifest, ManifestModel, ManifestPartition, ManifestSnap, ManifestVolume,
    sha256_window,
};
pub use output::{OutputOptions, Staging, write_staged};
pub use progress::Reporter;
pub use run::{BuildRequest, Outcome, outcome_json, run};
pub use timings::{StageTime, render as render_timings};

use crate::disk::Checked;
use crate::plan::{FileEntry, ImagePlan, Schema, StructureContent};
use crate::seed::{
    self, AssertedRevision, Candidate, ModelId, ModelSpec, RoleTrees, SeedAssertions, SeedSnap,
};
use crate::snap::{self, SnapFile, SnapType};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the assertion layer hands over about a verified model and its snaps.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub spec: ModelSpec,
    pub id: ModelId,
    /// The model assertion, encoded.
    pub model: Vec<u8>,
    /// The model's prerequisites (brand account and account-key, publisher accounts), encoded.
    pub model_etc: Vec<u8>,
    /// snap-declaration + snap-revision of each asserted snap file, encoded, by the file's
    /// SHA3-384.
    pub snap_streams: BTreeMap<String, Vec<u8>>,
    /// Verified snap-declaration + snap-revision facts, one per asserted snap file.
    pub asserted: Vec<AssertedRevision>,
}

/// Files the boot layer puts on the image: bootloader assets of the recovery system
/// (ubuntu-seed) and of run mode (ubuntu-boot). Empty until a bootloader is configured.
#[derive(Debug, Clone, Default)]
pub struct BootAssets {
    pub seed: Vec<FileEntry>,
    pub boot: Vec<FileEntry>,
}

/// A build ready to execute: the validated plan, the snaps and the manifest (without hashes).
#[derive(Debug, Clone)]
pub struct Assembled {
    pub plan: ImagePlan,
    pub snaps: Vec<SeedSnap>,
    pub label: String,
    /// Every recovery system on the seed, the current one (`label`) first.
    pub systems: Vec<String>,
    pub manifest: Manifest,
}

/// Opens every snap given by path and every `*.snap` in `snaps_dir` (sorted), then digests
/// them (the `digest` stage of `reporter`'s timings).
pub fn load_candidates(
    files: &[PathBuf],
    snaps_dir: Option<&Path>,
    reporter: &Reporter,
) -> Result<Vec<Candidate>> {
    let mut paths = files.to_vec();
    if let Some(dir) = snaps_dir {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)
            .with_context(|| format!("reading snaps directory {}", dir.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "snap") && path.is_file() {
                found.push(path);
            }
        }
        found.sort();
        paths.extend(found);
    }
    let infos = paths
        .iter()
        .map(|path| Ok(SnapFile::open(path)?.info().clone()))
        .collect::<Result<Vec<_>>>()?;
    reporter.timed("digest");
    let digests = snap::digest_all(&paths)?;
    Ok(paths
        .into_iter()
        .zip(infos)
        .zip(digests)
        .map(|((path, info), digest)| Candidate { path, info, digest })
        .collect())
}

/// The label from `--label`, else the build date.
pub fn choose_label(label: Option<&str>, build_time: i64) -> Result<String> {
    let label = match label {
        Some(l) => l.to_string(),
        None => seed::default_label(build_time)?,
    };
    seed::validate_label(&label)?;
    Ok(label)
}

/// The seed's recovery systems: the current `label` first, then `extra` (each a valid label,
/// none named twice).
pub fn choose_systems(label: &str, extra: &[String]) -> Result<Vec<String>> {
    let mut systems = vec![label.to_string()];
    for system in extra {
        seed::validate_label(system).context("--extra-recovery-system")?;
        if systems.contains(system) {
            anyhow::bail!("recovery system {system} is named twice");
        }
        systems.push(system.clone());
    }
    Ok(systems)
}

/// The gadget snap of a resolved set.
pub fn gadget_of(snaps: &[SeedSnap]) -> Result<&SeedSnap> {
    snaps
        .iter()
        .find(|s| s.snap_type == SnapType::Gadget)
        .context("no gadget snap was selected")
}

/// Extracts the gadget snap (its content feeds the gadget's structures) and returns its
/// `meta/gadget.yaml`.
pub fn unpack_gadget(gadget: &SeedSnap, dir: &Path) -> Result<Vec<u8>> {
    let file = SnapFile::open(&gadget.path)?;
    let yaml = file
        .gadget_yaml()
        .with_context(|| format!("gadget snap {}", gadget.path.display()))?;
    file.extract_to(dir)?;
    Ok(yaml)
}

/// Places the seed, run system and boot trees on the gadget's plan and drafts the manifest
/// (the caller checks the plan with [`crate::disk::check`]). Preinstalled: ubuntu-boot, ubuntu-save and ubuntu-data are populated.
pub fn assemble(
    model: &LoadedModel,
    snaps: Vec<SeedSnap>,
    mut plan: ImagePlan,
    systems: &[String],
    boot_assets: &BootAssets,
) -> Result<Assembled> {
    let label = systems.first().context("no recovery system label")?;
    let mut seed_tree = seed::seed_systems_tree(
        systems,
        model.spec.grade,
        &snaps,
        &seed_assertions(model, &snaps),
    )?;
    seed_tree.extend(&boot_assets.seed)?;
    let trees = RoleTrees {
        seed: seed_tree,
        boot: Some(seed::boot_tree(&model.model, &boot_assets.boot)?),
        save: Some(seed::save_tree()?),
        data: Some(seed::data_tree(label, &model.id, &snaps)?),
    };
    seed::place(&mut plan, &trees)?;
    let manifest = Manifest::new(&model.id, label, &snaps, &plan);
    Ok(Assembled {
        plan,
        snaps,
        label: label.to_string(),
        systems: systems.to_vec(),
        manifest,
    })
}

/// The seed's assertion files: snap assertions of model snaps in `snaps`, those of extra snaps
/// in `extra-snaps`, in seed order; assertions of files not in the image are left out.
fn seed_assertions(model: &LoadedModel, snaps: &[SeedSnap]) -> SeedAssertions {
    let mut out = SeedAssertions {
        model: model.model.clone(),
        model_etc: model.model_etc.clone(),
        ..SeedAssertions::default()
    };
    for s in snaps.iter().filter(|s| s.asserted()) {
        let Some(stream) = model.snap_streams.get(&s.digest.sha3_384) else {
            continue;
        };
        let into = if s.in_model {
            &mut out.snaps
        } else {
            &mut out.extra_snaps
        };
        if !into.is_empty() {
            into.push(b'\n');
        }
        into.extend_from_slice(stream);
    }
    out
}

/// Writes the images of the checked plan through a staging directory, hashes the partitions,
/// writes `manifest.json` and a `.bmap` beside each image, and moves all into place. Returns
/// the final paths (images, then the manifest and the bmaps).
pub fn execute(
    plan: Checked,
    manifest: &mut Manifest,
    out: &OutputOptions,
) -> Result<Vec<PathBuf>> {
    write_staged(plan, out, |dir| {
        out.write.progress.timed("manifest");
        let scanned = manifest.hash_partitions(dir)?;
        crate::interrupt::check()?;
        let json = manifest.to_json()?;
        std::fs::write(dir.join(MANIFEST_NAME), json).context("writing manifest.json")?;
        let mut names = vec![MANIFEST_NAME.to_string()];
        out.write.progress.timed("bmap");
        for v in &manifest.volumes {
            let windows: Vec<(u64, u64, &_)> = manifest
                .partitions
                .iter()
                .zip(&scanned)
                .filter(|(p, _)| p.volume == v.name)
                .map(|(p, m)| (p.offset, p.size, m))
                .collect();
            names.push(bmap::write(&dir.join(&v.image), v.size, &windows)?);
        }
        Ok(names)
    })
}

/// The plan as a table for `--dry-run`.
pub fn render_table(a: &Assembled) -> String {
    let mut out = format!(
        "model {}/{} (grade {}), recovery system {}\n\nsnaps:\n",
        a.manifest.model.brand, a.manifest.model.model, a.manifest.model.grade, a.label
    );
    for s in &a.manifest.snaps {
        out.push_str(&format!(
            "  {:<20} {:<7} rev {:<6} {:>10} bytes  {}\n",
            s.name, s.snap_type, s.revision, s.size, s.seed_path
        ));
    }
    for v in &a.plan.volumes {
        out.push_str(&format!(
            "\nvolume {} ({}.img, {} bytes, {}, {}-byte sectors):\n",
            v.name,
            v.name,
            v.size,
            match v.schema {
                Schema::Gpt => "gpt",
                Schema::Mbr => "mbr",
            },
            v.sector_size
        ));
        out.push_str(
            "  #  name                 role           offset       size         content\n",
        );
        for s in &v.structures {
            let number = s
                .partition
                .as_ref()
                .map_or_else(|| "-".to_string(), |p| p.number.to_string());
            let content = match &s.content {
                StructureContent::Empty => "empty".to_string(),
                StructureContent::Raw(images) => format!("{} raw image(s)", images.len()),
                StructureContent::Filesystem(fs) => format!(
                    "{} {}, {} entries",
                    fs.kind,
                    fs.label.as_deref().unwrap_or("-"),
                    fs.files.len()
                ),
            };
            out.push_str(&format!(
                "  {number:<2} {:<20} {:<14} {:<12} {:<12} {content}\n",
                s.name,
                s.role.as_deref().unwrap_or("-"),
                s.offset,
                s.size
            ));
        }
    }
    out
}

#[cfg(test)]
#[path = "build/assemble_tests.rs"]
mod tests;
