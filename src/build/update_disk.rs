//! The update disk (`snapsmith update-disk`, docs/update-disk.md): a small GPT image with one
//! vfat partition named `snapsmith-update` (its own partition type GUID) holding update snaps
//! and, beside each asserted one, `<stem>.assert` with its snap-declaration and snap-revision
//! (and any account-key that signed them). Written rootlessly through the project's planner
//! and writer, into a [`Staging`] directory and renamed into place whole. Also the small GPT
//! volumes of named partitions ([`Part`], [`gpt_volume`]) that the VM harness builds disks
//! with.

use super::Staging;
use crate::assertion::{self, Assertion};
use crate::plan::{
    DiskId, FileEntry, FileSource, FilesystemPlan, FsKind, PartitionEntry, PartitionKind, Schema,
    StructureContent, StructurePlan, VolumePlan,
};
use crate::repro::derive_uuid;
use crate::units::MIB;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// GPT type of an EFI system partition.
const ESP_TYPE: Uuid = uuid::uuid!("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
/// GPT type of a Linux filesystem partition.
const LINUX_TYPE: Uuid = uuid::uuid!("0FC63DAF-8483-4772-8E79-3D69C72E3D72");
/// GPT type of a basic data partition.
const DATA_TYPE: Uuid = uuid::uuid!("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");
/// GPT type of the update partition, snapsmith's own (see [`crate::boot::update::PARTITION_TYPE`]).
pub const UPDATE_TYPE: Uuid = crate::boot::update::PARTITION_TYPE;

/// One partition of a small GPT disk.
#[derive(Debug, Clone)]
pub struct Part {
    /// GPT partition name (also the filesystem label when it fits).
    pub name: String,
    pub kind: FsKind,
    pub size: u64,
    /// Files, parents before children.
    pub files: Vec<FileEntry>,
    pub esp: bool,
    /// A partition type of its own (else ESP, Linux or basic data by `esp` and `kind`).
    pub type_guid: Option<Uuid>,
}

impl Part {
    pub fn new(name: &str, kind: FsKind, size: u64) -> Part {
        Part {
            name: name.to_string(),
            kind,
            size,
            files: Vec::new(),
            esp: false,
            type_guid: None,
        }
    }

    /// Adds a file (and any missing parent directories) from bytes or a host file.
    pub fn file(mut self, path: &str, source: FileSource) -> Part {
        let mut prefix = String::new();
        let dirs = path.split('/').collect::<Vec<_>>();
        for dir in dirs.split_last().map_or(&[][..], |(_, d)| d) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(dir);
            if !self.files.iter().any(|f| f.path == prefix) {
                self.files.push(FileEntry {
                    path: prefix.clone(),
                    source: FileSource::Directory,
                });
            }
        }
        self.files.push(FileEntry {
            path: path.to_string(),
            source,
        });
        self
    }

    fn structure(&self, disk: &str, index: usize, offset: u64) -> Result<StructurePlan> {
        let label = (self.name.len() <= 11 || self.kind == FsKind::Ext4).then(|| self.name.clone());
        let type_guid = match (self.type_guid, self.esp, self.kind) {
            (Some(t), _, _) => t,
            (None, true, _) => ESP_TYPE,
            (None, false, FsKind::Ext4) => LINUX_TYPE,
            (None, false, _) => DATA_TYPE,
        };
        let id = |what: &[u8]| derive_uuid(&[disk.as_bytes(), self.name.as_bytes(), what]);
        Ok(StructurePlan {
            index,
            name: self.name.clone(),
            role: None,
            offset,
            size: self.size,
            partition: Some(PartitionEntry {
                number: u32::try_from(index + 1)?,
                kind: PartitionKind::Gpt {
                    type_guid,
                    unique_guid: id(b"part"),
                    name: self.name.clone(),
                },
            }),
            content: StructureContent::Filesystem(FilesystemPlan {
                kind: self.kind,
                label,
                uuid: id(b"fs"),
                hash_seed: id(b"hash"),
                files: self.files.clone(),
            }),
        })
    }
}

/// The GPT volume `name` with `parts` laid out from 1 MiB, each aligned to 1 MiB; identifiers
/// derive from the names, so the same parts give the same disk.
pub fn gpt_volume(name: &str, parts: &[Part]) -> Result<VolumePlan> {
    let mut offset = MIB;
    let mut structures = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        structures.push(part.structure(name, i, offset)?);
        offset = offset
            .checked_add(part.size.div_ceil(MIB) * MIB)
            .context("disk size overflows")?;
    }
    Ok(VolumePlan {
        name: name.to_string(),
        schema: Schema::Gpt,
        sector_size: crate::units::SectorSize::B512,
        // Room for the backup GPT at the end.
        size: offset + MIB,
        disk_id: DiskId::Gpt(derive_uuid(&[name.as_bytes(), b"disk"])),
        structures,
        offset_writes: Vec::new(),
    })
}

/// A file of the update partition: its name at the root and where its bytes come from.
#[derive(Debug, Clone)]
pub struct UpdateFile {
    pub name: String,
    pub source: FileSource,
}

fn read_assertions(path: &Path) -> Result<Vec<Assertion>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    assertion::decode_stream(&data).with_context(|| format!("{}", path.display()))
}

/// Assertions read from the `--assertions` files, each with the file it came from.
struct Given<'a> {
    all: Vec<(&'a PathBuf, Assertion)>,
    used: Vec<Assertion>,
}

impl Given<'_> {
    /// Every account and account-key given, then the snap-declaration and snap-revision of
    /// the snap with digest `sha3_384`; `None` when no snap-revision has that digest.
    fn for_snap(&mut self, name: &str, sha3_384: &str) -> Result<Option<Vec<Assertion>>> {
        let revisions: Vec<(&PathBuf, Assertion)> = self
            .all
            .iter()
            .filter(|(_, a)| {
                a.type_name() == "snap-revision" && a.header_str("snap-sha3-384") == Some(sha3_384)
            })
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        if revisions.is_empty() {
            return Ok(None);
        }
        let mut stream: Vec<Assertion> = self
            .all
            .iter()
            .filter(|(_, a)| matches!(a.type_name(), "account" | "account-key"))
            .map(|(_, a)| a.clone())
            .collect();
        for (from, rev) in revisions {
            let id = rev.header_str("snap-id").unwrap_or_default();
            let decl = self
                .all
                .iter()
                .map(|(_, a)| a)
                .find(|a| {
                    a.type_name() == "snap-declaration" && a.header_str("snap-id") == Some(id)
                })
                .with_context(|| {
                    format!(
                        "{}: no snap-declaration for snap-id {id:?} of {name}",
                        from.display()
                    )
                })?
                .clone();
            self.used.extend([decl.clone(), rev.clone()]);
            stream.extend([decl, rev]);
        }
        Ok(Some(stream))
    }
}

/// The update partition's files for `snaps` and the assertion streams `assertions`: each snap
/// under its file name and, when a snap-revision has its digest, `<stem>.assert` with that
/// revision, its snap-declaration and every account and account-key given. A snap-revision
/// that matches no snap, or a snap-declaration missing for one, is an error naming it.
pub fn update_files(snaps: &[PathBuf], assertions: &[PathBuf]) -> Result<Vec<UpdateFile>> {
    let mut given = Given {
        all: Vec::new(),
        used: Vec::new(),
    };
    for path in assertions {
        given
            .all
            .extend(read_assertions(path)?.into_iter().map(|a| (path, a)));
    }
    let mut files: Vec<UpdateFile> = Vec::new();
    for snap in snaps {
        let name = snap_name(snap)?;
        if files.iter().any(|f| f.name == name) {
            bail!(
                "{}: another --snap has the file name {name}",
                snap.display()
            );
        }
        crate::snap::SnapFile::open(snap)?;
        let digest = crate::snap::digest(snap)?;
        files.push(UpdateFile {
            name: name.clone(),
            source: FileSource::File(snap.clone()),
        });
        if let Some(stream) = given.for_snap(&name, &digest.sha3_384)? {
            files.push(UpdateFile {
                name: format!("{}.assert", name.trim_end_matches(".snap")),
                source: FileSource::Bytes(assertion::encode_stream(&stream)),
            });
        }
    }
    let unused = given
        .all
        .iter()
        .find(|(_, a)| a.type_name() == "snap-revision" && !given.used.contains(a));
    if let Some((from, a)) = unused {
        bail!(
            "{}: {} matches none of the snaps given",
            from.display(),
            a.describe()
        );
    }
    Ok(files)
}

fn snap_name(snap: &Path) -> Result<String> {
    let name = snap
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no file name", snap.display()))?;
    if !name.ends_with(".snap") || name.starts_with('.') {
        bail!(
            "{}: an update snap's file name must end in .snap",
            snap.display()
        );
    }
    Ok(name)
}

/// The `snapsmith-update` partition holding `files`, sized for them.
pub fn update_part(files: &[UpdateFile]) -> Result<Part> {
    let mut content = 0u64;
    let mut part = Part::new(crate::boot::update::PARTITION, FsKind::Vfat, 0);
    part.type_guid = Some(UPDATE_TYPE);
    for f in files {
        content += match &f.source {
            FileSource::File(p) => std::fs::metadata(p)
                .with_context(|| format!("reading {}", p.display()))?
                .len(),
            FileSource::Bytes(b) => u64::try_from(b.len())?,
            _ => 0,
        };
        part = part.file(&f.name, f.source.clone());
    }
    // FAT32 with 512-byte clusters needs 33 MiB; leave a fifth spare for FAT metadata.
    part.size = (content + content / 5 + 8 * MIB).div_ceil(MIB).max(40) * MIB;
    Ok(part)
}

/// Writes the update disk holding `files` to `out`, atomically: staged beside it and renamed
/// into place only when complete. A fixed build time keeps the disk reproducible.
pub fn write_update_disk(files: &[UpdateFile], out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .with_context(|| format!("{} has no file name", out.display()))?
        .to_string_lossy()
        .into_owned();
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let volume = gpt_volume("update", &[update_part(files)?])?;
    let staging = Staging::create(dir, false)?;
    let written = crate::disk::write_volume(
        &volume,
        &staging.path().join(&name),
        &crate::disk::WriteOptions::new(0),
    );
    match written {
        Ok(_) => Ok(staging.commit(&[name])?.remove(0)),
        Err(err) => Err(staging.fail(err)),
    }
}
