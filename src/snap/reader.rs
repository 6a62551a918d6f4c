//! Reading a `.snap` file without mounting it: metadata, single files, listing and extraction.
//!
//! A snap is a squashfs image; `backhand` parses it in process, so no loop device, root or
//! `unsquashfs` is needed. [`SnapFile`] keeps the parsed directory tree and reads file contents
//! on demand.

use super::yaml::SnapInfo;
use anyhow::{Context, Result, bail};
use backhand::traits::Compressor;
use backhand::{FilesystemReader, InnerNode, Node, SquashfsFileReader};
use serde::Serialize;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Upper bound for a file read whole into memory (metadata files, gadget assets).
const MAX_READ: u64 = 256 << 20;

/// An opened `.snap` file with its parsed `meta/snap.yaml`.
pub struct SnapFile {
    path: PathBuf,
    fs: FilesystemReader<'static>,
    info: SnapInfo,
}

/// What a tree entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Directory,
    File { size: u64 },
    Symlink { target: String },
    Other,
}

/// One entry of the snap's tree, as listed by [`SnapFile::entries`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Relative path, `/`-separated; the root is not listed.
    pub path: String,
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub kind: EntryKind,
}

impl std::fmt::Debug for SnapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapFile")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

impl SnapFile {
    /// Opens a snap and parses its `meta/snap.yaml`.
    pub fn open(path: impl AsRef<Path>) -> Result<SnapFile> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        // The reader's own error for a file that is not squashfs at all names no cause a
        // person can act on; the magic says it plainly.
        let mut magic = [0u8; 4];
        // A positioned read leaves the file offset at 0 for the squashfs reader.
        let read = std::os::unix::fs::FileExt::read_at(&file, &mut magic, 0)
            .with_context(|| format!("reading {}", path.display()))?;
        if read < magic.len() || magic != *b"hsqs" {
            bail!(
                "{} is not a squashfs snap: it does not start with the squashfs magic \"hsqs\"",
                path.display()
            );
        }
        let fs = FilesystemReader::from_reader(BufReader::new(file))
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{} is not a squashfs snap", path.display()))?;
        let yaml = read_whole(&fs, &path, "meta/snap.yaml")?;
        let info = SnapInfo::parse(&yaml)
            .with_context(|| format!("{}: meta/snap.yaml", path.display()))?;
        Ok(SnapFile { path, fs, info })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn info(&self) -> &SnapInfo {
        &self.info
    }

    /// The squashfs compression (`gzip`, `xz`, ...).
    pub fn compression(&self) -> &'static str {
        match self.fs.compressor {
            Some(Compressor::Uncompressed) | None => "none",
            Some(Compressor::Gzip) => "gzip",
            Some(Compressor::Lzma) => "lzma",
            Some(Compressor::Lzo) => "lzo",
            Some(Compressor::Xz) => "xz",
            Some(Compressor::Lz4) => "lz4",
            Some(Compressor::Zstd) => "zstd",
        }
    }

    /// True when the snap holds a regular file at `path`.
    pub fn has_file(&self, path: &str) -> bool {
        matches!(
            find(&self.fs, path).map(|n| &n.inner),
            Some(InnerNode::File(_))
        )
    }

    /// The whole content of the regular file at `path` (relative to the snap's root).
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        read_whole(&self.fs, &self.path, path)
    }

    /// `meta/gadget.yaml` of a gadget snap.
    pub fn gadget_yaml(&self) -> Result<Vec<u8>> {
        self.read_file("meta/gadget.yaml")
    }

    /// `meta/kernel.yaml` of a kernel snap, when it has one.
    pub fn kernel_yaml(&self) -> Result<Option<Vec<u8>>> {
        if self.has_file("meta/kernel.yaml") {
            self.read_file("meta/kernel.yaml").map(Some)
        } else {
            Ok(None)
        }
    }

    /// Every entry of the tree in path order (parents before children), root excluded.
    pub fn entries(&self) -> Vec<Entry> {
        self.fs
            .files()
            .filter_map(|node| {
                let path = relative(&node.fullpath)?;
                let kind = match &node.inner {
                    InnerNode::Dir(_) => EntryKind::Directory,
                    InnerNode::File(f) => EntryKind::File {
                        size: u64::try_from(f.file_len()).ok()?,
                    },
                    InnerNode::Symlink(s) => EntryKind::Symlink {
                        target: s.link.to_string_lossy().into_owned(),
                    },
                    _ => EntryKind::Other,
                };
                Some(Entry {
                    path,
                    mode: node.header.permissions,
                    uid: node.header.uid,
                    gid: node.header.gid,
                    kind,
                })
            })
            .collect()
    }

    /// Writes the snap's tree under `dir` (created if missing; must not already hold the
    /// snap's files). Devices, fifos and sockets are refused: snaps have no use for them.
    pub fn extract_to(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for node in self.fs.files() {
            let Some(rel) = relative(&node.fullpath) else {
                continue;
            };
            let target = dir.join(&rel);
            self.extract_node(node, &rel, &target).with_context(|| {
                format!(
                    "extracting {rel} from {} to {}",
                    self.path.display(),
                    dir.display()
                )
            })?;
        }
        Ok(())
    }

    fn extract_node(
        &self,
        node: &Node<SquashfsFileReader>,
        rel: &str,
        target: &Path,
    ) -> Result<()> {
        let mode = u32::from(node.header.permissions & 0o777);
        match &node.inner {
            InnerNode::Dir(_) => {
                std::fs::create_dir(target)?;
                std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode | 0o700))?;
            }
            InnerNode::File(file) => {
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(target)?;
                copy_file(&self.fs, file, &mut out)?;
                out.flush()?;
            }
            InnerNode::Symlink(link) => std::os::unix::fs::symlink(&link.link, target)?,
            _ => bail!("{rel} is a device, fifo or socket"),
        }
        Ok(())
    }
}

/// The node path relative to the root, or `None` for the root itself and for any path that
/// is not made of plain components (a hostile image must not write outside the target).
fn relative(full: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in full.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(p) => parts.push(p.to_str()?),
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The node at `path` (relative to the root).
fn find<'a>(fs: &'a FilesystemReader<'static>, path: &str) -> Option<&'a Node<SquashfsFileReader>> {
    let wanted = Path::new("/").join(path.trim_start_matches('/'));
    fs.root
        .nodes
        .binary_search_by(|n| n.fullpath.as_path().cmp(&wanted))
        .ok()
        .map(|i| &fs.root.nodes[i])
}

fn read_whole(fs: &FilesystemReader<'static>, snap: &Path, path: &str) -> Result<Vec<u8>> {
    let node = find(fs, path).with_context(|| format!("{path} not found in {}", snap.display()))?;
    let InnerNode::File(file) = &node.inner else {
        bail!("{path} in {} is not a regular file", snap.display());
    };
    if u64::try_from(file.file_len())? > MAX_READ {
        bail!(
            "{path} in {} is larger than the {MAX_READ}-byte limit for reading into memory",
            snap.display()
        );
    }
    let mut out = Vec::new();
    copy_file(fs, file, &mut out)
        .with_context(|| format!("reading {path} from {}", snap.display()))?;
    Ok(out)
}

fn copy_file(
    fs: &FilesystemReader<'static>,
    file: &SquashfsFileReader,
    out: &mut impl Write,
) -> Result<()> {
    let len = u64::try_from(file.file_len())?;
    let reader = fs
        .file(file)
        .reader_checked()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let copied = std::io::copy(&mut reader.take(len), out)?;
    if copied != len {
        bail!("file is truncated: {copied} of {len} bytes");
    }
    Ok(())
}
