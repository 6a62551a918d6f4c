//! Whether a recovery system on ubuntu-seed may be booted, decided without I/O so the device's
//! runtime (recover mode) and tests share it: the system's files (`systems/<label>/model`,
//! `assertions/model-etc`, `assertions/snaps`, `assertions/extra-snaps`) and the digest of
//! every snap file the seed holds go in; the kernel and base to boot come out, or one
//! [`SeedRefusal`] naming the file that failed.
//!
//! The model is verified against the roots in model-etc ([`TrustRoot::from_seed`]); the snap
//! assertions with the model's chain; then every snap file must be exactly a verified
//! snap-revision (digest, size, and the `<name>_<revision>.snap` it is filed under). Snaps
//! without assertions are accepted only in a seed of grade dangerous, as updates are.

use super::snap_trust::TrustRoot;
use super::trust::Verified;
use super::{Grade, Model, SnapType};
use time::OffsetDateTime;

/// One snap file of the seed, as the device read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedFile {
    /// Path relative to the seed's root (`snaps/core_1.snap`).
    pub path: String,
    /// SHA3-384, base64url without padding.
    pub sha3_384: String,
    pub size: u64,
}

/// The assertion files of one recovery system, as read from the seed.
#[derive(Debug, Clone, Copy)]
pub struct SystemFiles<'a> {
    pub label: &'a str,
    pub model: &'a [u8],
    pub model_etc: &'a [u8],
    pub snaps: &'a [u8],
    /// `assertions/extra-snaps`, empty when the seed has none.
    pub extra_snaps: &'a [u8],
}

/// A verified recovery system: what recover mode boots.
#[derive(Debug, Clone)]
pub struct RecoverySystem {
    pub model: Model,
    /// Seed path of the model's kernel snap.
    pub kernel: String,
    /// Seed path of the model's base snap.
    pub base: String,
}

/// Why a recovery system is refused; `Display` names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedRefusal {
    #[error("{file} does not verify: {reason}")]
    Assertions { file: String, reason: String },
    #[error("{file}: its SHA3-384 {digest} matches no snap-revision of the seed")]
    Digest { file: String, digest: String },
    #[error("{file}: its size {size} differs from the snap-revision's snap-size {asserted}")]
    Size {
        file: String,
        size: u64,
        asserted: u64,
    },
    #[error("{file}: the snap-revision is for {expected}, filed under another name")]
    Name { file: String, expected: String },
    #[error("{file}: a snap without assertions in a seed of grade {grade}")]
    Unasserted { file: String, grade: String },
    #[error("the model's {what} {name:?} is not in the seed")]
    Missing { what: String, name: String },
}

/// The snap name a seed file is filed under (`snaps/<name>_<rev>.snap`).
fn filed_name(path: &str) -> Option<&str> {
    let file = path.rsplit('/').next()?.strip_suffix(".snap")?;
    Some(file.rsplit_once('_')?.0)
}

/// Verifies the recovery system `sys` and every file of `files` at `now`.
pub fn check_system(
    sys: &SystemFiles,
    files: &[SeedFile],
    now: OffsetDateTime,
) -> Result<RecoverySystem, SeedRefusal> {
    let (root, verified) = verify_assertions(sys, now)?;
    // Each file with the snap name it is (verified, or accepted unasserted).
    let named = files
        .iter()
        .map(|f| Ok((f.path.as_str(), file_snap(f, &verified, root.model.grade)?)))
        .collect::<Result<Vec<(&str, String)>, SeedRefusal>>()?;
    let model = root.model;
    let pick = |what: &str, name: &str| {
        named
            .iter()
            .find(|(_, n)| n == name)
            .map(|(p, _)| p.to_string())
            .ok_or_else(|| SeedRefusal::Missing {
                what: what.to_string(),
                name: name.to_string(),
            })
    };
    let kernel_name = model
        .snaps
        .iter()
        .find(|s| s.snap_type == SnapType::Kernel)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let kernel = pick("kernel", &kernel_name)?;
    let base = pick("base", model.base.as_deref().unwrap_or("core"))?;
    Ok(RecoverySystem {
        model,
        kernel,
        base,
    })
}

/// The model against model-etc's roots, then the snap assertions with the model's chain.
fn verify_assertions(
    sys: &SystemFiles,
    now: OffsetDateTime,
) -> Result<(TrustRoot, Vec<Verified>), SeedRefusal> {
    let refuse = |rel: &str, e: &dyn std::fmt::Display| SeedRefusal::Assertions {
        file: format!("systems/{}/{rel}", sys.label),
        reason: e.to_string(),
    };
    let root = TrustRoot::from_seed(sys.model, sys.model_etc, now).map_err(|e| {
        let rel = match super::decode_stream(sys.model_etc) {
            Ok(_) => "model",
            Err(_) => "assertions/model-etc",
        };
        refuse(rel, &e)
    })?;
    let mut verified = Vec::new();
    for (rel, bytes) in [
        ("assertions/snaps", sys.snaps),
        ("assertions/extra-snaps", sys.extra_snaps),
    ] {
        // A seed of unasserted snaps (grade dangerous) has empty assertion files.
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let stream = super::decode_stream(bytes).map_err(|e| refuse(rel, &e))?;
        let v = root
            .verify_with_chain(&stream, now)
            .map_err(|e| refuse(rel, &e))?;
        verified.push(v);
    }
    Ok((root, verified))
}

/// The snap name of one seed file: that of the verified snap-revision it is exactly (digest,
/// size, file name), or in a dangerous seed the name it is filed under.
fn file_snap(f: &SeedFile, verified: &[Verified], grade: Grade) -> Result<String, SeedRefusal> {
    match verified.iter().find_map(|v| v.snap(&f.sha3_384)) {
        Some((rev, _)) if rev.snap_size != f.size => Err(SeedRefusal::Size {
            file: f.path.clone(),
            size: f.size,
            asserted: rev.snap_size,
        }),
        Some((rev, decl)) => {
            let expected = format!("{}_{}.snap", decl.snap_name, rev.snap_revision);
            if f.path.ends_with(&format!("/{expected}")) {
                Ok(decl.snap_name.clone())
            } else {
                Err(SeedRefusal::Name {
                    file: f.path.clone(),
                    expected,
                })
            }
        }
        None if grade == Grade::Dangerous => {
            Ok(filed_name(&f.path).unwrap_or_default().to_string())
        }
        None if f.path.starts_with("snaps/") => Err(SeedRefusal::Digest {
            file: f.path.clone(),
            digest: f.sha3_384.clone(),
        }),
        None => Err(SeedRefusal::Unasserted {
            file: f.path.clone(),
            grade: grade.as_str().to_string(),
        }),
    }
}

#[cfg(test)]
#[path = "seed_trust_tests.rs"]
mod tests;
