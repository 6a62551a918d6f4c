//! Whether a device may install an update snap, decided without I/O so the device's runtime and
//! the builder share it: the device's trust root (its model and the model's chain, from the
//! seed), the update's assertions (snap-declaration + snap-revision) and facts about the copy
//! of the snap file the device will install (its digest, size, snap.yaml) go in, a verdict or
//! one [`Refusal`] naming the reason comes out.
//!
//! Two steps, so nothing is mounted before its bytes are known: [`TrustRoot::check_bytes`]
//! (signatures and chain, the copy's SHA3-384 and size, snap name and snap-id against the
//! model's entry, revision newer than the installed one) runs on the hashed copy;
//! [`Verdict::check_yaml`] (snap.yaml's name, type and base against the model) runs once the
//! verified copy is mounted read-only. docs/update-disk.md lists the rules and where snapsmith
//! differs from snapd on purpose (no downgrades).

use super::trust::{self, Verified};
use super::{Assertion, Error, Grade, Model, ModelSnap, SnapType};
use time::OffsetDateTime;

/// What the device trusts: its roots, the model's chain and the model, all from its own seed.
#[derive(Debug, Clone)]
pub struct TrustRoot {
    roots: Vec<Assertion>,
    chain: Vec<Assertion>,
    /// The verified model.
    pub model: Model,
}

/// Why an update is refused; `Display` is the reason of the device's marker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "no snap-declaration and snap-revision, and the model's grade is {0} (only dangerous accepts unasserted updates)"
    )]
    Unasserted(String),
    #[error("assertions do not verify against the seed's trust root: {0}")]
    Untrusted(String),
    #[error("its SHA3-384 {0} matches no snap-revision given")]
    Digest(String),
    #[error("its size {size} differs from the snap-revision's snap-size {asserted}")]
    Size { size: u64, asserted: u64 },
    #[error("not the model's kernel, base or app: snap {0:?}")]
    NotInModel(String),
    #[error("snap-id {offered:?} differs from the model's {expected:?} for {name}")]
    SnapId {
        name: String,
        offered: String,
        expected: String,
    },
    #[error("not newer than the installed revision: revision {offered}, installed {installed}")]
    NotNewer { offered: u64, installed: u64 },
    #[error("meta/snap.yaml names {found:?}, the assertions {expected:?}")]
    Name { found: String, expected: String },
    #[error("meta/snap.yaml type {found} does not fit the model's {expected} {name}")]
    Type {
        name: String,
        found: String,
        expected: String,
    },
    #[error("meta/snap.yaml base {found:?} differs from the model's base {expected:?}")]
    Base { found: String, expected: String },
}

/// What the device computed over its copy of an update snap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied<'a> {
    /// SHA3-384 of the copy, base64url without padding.
    pub sha3_384: &'a str,
    pub size: u64,
}

/// An update whose bytes passed [`TrustRoot::check_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Asserted: this revision of the model's snap `entry`.
    Asserted { entry: ModelSnap, revision: u64 },
    /// Unasserted, accepted because the model's grade is dangerous; snap.yaml decides which
    /// model entry it is.
    Unasserted,
}

/// The model entry that updates of `name` replace: the model's kernel, its base, or one of its
/// app snaps (the gadget and other bases are not updated).
fn updatable<'m>(model: &'m Model, name: &str) -> Option<&'m ModelSnap> {
    model.snaps.iter().find(|s| {
        s.name == name
            && (matches!(s.snap_type, SnapType::Kernel | SnapType::App)
                || (s.snap_type == SnapType::Base && model.base.as_deref() == Some(name)))
    })
}

fn untrusted(e: Error) -> Refusal {
    Refusal::Untrusted(e.to_string())
}

/// True for a self-signed account-key (a root of trust) and the accounts it signs for itself.
fn is_root(a: &Assertion, all: &[Assertion]) -> bool {
    let self_signed = |k: &Assertion| {
        k.type_name() == "account-key"
            && k.header_str("public-key-sha3-384") == Some(k.sign_key_id())
            && k.header_str("account-id") == Some(k.authority_id())
    };
    match a.type_name() {
        "account-key" => self_signed(a),
        "account" => all.iter().any(|k| {
            self_signed(k)
                && k.sign_key_id() == a.sign_key_id()
                && a.header_str("account-id") == Some(k.authority_id())
        }),
        _ => false,
    }
}

impl TrustRoot {
    /// The trust root of a seed: `model` (its `systems/<label>/model`) and `model_etc` (its
    /// `assertions/model-etc`, which holds the self-signed roots the image was built against and
    /// the model's chain), verified at `now`.
    pub fn from_seed(model: &[u8], model_etc: &[u8], now: OffsetDateTime) -> super::Result<Self> {
        let etc = super::decode_stream(model_etc)?;
        let (roots, mut chain): (Vec<Assertion>, Vec<Assertion>) =
            etc.iter().cloned().partition(|a| is_root(a, &etc));
        if roots.is_empty() {
            return Err(Error::Format(
                "model-etc holds no self-signed root account-key".into(),
            ));
        }
        chain.extend(super::decode_stream(model)?);
        let model = trust::verify(&chain, &roots, now)?.model()?.clone();
        Ok(TrustRoot {
            roots,
            chain,
            model,
        })
    }

    /// Verifies `assertions` (an update's, or a seed's snap assertions) with the model's chain
    /// against the roots at `now`.
    pub fn verify_with_chain(
        &self,
        assertions: &[Assertion],
        now: OffsetDateTime,
    ) -> super::Result<Verified> {
        let mut all = self.chain.clone();
        all.extend_from_slice(assertions);
        trust::verify(&all, &self.roots, now)
    }

    fn verify(&self, assertions: &[Assertion], now: OffsetDateTime) -> Result<Verified, Refusal> {
        self.verify_with_chain(assertions, now).map_err(untrusted)
    }

    /// Checks an update before anything of it is mounted: with no assertions, whether the grade
    /// allows that; else the signatures and chain, that a snap-revision has the copy's digest
    /// and size, that its declaration names a kernel, base or app of the model with the model's
    /// snap-id, and that the revision is newer than `installed` (the revision of the installed
    /// snap of that name; `None` for an unasserted one, which any asserted revision replaces).
    pub fn check_bytes(
        &self,
        assertions: &[Assertion],
        copy: &Copied,
        installed: impl Fn(&str) -> Option<u64>,
        now: OffsetDateTime,
    ) -> Result<Verdict, Refusal> {
        if assertions.is_empty() {
            return match self.model.grade {
                Grade::Dangerous => Ok(Verdict::Unasserted),
                other => Err(Refusal::Unasserted(other.as_str().to_string())),
            };
        }
        let v = self.verify(assertions, now)?;
        let (rev, decl) = v
            .snap(copy.sha3_384)
            .ok_or_else(|| Refusal::Digest(copy.sha3_384.to_string()))?;
        if rev.snap_size != copy.size {
            return Err(Refusal::Size {
                size: copy.size,
                asserted: rev.snap_size,
            });
        }
        let entry = updatable(&self.model, &decl.snap_name)
            .ok_or_else(|| Refusal::NotInModel(decl.snap_name.clone()))?;
        if let Some(expected) = &entry.id
            && *expected != decl.snap_id
        {
            return Err(Refusal::SnapId {
                name: entry.name.clone(),
                offered: decl.snap_id.clone(),
                expected: expected.clone(),
            });
        }
        if let Some(current) = installed(&entry.name)
            && rev.snap_revision <= current
        {
            return Err(Refusal::NotNewer {
                offered: rev.snap_revision,
                installed: current,
            });
        }
        Ok(Verdict::Asserted {
            entry: entry.clone(),
            revision: rev.snap_revision,
        })
    }
}

impl Verdict {
    /// Checks the mounted copy's snap.yaml (`name`, `snap_type` as spelled there, `base`)
    /// against the model: the asserted name, or for an unasserted update a kernel, base or app of
    /// the model by name; the entry's type; a base, when snap.yaml names one, equal to the
    /// model's. Returns the model entry the update replaces.
    pub fn check_yaml(
        &self,
        model: &Model,
        name: &str,
        snap_type: &str,
        base: Option<&str>,
    ) -> Result<ModelSnap, Refusal> {
        let entry = match self {
            Verdict::Asserted { entry, .. } if entry.name != name => {
                return Err(Refusal::Name {
                    found: name.to_string(),
                    expected: entry.name.clone(),
                });
            }
            Verdict::Asserted { entry, .. } => entry.clone(),
            Verdict::Unasserted => updatable(model, name)
                .cloned()
                .ok_or_else(|| Refusal::NotInModel(name.to_string()))?,
        };
        if snap_type != entry.snap_type.as_str() {
            return Err(Refusal::Type {
                name: entry.name.clone(),
                found: snap_type.to_string(),
                expected: entry.snap_type.as_str().to_string(),
            });
        }
        let expected = model.base.as_deref().unwrap_or("core");
        if let Some(found) = base.filter(|b| *b != "none")
            && found != expected
        {
            return Err(Refusal::Base {
                found: found.to_string(),
                expected: expected.to_string(),
            });
        }
        Ok(entry)
    }
}

#[cfg(test)]
#[path = "snap_trust_tests.rs"]
mod tests;
