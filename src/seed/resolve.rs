//! Resolution: which snap file fills which model entry, decided before any byte is written.
//!
//! Pure logic over small input types: the model's snap list ([`ModelSpec`]), the snap files
//! given on the command line ([`Candidate`]) and the facts of verified snap assertions
//! ([`AssertedRevision`]). Every refusal is a [`ResolveError`] naming the snap and the rule, so
//! callers and tests can tell them apart.

use crate::snap::{SnapDigest, SnapInfo, SnapType};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// Model grade: how strictly snaps must be asserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    Dangerous,
    Signed,
    Secured,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Dangerous => "dangerous",
            Grade::Signed => "signed",
            Grade::Secured => "secured",
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parts of a verified model that resolution needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub architecture: String,
    /// The model's `base` header.
    pub base: String,
    pub grade: Grade,
    pub snaps: Vec<ModelSnap>,
}

/// One `snaps` entry of the model, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSnap {
    pub name: String,
    /// Required unless the grade is dangerous.
    pub id: Option<String>,
    pub snap_type: SnapType,
    pub required: bool,
    /// `[run]` by default; essential snaps get `[run, ephemeral]`.
    pub modes: Vec<String>,
}

/// A snap file offered for the image, already opened and digested.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub path: PathBuf,
    pub info: SnapInfo,
    pub digest: SnapDigest,
}

/// What a verified snap-declaration + snap-revision pair says about one snap file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssertedRevision {
    pub snap_id: String,
    /// `snap-name` of the snap-declaration.
    pub snap_name: String,
    pub sha3_384: String,
    pub size: u64,
    pub revision: u64,
}

/// The revision a snap gets in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Revision {
    /// From a snap-revision assertion.
    Asserted(u64),
    /// A local, unasserted snap: `x1`, `x2`, ...
    Local(u64),
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Revision::Asserted(n) => write!(f, "{n}"),
            Revision::Local(n) => write!(f, "x{n}"),
        }
    }
}

/// A snap selected for the image.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedSnap {
    pub name: String,
    pub snap_type: SnapType,
    pub path: PathBuf,
    pub info: SnapInfo,
    pub digest: SnapDigest,
    pub revision: Revision,
    /// The snap-id when asserted (or listed by the model).
    pub snap_id: Option<String>,
    /// Listed by the model (false for extra snaps of a dangerous model).
    pub in_model: bool,
    pub modes: Vec<String>,
}

impl SeedSnap {
    pub fn asserted(&self) -> bool {
        matches!(self.revision, Revision::Asserted(_))
    }

    /// The installed file name, `<name>_<rev>.snap`.
    pub fn file_name(&self) -> String {
        format!("{}_{}.snap", self.name, self.revision)
    }

    /// True when the snap is installed for run mode.
    pub fn for_run_mode(&self) -> bool {
        self.modes.iter().any(|m| m == "run")
    }
}

/// Why resolution refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("snap {name:?} is required by the model but no snap file was given for it")]
    Missing { name: String },
    #[error("two snap files are named {name:?}: {first} and {second}")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
    #[error(
        "snap {name:?} ({file}): type {found} in meta/snap.yaml, but the model says {expected}"
    )]
    WrongType {
        name: String,
        file: String,
        found: SnapType,
        expected: SnapType,
    },
    #[error(
        "snap {name:?} ({file}): the model lists snap-id {expected} under the name {model_name:?}, \
         but the file is snap {found_name:?}"
    )]
    WrongName {
        name: String,
        file: String,
        expected: String,
        model_name: String,
        found_name: String,
    },
    #[error("snap {name:?} ({file}) is built for {found}, not for the model's architecture {arch}")]
    WrongArch {
        name: String,
        file: String,
        found: String,
        arch: String,
    },
    #[error("snap {name:?} ({file}) needs base {base:?}, which is not in the image")]
    MissingBase {
        name: String,
        file: String,
        base: String,
    },
    #[error(
        "snap {name:?} ({file}) is not in the model; extra snaps are allowed only in grade \
         dangerous, and this model is grade {grade}"
    )]
    Extra {
        name: String,
        file: String,
        grade: Grade,
    },
    #[error(
        "snap {name:?} ({file}): grade {grade} needs a snap-declaration and snap-revision for it, \
         and none matches its sha3-384 {digest} and size {size} (pass them with --assertions)"
    )]
    Unasserted {
        name: String,
        file: String,
        grade: Grade,
        digest: String,
        size: u64,
    },
    #[error(
        "snap {name:?} ({file}): its snap-revision says size {asserted}, the file has {actual} bytes"
    )]
    WrongSize {
        name: String,
        file: String,
        asserted: u64,
        actual: u64,
    },
    #[error(
        "snap {name:?} ({file}): its assertions are for snap-id {found}, but the model lists \
         snap-id {expected}"
    )]
    WrongSnapId {
        name: String,
        file: String,
        found: String,
        expected: String,
    },
    #[error("snap {name:?} ({file}): its snap-declaration is for the snap named {declared:?}")]
    DeclaredName {
        name: String,
        file: String,
        declared: String,
    },
    #[error("gadget ({file}): its base {base:?} is not the model's base {model_base:?}")]
    GadgetBase {
        file: String,
        base: String,
        model_base: String,
    },
    #[error("the model does not list exactly one {kind} snap")]
    Essential { kind: SnapType },
}

/// Selects the snaps of the image, in seed order: snapd, core/bases, kernel, gadget, apps (model
/// order), then extra snaps by name.
pub fn resolve(
    model: &ModelSpec,
    candidates: &[Candidate],
    asserted: &[AssertedRevision],
) -> Result<Vec<SeedSnap>, ResolveError> {
    let mut by_name: BTreeMap<&str, &Candidate> = BTreeMap::new();
    for c in candidates {
        if let Some(prev) = by_name.insert(c.info.name.as_str(), c) {
            return Err(ResolveError::Duplicate {
                name: c.info.name.clone(),
                first: prev.path.display().to_string(),
                second: c.path.display().to_string(),
            });
        }
    }
    for kind in [SnapType::Gadget, SnapType::Kernel] {
        if model.snaps.iter().filter(|s| s.snap_type == kind).count() != 1 {
            return Err(ResolveError::Essential { kind });
        }
    }
    let mut selected = Vec::new();
    for entry in entries_with_base(model) {
        let Some(candidate) = by_name.remove(entry.name.as_str()) else {
            // A listed snapd snap is essential like the others (snapd's seed loader needs it),
            // though snapsmith's runtime does not run it.
            if entry.required {
                return Err(missing_or_renamed(&entry, candidates, asserted));
            }
            continue;
        };
        selected.push(select(model, Some(&entry), candidate, asserted)?);
    }
    for candidate in by_name.into_values() {
        if model.grade != Grade::Dangerous {
            return Err(ResolveError::Extra {
                name: candidate.info.name.clone(),
                file: file_of(candidate),
                grade: model.grade,
            });
        }
        selected.push(select(model, None, candidate, asserted)?);
    }
    check_bases(&selected, &model.base)?;
    selected.sort_by_key(|s| (!s.in_model, seed_rank(s.snap_type)));
    Ok(selected)
}

/// The model's entries, with the model base added when the snap list does not name it.
fn entries_with_base(model: &ModelSpec) -> Vec<ModelSnap> {
    let mut entries = model.snaps.clone();
    if !entries.iter().any(|e| e.name == model.base) {
        entries.push(ModelSnap {
            name: model.base.clone(),
            id: None,
            snap_type: SnapType::Base,
            required: true,
            modes: vec!["run".into(), "ephemeral".into()],
        });
    }
    entries
}

/// A missing entry whose snap-id matches a file under another name is a name mismatch.
fn missing_or_renamed(
    entry: &ModelSnap,
    candidates: &[Candidate],
    asserted: &[AssertedRevision],
) -> ResolveError {
    let renamed = entry.id.as_ref().and_then(|id| {
        candidates
            .iter()
            .find(|c| find_assertion(c, asserted).is_some_and(|a| &a.snap_id == id))
    });
    match (renamed, &entry.id) {
        (Some(c), Some(id)) => ResolveError::WrongName {
            name: entry.name.clone(),
            file: file_of(c),
            expected: id.clone(),
            model_name: entry.name.clone(),
            found_name: c.info.name.clone(),
        },
        _ => ResolveError::Missing {
            name: entry.name.clone(),
        },
    }
}

fn select(
    model: &ModelSpec,
    entry: Option<&ModelSnap>,
    c: &Candidate,
    asserted: &[AssertedRevision],
) -> Result<SeedSnap, ResolveError> {
    let name = c.info.name.clone();
    let file = file_of(c);
    if let Some(entry) = entry
        && entry.snap_type != c.info.snap_type
    {
        return Err(ResolveError::WrongType {
            name,
            file,
            found: c.info.snap_type,
            expected: entry.snap_type,
        });
    }
    if !c.info.supports_arch(&model.architecture) {
        return Err(ResolveError::WrongArch {
            name,
            file,
            found: c.info.architectures.join(", "),
            arch: model.architecture.clone(),
        });
    }
    let assertion = match find_assertion(c, asserted) {
        Some(a) => Some(check_assertion(c, entry, a)?),
        None if model.grade != Grade::Dangerous => {
            return Err(ResolveError::Unasserted {
                name,
                file,
                grade: model.grade,
                digest: c.digest.sha3_384.clone(),
                size: c.digest.size,
            });
        }
        None => None,
    };
    let modes = entry.map_or_else(|| vec!["run".to_string()], |e| e.modes.clone());
    Ok(SeedSnap {
        name,
        snap_type: c.info.snap_type,
        path: c.path.clone(),
        info: c.info.clone(),
        digest: c.digest.clone(),
        revision: assertion.map_or(Revision::Local(1), |a| Revision::Asserted(a.revision)),
        snap_id: assertion
            .map(|a| a.snap_id.clone())
            .or_else(|| entry.and_then(|e| e.id.clone())),
        in_model: entry.is_some(),
        modes,
    })
}

/// The assertion whose digest is the file's.
fn find_assertion<'a>(
    c: &Candidate,
    asserted: &'a [AssertedRevision],
) -> Option<&'a AssertedRevision> {
    asserted.iter().find(|a| a.sha3_384 == c.digest.sha3_384)
}

fn check_assertion<'a>(
    c: &Candidate,
    entry: Option<&ModelSnap>,
    a: &'a AssertedRevision,
) -> Result<&'a AssertedRevision, ResolveError> {
    let (name, file) = (c.info.name.clone(), file_of(c));
    if a.size != c.digest.size {
        return Err(ResolveError::WrongSize {
            name,
            file,
            asserted: a.size,
            actual: c.digest.size,
        });
    }
    if a.snap_name != c.info.name {
        return Err(ResolveError::DeclaredName {
            name,
            file,
            declared: a.snap_name.clone(),
        });
    }
    if let Some(expected) = entry.and_then(|e| e.id.as_ref())
        && *expected != a.snap_id
    {
        return Err(ResolveError::WrongSnapId {
            name,
            file,
            found: a.snap_id.clone(),
            expected: expected.clone(),
        });
    }
    Ok(a)
}

/// Every snap's base must be in the image; an app without `base` runs on `core`. The gadget's
/// base, when it names one, is the model's (as snapd's seed loader requires).
fn check_bases(selected: &[SeedSnap], model_base: &str) -> Result<(), ResolveError> {
    let gadget = selected.iter().find(|s| s.snap_type == SnapType::Gadget);
    if let Some(g) = gadget
        && let Some(base) = g.info.base.as_deref()
        && base != model_base
    {
        return Err(ResolveError::GadgetBase {
            file: g.path.display().to_string(),
            base: base.to_string(),
            model_base: model_base.to_string(),
        });
    }
    let bases: Vec<&str> = selected
        .iter()
        .filter(|s| matches!(s.snap_type, SnapType::Base | SnapType::Os))
        .map(|s| s.name.as_str())
        .collect();
    for s in selected {
        let base = match (s.snap_type, s.info.base.as_deref()) {
            (SnapType::Base | SnapType::Os | SnapType::Snapd, _) | (_, Some("none")) => continue,
            (SnapType::App, None) => "core",
            (_, None) => continue,
            (_, Some(base)) => base,
        };
        if !bases.contains(&base) {
            return Err(ResolveError::MissingBase {
                name: s.name.clone(),
                file: s.path.display().to_string(),
                base: base.to_string(),
            });
        }
    }
    Ok(())
}

fn seed_rank(t: SnapType) -> u8 {
    match t {
        SnapType::Snapd => 0,
        SnapType::Os | SnapType::Base => 1,
        SnapType::Kernel => 2,
        SnapType::Gadget => 3,
        SnapType::App => 4,
    }
}

fn file_of(c: &Candidate) -> String {
    c.path.display().to_string()
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
