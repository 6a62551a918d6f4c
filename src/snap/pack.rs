//! Packing a directory into a deterministic `.snap` (squashfs) with `backhand`'s writer.
//!
//! Determinism comes from the inputs only: entries are walked in byte order of their names,
//! every entry is owned by root, every timestamp is the one given in [`PackOptions`] (from
//! `SOURCE_DATE_EPOCH`, else 0), and modes are kept as they are in the tree. The same tree with
//! the same options gives the same bytes. The output is written beside the target and renamed
//! into place, so a failed pack leaves nothing at the output path.

use super::yaml::SnapInfo;
use anyhow::{Context, Result, bail};
use backhand::compression::Compressor;
use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Squashfs compression of a packed snap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// snapd's default; smallest.
    #[default]
    Xz,
    /// For snaps a bootloader reads (GRUB 2.06 reads gzip, xz and lzo squashfs only, and
    /// decompresses gzip fastest).
    Gzip,
}

impl FromStr for Compression {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "xz" => Ok(Compression::Xz),
            "gzip" => Ok(Compression::Gzip),
            other => bail!("unknown compression {other:?} (expected xz or gzip)"),
        }
    }
}

/// How to pack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackOptions {
    pub compression: Compression,
    /// The timestamp of every entry and of the image (seconds since the epoch).
    pub mtime: u32,
}

impl PackOptions {
    /// Xz, with every timestamp at `secs` since the epoch (the CLI passes `SOURCE_DATE_EPOCH`,
    /// or 0 when it is unset).
    pub fn at(secs: i64) -> Result<PackOptions> {
        let mtime = u32::try_from(secs)
            .with_context(|| format!("SOURCE_DATE_EPOCH={secs} does not fit squashfs time"))?;
        Ok(PackOptions {
            compression: Compression::Xz,
            mtime,
        })
    }
}

/// Packs `dir` into the snap file `out`, after validating `dir/meta/snap.yaml`; returns the
/// parsed snap.yaml.
pub fn pack_dir(dir: &Path, out: &Path, options: &PackOptions) -> Result<SnapInfo> {
    let yaml_path = dir.join("meta/snap.yaml");
    let yaml = fs::read(&yaml_path).with_context(|| format!("reading {}", yaml_path.display()))?;
    let info = SnapInfo::parse(&yaml).with_context(|| format!("{}", yaml_path.display()))?;

    let mut writer = FilesystemWriter::default();
    writer.set_time(options.mtime);
    writer.set_root_mode(0o755);
    writer.set_root_uid(0);
    writer.set_root_gid(0);
    writer.set_only_root_id();
    let id = match options.compression {
        Compression::Xz => Compressor::Xz,
        Compression::Gzip => Compressor::Gzip,
    };
    writer.set_compressor(FilesystemCompressor::new(id, None).map_err(|e| anyhow::anyhow!("{e}"))?);
    add_tree(&mut writer, dir, Path::new(""), options.mtime)?;

    write_atomically(out, |file| {
        writer
            .write(file)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("writing squashfs")?;
        Ok(())
    })
    .with_context(|| format!("packing {} into {}", dir.display(), out.display()))?;
    Ok(info)
}

/// Adds the children of `dir/rel` in byte order of their names, depth first.
fn add_tree(
    writer: &mut FilesystemWriter<'_, '_, '_>,
    dir: &Path,
    rel: &Path,
    mtime: u32,
) -> Result<()> {
    let here = dir.join(rel);
    let mut names: Vec<_> = fs::read_dir(&here)
        .with_context(|| format!("reading directory {}", here.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading directory {}", here.display()))?;
    names.sort();
    for name in names {
        let rel_child = rel.join(&name);
        let host = dir.join(&rel_child);
        let meta =
            fs::symlink_metadata(&host).with_context(|| format!("reading {}", host.display()))?;
        let mode = u16::try_from(meta.mode() & 0o7777)?;
        let header = NodeHeader::new(mode, 0, 0, mtime);
        let in_image = Path::new("/").join(&rel_child);
        let added = if meta.is_dir() {
            writer.push_dir(&in_image, header).map(|_| true)
        } else if meta.is_file() {
            writer
                .push_file_from_path(host.clone(), &in_image, header)
                .map(|_| false)
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(&host)?;
            writer
                .push_symlink(target, &in_image, header)
                .map(|_| false)
        } else {
            bail!(
                "{}: only files, directories and symlinks can go in a snap",
                host.display()
            );
        };
        let is_dir = added
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("adding {}", host.display()))?;
        if is_dir {
            add_tree(writer, dir, &rel_child, mtime)?;
        }
    }
    Ok(())
}

/// Writes `out` through a temporary file in the same directory, renamed into place on success
/// and removed on failure. The result is world-readable like any other build output.
pub fn write_atomically(
    out: &Path,
    write: impl FnOnce(&mut BufWriter<&fs::File>) -> Result<()>,
) -> Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".snapsmith-")
        .suffix(".tmp")
        .tempfile_in(&parent)
        .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
    {
        let mut buf = BufWriter::new(tmp.as_file());
        write(&mut buf)?;
        buf.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))?;
    tmp.persist(out)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming into {}", out.display()))?;
    Ok(())
}
