//! Loading a gadget from disk: a gadget.yaml file, a gadget source directory (with
//! `meta/gadget.yaml`) or a gadget `.snap` (squashfs, read without mounting).
//!
//! Errors name the file read, then the volume, structure and field inside it.

use super::{Gadget, Ruleset};
use crate::snap::{SnapFile, SnapType};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Where a gadget came from; decides whether its content tree is available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GadgetSource {
    /// A bare gadget.yaml: no tree, layout rules only.
    Yaml(PathBuf),
    /// A gadget source directory holding `meta/gadget.yaml`.
    Dir(PathBuf),
    /// A gadget `.snap`: the tree is inside the squashfs ([`extract_snap`] unpacks it).
    Snap(PathBuf),
}

#[derive(Debug, Clone)]
pub struct LoadedGadget {
    pub gadget: Gadget,
    /// The gadget.yaml bytes: identifiers in the plan are derived from them.
    pub yaml: Vec<u8>,
    pub source: GadgetSource,
    /// How messages name the gadget.yaml (`dir/meta/gadget.yaml`, `pc.snap:meta/gadget.yaml`).
    pub shown: String,
}

impl LoadedGadget {
    /// The gadget tree, when it is a directory on disk.
    pub fn root(&self) -> Option<&Path> {
        match &self.source {
            GadgetSource::Dir(dir) => Some(dir),
            _ => None,
        }
    }
}

/// Reads and validates the gadget at `path` (file, directory or `.snap`).
pub fn load(path: &Path, ruleset: Ruleset) -> Result<LoadedGadget> {
    let (yaml, source, shown) = read_yaml(path)?;
    from_bytes(yaml, source, shown, ruleset)
}

/// Parses gadget.yaml bytes already read (for example out of a gadget snap); `shown` names
/// them in messages.
pub fn from_bytes(
    yaml: Vec<u8>,
    source: GadgetSource,
    shown: String,
    ruleset: Ruleset,
) -> Result<LoadedGadget> {
    let text = std::str::from_utf8(&yaml).with_context(|| format!("{shown}: not UTF-8 text"))?;
    let gadget = Gadget::parse(text, ruleset).with_context(|| shown.clone())?;
    Ok(LoadedGadget {
        gadget,
        yaml,
        source,
        shown,
    })
}

/// The gadget.yaml bytes, where they came from, and how to name them in messages.
pub fn read_yaml(path: &Path) -> Result<(Vec<u8>, GadgetSource, String)> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_dir() {
        let file = path.join("meta/gadget.yaml");
        if !file.is_file() {
            bail!(
                "{}: not a gadget source directory (no meta/gadget.yaml)",
                path.display()
            );
        }
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        return Ok((
            bytes,
            GadgetSource::Dir(path.to_path_buf()),
            file.display().to_string(),
        ));
    }
    if is_squashfs(path)? {
        let snap = SnapFile::open(path)?;
        if snap.info().snap_type != SnapType::Gadget {
            bail!(
                "{}: snap {} is not a gadget snap",
                path.display(),
                snap.info().name
            );
        }
        let bytes = snap.gadget_yaml()?;
        let shown = format!("{}:meta/gadget.yaml", path.display());
        return Ok((bytes, GadgetSource::Snap(path.to_path_buf()), shown));
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((
        bytes,
        GadgetSource::Yaml(path.to_path_buf()),
        path.display().to_string(),
    ))
}

fn is_squashfs(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = file
        .read(&mut magic)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(n == 4 && &magic == b"hsqs")
}

/// A `.snap` unpacked into a temporary directory, removed when dropped.
#[derive(Debug)]
pub struct ExtractedSnap {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

/// Unpacks a `.snap` (the gadget, or a kernel for `$kernel:` content) so its files can be read.
pub fn extract_snap(snap: &Path) -> Result<ExtractedSnap> {
    let dir = tempfile::Builder::new()
        .prefix("snapsmith-gadget-")
        .tempdir()
        .context("creating a temporary directory")?;
    let dest = dir.path().join("tree");
    SnapFile::open(snap)?
        .extract_to(&dest)
        .with_context(|| format!("unpacking {}", snap.display()))?;
    Ok(ExtractedSnap {
        _dir: dir,
        root: dest,
    })
}
