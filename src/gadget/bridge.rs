//! From a gadget to an [`ImagePlan`]: partition entries, filesystems with their resolved files,
//! raw images, offset-write values and image sizes, with identifiers derived from the inputs.
//!
//! The plan is what the disk writer executes, byte for byte. Later stages (the seed writer)
//! add their files to the filesystem of a role through [`filesystem_for_role`] and
//! [`add_file`], then re-check the fit with [`check_fit`].

use super::content::{self, Tree, Trees};
use super::layout::{PlacedStructure, VolumeLayout};
use super::schema::{At, Content, GadgetError, Role, StructureType};
use super::validate;
use super::{Gadget, LoadedGadget, Ruleset, Volume};
use crate::plan::{
    DiskId, FileEntry, FileSource, FilesystemPlan, FsKind, ImagePlan, PartitionEntry,
    PartitionKind, Schema, StructureContent, StructurePlan, VolumePlan,
};
use crate::repro;
use crate::units::{MIB, SectorSize, align_up, human};
use anyhow::{Context, Result, bail};
use uuid::Uuid;

/// Choices that are not in the gadget.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// 512 or 4096.
    pub sector_size: u64,
    /// Requested size of every volume's image; it must hold the volume.
    pub image_size: Option<u64>,
    /// The model's rule set (implicit `ubuntu-*` labels need a model with a grade).
    pub ruleset: Ruleset,
    /// More input for derived identifiers (for example the model's identity), so two devices
    /// built from one gadget get different disk GUIDs. The gadget.yaml bytes are always used.
    pub id_seed: Vec<u8>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            sector_size: 512,
            image_size: None,
            ruleset: Ruleset::Unknown,
            id_seed: Vec::new(),
        }
    }
}

/// Builds the image plan of every volume of `loaded`, reading content from `trees`.
pub fn image_plan(loaded: &LoadedGadget, trees: Trees, opts: &PlanOptions) -> Result<ImagePlan> {
    plan_volumes(loaded, trees, opts).with_context(|| format!("planning {}", loaded.shown))
}

fn plan_volumes(loaded: &LoadedGadget, trees: Trees, opts: &PlanOptions) -> Result<ImagePlan> {
    let mut gadget: Gadget = loaded.gadget.clone();
    validate::apply_implicit(&mut gadget, opts.ruleset);
    validate::gadget(&gadget, opts.ruleset)?;
    let layout = super::layout::layout(&gadget, opts.sector_size)?;
    let ids = Ids {
        yaml: &loaded.yaml,
        seed: &opts.id_seed,
    };
    let mut volumes = Vec::new();
    for (volume, laid) in gadget.volumes.iter().zip(&layout.volumes) {
        volumes.push(volume_plan(volume, laid, trees, opts, ids)?);
    }
    let plan = ImagePlan { volumes };
    plan.validate().context("checking the image plan")?;
    Ok(plan)
}

/// Derives identifiers from the gadget.yaml bytes and the caller's seed.
#[derive(Clone, Copy)]
struct Ids<'a> {
    yaml: &'a [u8],
    seed: &'a [u8],
}

impl Ids<'_> {
    fn uuid(&self, what: &str, volume: &str, index: usize) -> Uuid {
        let index = index.to_le_bytes();
        repro::derive_uuid(&[
            b"snapsmith-gadget",
            what.as_bytes(),
            self.yaml,
            self.seed,
            volume.as_bytes(),
            &index,
        ])
    }
}

fn volume_plan(
    volume: &Volume,
    laid: &VolumeLayout,
    trees: Trees,
    opts: &PlanOptions,
    ids: Ids,
) -> Result<VolumePlan> {
    let at = volume.at();
    let disk_id = match (volume.schema, &volume.id) {
        (Schema::Gpt, Some(id)) => {
            DiskId::Gpt(Uuid::parse_str(id).map_err(|_| at.err("id", "not a GUID"))?)
        }
        (Schema::Mbr, Some(id)) => {
            let hex = id.strip_prefix("0x").unwrap_or(id);
            DiskId::Mbr(u32::from_str_radix(hex, 16).map_err(|_| at.err("id", "not a hex number"))?)
        }
        (Schema::Gpt, None) => DiskId::Gpt(ids.uuid("disk", &volume.name, 0)),
        (Schema::Mbr, None) => DiskId::Mbr(repro::derive_u32(&[
            b"snapsmith-gadget-mbr",
            ids.yaml,
            ids.seed,
            volume.name.as_bytes(),
        ])),
    };
    let mut structures = Vec::new();
    for placed in &laid.structures {
        structures.push(structure_plan(volume, placed, trees, ids)?);
    }
    let size = image_size(volume, laid, opts.image_size)?;
    if volume.schema == Schema::Gpt {
        // The backup GPT takes the image's last sectors; nothing may reach into them.
        let backup = size.saturating_sub(super::layout::gpt_backup_size(laid.sector_size));
        if let Some(s) = structures
            .iter()
            .find(|s| s.offset.saturating_add(s.size) > backup)
        {
            let at = At {
                volume: &volume.name,
                structure: Some(&s.name),
            };
            let message = format!("ends in the backup GPT area, which starts at {backup}");
            return Err(at.err("size", message).into());
        }
    }
    Ok(VolumePlan {
        name: volume.name.clone(),
        schema: volume.schema,
        sector_size: SectorSize::try_from(laid.sector_size)?,
        size,
        disk_id,
        structures,
        offset_writes: laid.offset_writes.clone(),
    })
}

/// The image size: at least the layout's minimum; a requested size must not be smaller.
pub fn image_size(
    volume: &Volume,
    laid: &VolumeLayout,
    requested: Option<u64>,
) -> Result<u64, GadgetError> {
    let min = laid.min_image_size();
    let Some(requested) = requested else {
        return Ok(min);
    };
    let aligned = align_up(requested, laid.sector_size).unwrap_or(u64::MAX);
    if aligned < min {
        return Err(volume.at().err(
            "image-size",
            format!(
                "requested image size {requested} ({}) is too small: the volume needs at least {min} bytes ({})",
                human(requested),
                human(min)
            ),
        ));
    }
    Ok(aligned)
}

fn structure_plan(
    volume: &Volume,
    placed: &PlacedStructure,
    trees: Trees,
    ids: Ids,
) -> Result<StructurePlan> {
    let s = &placed.structure;
    let shown = s.display_name();
    let at = At {
        volume: &volume.name,
        structure: Some(&shown),
    };
    let partition = placed.partition.map(|number| PartitionEntry {
        number,
        kind: partition_kind(volume, placed, ids),
    });
    let content = match (&s.content, s.filesystem) {
        (Content::Files(files), Some(kind)) => {
            let files = content::resolve_files(&at, files, trees, kind, false)?;
            let fs = FilesystemPlan {
                kind,
                label: s.label.clone(),
                uuid: ids.uuid("fs-uuid", &volume.name, s.index),
                hash_seed: ids.uuid("fs-hash-seed", &volume.name, s.index),
                files,
            };
            check_fit(&at, &fs, s.size)?;
            StructureContent::Filesystem(fs)
        }
        (Content::Images(images), None) if !images.is_empty() => StructureContent::Raw(
            super::images::resolve_images(&at, images, trees.gadget, s.size)?,
        ),
        _ => StructureContent::Empty,
    };
    Ok(StructurePlan {
        index: s.index,
        name: s.name.clone().unwrap_or_default(),
        role: s.role.map(|r| r.as_str().to_string()),
        offset: placed.offset,
        size: s.size,
        partition,
        content,
    })
}

fn partition_kind(volume: &Volume, placed: &PlacedStructure, ids: Ids) -> PartitionKind {
    let s = &placed.structure;
    match volume.schema {
        Schema::Gpt => PartitionKind::Gpt {
            type_guid: match s.type_ {
                StructureType::Guid(g) | StructureType::Hybrid(_, g) => g,
                // The schema check in parsing leaves only GUID forms on GPT partitions.
                _ => Uuid::nil(),
            },
            unique_guid: s
                .id
                .unwrap_or_else(|| ids.uuid("partition", &volume.name, s.index)),
            name: s.name.clone().unwrap_or_default(),
        },
        Schema::Mbr => PartitionKind::Mbr {
            type_byte: match s.type_ {
                StructureType::MbrByte(b) | StructureType::Hybrid(b, _) => b,
                _ => 0,
            },
            bootable: s.role == Some(Role::SystemBoot),
        },
    }
}

/// The filesystem plan of the structure with `role` (for example `system-seed`), to add files.
pub fn filesystem_for_role(plan: &mut ImagePlan, role: Role) -> Option<&mut FilesystemPlan> {
    plan.volumes
        .iter_mut()
        .flat_map(|v| v.structures.iter_mut())
        .filter(|s| s.role.as_deref() == Some(role.as_str()))
        .find_map(|s| match &mut s.content {
            StructureContent::Filesystem(fs) => Some(fs),
            _ => None,
        })
}

/// Adds (or replaces) a file in a filesystem plan, creating parent directories and keeping
/// parents before children.
pub fn add_file(fs: &mut FilesystemPlan, path: &str, source: FileSource) -> Result<()> {
    let path = path.trim_matches('/');
    if path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        bail!("invalid path {path:?} in the filesystem");
    }
    let mut tree = Tree::from_entries(&fs.files);
    match source {
        FileSource::Directory => tree.mkdir_all(path),
        other => tree.put(path, other),
    }
    .map_err(|m| anyhow::anyhow!("adding {path}: {m}"))?;
    fs.files = tree.into_entries();
    Ok(())
}

/// Bytes the files of a filesystem occupy, estimated generously: each file rounded up to a
/// 4 KiB block, one block per directory and per symlink.
pub fn estimated_usage(files: &[FileEntry]) -> Result<u64> {
    const BLOCK: u64 = 4096;
    let mut total = 0u64;
    for f in files {
        let bytes = match &f.source {
            FileSource::File(path) => std::fs::metadata(path)
                .with_context(|| format!("reading {}", path.display()))?
                .len(),
            FileSource::Bytes(b) => u64::try_from(b.len())?,
            FileSource::Directory | FileSource::Symlink(_) => 0,
        };
        total = total.saturating_add(align_up(bytes, BLOCK).unwrap_or(u64::MAX).max(BLOCK));
    }
    Ok(total)
}

/// Bytes of a filesystem of `size` bytes available to files, estimated low: vfat loses its FATs
/// and reserved sectors, ext4 its inode tables (1/32 with small-filesystem settings), the
/// journal and a safety margin.
pub fn estimated_capacity(kind: FsKind, size: u64) -> u64 {
    let overhead = match kind {
        FsKind::Vfat | FsKind::Vfat16 | FsKind::Vfat32 => size / 256 + 64 * 1024,
        FsKind::Ext4 => {
            let journal = match size {
                s if s < 128 * MIB => s / 16,
                s if s < 1024 * MIB => 16 * MIB,
                _ => 64 * MIB,
            };
            size / 32 + journal + MIB
        }
    };
    size.saturating_sub(overhead)
}

/// Re-checks that every filesystem's files fit (after later stages added theirs).
pub fn check_plan_fit(plan: &ImagePlan) -> Result<()> {
    for v in &plan.volumes {
        for s in &v.structures {
            if let StructureContent::Filesystem(fs) = &s.content {
                let at = At {
                    volume: &v.name,
                    structure: Some(&s.name),
                };
                check_fit(&at, fs, s.size)?;
            }
        }
    }
    Ok(())
}

/// Refuses files that cannot fit in a filesystem of `size` bytes, saying by how much.
pub fn check_fit(at: &At, fs: &FilesystemPlan, size: u64) -> Result<()> {
    let need = estimated_usage(&fs.files)?;
    let room = estimated_capacity(fs.kind, size);
    if need > room {
        return Err(at
            .err(
                "content",
                format!(
                    "needs about {} but the {} {} filesystem holds about {} ({} too much)",
                    human(need),
                    human(size),
                    super::schema::fs_kind_str(fs.kind),
                    human(room),
                    human(need - room)
                ),
            )
            .into());
    }
    Ok(())
}

/// Content checks for a gadget whose tree is known: sources exist and stay inside the tree,
/// raw images fit, files fit their filesystem, `cmdline.extra` and `cmdline.full` are not both
/// shipped. `$kernel:` sources are checked only when a kernel tree is given.
pub fn check_content(gadget: &Gadget, trees: Trees) -> Result<()> {
    for volume in &gadget.volumes {
        for s in &volume.structures {
            let shown = s.display_name();
            let at = At {
                volume: &volume.name,
                structure: Some(&shown),
            };
            match (&s.content, s.filesystem) {
                (Content::Files(files), Some(kind)) => {
                    let files = content::resolve_files(&at, files, trees, kind, true)?;
                    let fs = FilesystemPlan {
                        kind,
                        label: s.label.clone(),
                        uuid: Uuid::nil(),
                        hash_seed: Uuid::nil(),
                        files,
                    };
                    check_fit(&at, &fs, s.size)?;
                }
                (Content::Images(images), _) => {
                    super::images::resolve_images(&at, images, trees.gadget, s.size)?;
                }
                _ => {}
            }
        }
    }
    super::extras::cmdline_file(trees.gadget)?;
    Ok(())
}
