//! The trust chain: trusted roots (self-signed account + account-key, given explicitly; there
//! are no built-in roots) → accounts and account-keys signed by a trusted account → models
//! signed by the brand's key, and snap-declarations / snap-revisions signed by a trusted
//! account (the store).
//!
//! [`verify`] checks every assertion: format, type rules, signature (Ed25519 strictly), signer's
//! account equal to `authority-id`, the assertion's time inside the signing key's
//! `[since, until)`, the signing key not expired at `now`, and cross-assertion rules (accounts
//! exist, authority-id = brand-id, a declaration for every revision). As in snapd, "trusted"
//! means a key of a trusted root's account (`IsTrustedAccount`): the root key itself or another
//! key of that account the chain certifies. An account-key given at several `revision`s is
//! taken at the newest; an older one never replaces a newer one. A snap-revision whose
//! `provenance` is not the default needs a `revision-authority` of its snap-declaration naming
//! its signer, listing the provenance and covering the revision. Assertions may come in any
//! order.

use super::openpgp;
use super::types::Fields;
use super::{Account, AccountKey, Assertion, Error, Model, Result, SnapDeclaration, SnapRevision};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Everything that verified, typed.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// Accounts, trusted ones included, by account id.
    pub accounts: BTreeMap<String, Account>,
    /// Account keys, trusted ones included, by key id.
    pub account_keys: BTreeMap<String, AccountKey>,
    /// Models.
    pub models: Vec<Model>,
    /// Snap declarations, by snap id.
    pub snap_declarations: BTreeMap<String, SnapDeclaration>,
    /// Snap revisions, by snap-sha3-384.
    pub snap_revisions: BTreeMap<String, SnapRevision>,
}

impl Verified {
    /// The single verified model, or an error when there is none or more than one.
    pub fn model(&self) -> Result<&Model> {
        match self.models.as_slice() {
            [m] => Ok(m),
            other => Err(Error::Format(format!(
                "expected exactly one model assertion, found {}",
                other.len()
            ))),
        }
    }

    /// The verified snap-revision for a snap file digest (SHA3-384, base64url), with the
    /// snap-declaration of its snap id.
    pub fn snap(&self, sha3_384: &str) -> Option<(&SnapRevision, &SnapDeclaration)> {
        let rev = self.snap_revisions.get(sha3_384)?;
        Some((rev, self.snap_declarations.get(&rev.snap_id)?))
    }
}

/// Decodes assertion streams (file contents) and [`verify`]s them against trusted root streams.
pub fn verify_streams(
    streams: &[&[u8]],
    trusted: &[&[u8]],
    now: OffsetDateTime,
) -> Result<Verified> {
    let decode_all = |list: &[&[u8]]| -> Result<Vec<Assertion>> {
        let mut out = Vec::new();
        for data in list {
            out.extend(super::decode_stream(data)?);
        }
        Ok(out)
    };
    verify(&decode_all(streams)?, &decode_all(trusted)?, now)
}

fn rule(a: &Assertion, reason: impl Into<String>) -> Error {
    Error::Rule {
        assertion: a.describe(),
        reason: reason.into(),
    }
}

/// Processing order: what others depend on comes first.
fn rank(a: &Assertion) -> u8 {
    match a.type_name() {
        "account" => 0,
        "account-key" => 1,
        "snap-declaration" => 2,
        "model" => 3,
        _ => 4,
    }
}

/// Verifies `assertions` against `trusted` roots at time `now` (used only for key expiry).
///
/// Trusted assertions must be accounts and account-keys; their signatures are checked too (a
/// root is self-signed). Returns the typed values, or the first failure naming the assertion
/// and the header or rule.
pub fn verify(
    assertions: &[Assertion],
    trusted: &[Assertion],
    now: OffsetDateTime,
) -> Result<Verified> {
    for a in trusted.iter().chain(assertions) {
        check_algorithm(a)?;
    }
    let mut state = State {
        v: Verified::default(),
        trusted_accounts: Vec::new(),
        key_revisions: BTreeMap::new(),
        now,
    };
    let mut roots: Vec<&Assertion> = trusted.iter().collect();
    roots.sort_by_key(|a| rank(a));
    for a in &roots {
        match a.type_name() {
            "account-key" => {
                let key = AccountKey::from_assertion(a)?;
                state.trusted_accounts.push(key.account_id.clone());
                state.key_revisions.insert(key.key_id.clone(), revision(a)?);
                state.v.account_keys.insert(key.key_id.clone(), key);
            }
            "account" => {}
            other => {
                return Err(rule(
                    a,
                    format!("a trusted root must be an account or account-key, not {other}"),
                ));
            }
        }
    }
    for a in &roots {
        state.check_signature(a)?;
        if a.type_name() == "account" {
            let acc = Account::from_assertion(a)?;
            state.v.accounts.insert(acc.account_id.clone(), acc);
        }
    }
    let mut pending: Vec<&Assertion> = assertions.iter().filter(|a| !trusted.contains(a)).collect();
    pending.sort_by_key(|a| rank(a));
    pending.dedup();
    while !pending.is_empty() {
        let before = pending.len();
        let mut later = Vec::new();
        for a in pending {
            if state.v.account_keys.contains_key(a.sign_key_id()) && !state.waits_for(a) {
                state.accept(a)?;
            } else {
                later.push(a);
            }
        }
        if later.len() == before {
            return Err(state.unresolved(later[0]));
        }
        pending = later;
    }
    Ok(state.v)
}

/// Reports RSA (snapd) signatures clearly before anything else.
fn check_algorithm(a: &Assertion) -> Result<()> {
    let blob =
        openpgp::unwrap_base64(a.signature(), "signature").map_err(|e| rule(a, e.to_string()))?;
    match openpgp::parse_signature(&blob) {
        Ok(_) => Ok(()),
        Err(Error::UnsupportedAlgorithm(m)) => Err(Error::UnsupportedAlgorithm(format!(
            "{}: {m}",
            a.describe()
        ))),
        Err(e) => Err(rule(a, e.to_string())),
    }
}

/// The `revision` header (0 when absent).
fn revision(a: &Assertion) -> Result<u64> {
    match a.header_str("revision") {
        None => Ok(0),
        Some(text) => text.parse().map_err(|_| Error::Header {
            assertion: a.describe(),
            header: "revision".into(),
            reason: format!("{text:?} is not a decimal integer"),
        }),
    }
}

struct State {
    v: Verified,
    /// Accounts of the trusted root keys: any key of theirs that a root certified signs as
    /// they do (snapd's `IsTrustedAccount`).
    trusted_accounts: Vec<String>,
    /// The `revision` of each accepted account-key: a newer one replaces it, an older one not.
    key_revisions: BTreeMap<String, u64>,
    now: OffsetDateTime,
}

impl State {
    /// True when `a` depends on an assertion not yet accepted that may still come.
    fn waits_for(&self, a: &Assertion) -> bool {
        match a.type_name() {
            "snap-revision" => a
                .header_str("snap-id")
                .is_some_and(|id| !self.v.snap_declarations.contains_key(id)),
            _ => false,
        }
    }

    fn unresolved(&self, a: &Assertion) -> Error {
        if self.v.account_keys.contains_key(a.sign_key_id()) {
            return rule(
                a,
                "no snap-declaration for its snap-id was given or verified",
            );
        }
        rule(
            a,
            format!(
                "signing key {} (authority-id {:?}) is unknown: it is neither trusted (--trusted) nor given as a verified account-key",
                a.sign_key_id(),
                a.authority_id()
            ),
        )
    }

    /// True when `a` is signed by a key of a trusted account (the root key itself, or another
    /// key of the root's account that the chain certified).
    fn signer_trusted(&self, a: &Assertion) -> bool {
        self.v
            .account_keys
            .get(a.sign_key_id())
            .is_some_and(|k| self.trusted_accounts.contains(&k.account_id))
    }

    /// Signature, signer account and validity window.
    fn check_signature(&self, a: &Assertion) -> Result<()> {
        let Some(key) = self.v.account_keys.get(a.sign_key_id()) else {
            return Err(self.unresolved(a));
        };
        if key.account_id != a.authority_id() {
            return Err(rule(
                a,
                format!(
                    "authority-id {:?} does not match the signing key's account {:?}",
                    a.authority_id(),
                    key.account_id
                ),
            ));
        }
        key.public_key
            .verify(a.signed_content(), a.signature())
            .map_err(|e| rule(a, format!("{e} (key {})", key.key_id)))?;
        let f = Fields {
            a,
            who: a.describe(),
        };
        let (name, at) = if a.header("timestamp").is_some() {
            ("timestamp", f.time("timestamp")?)
        } else {
            ("since", f.time("since")?)
        };
        if !key.valid_at(at) {
            return Err(f.err(
                name,
                format!(
                    "{} is outside the signing key's validity [{}, {})",
                    super::types::format_time(at),
                    super::types::format_time(key.since),
                    key.until
                        .map_or("forever".into(), super::types::format_time)
                ),
            ));
        }
        if key.until.is_some_and(|u| u <= self.now) {
            return Err(rule(a, format!("signing key {} has expired", key.key_id)));
        }
        Ok(())
    }

    fn require_trusted_signer(&self, a: &Assertion) -> Result<()> {
        if self.signer_trusted(a) {
            Ok(())
        } else {
            Err(rule(
                a,
                format!(
                    "must be signed by a trusted root key or another key of its account, but key {} (authority-id {:?}) is neither (pass the root with --trusted)",
                    a.sign_key_id(),
                    a.authority_id()
                ),
            ))
        }
    }

    fn require_account(&self, a: &Assertion, header: &str, id: &str) -> Result<()> {
        if self.v.accounts.contains_key(id) {
            return Ok(());
        }
        Err(Error::Header {
            assertion: a.describe(),
            header: header.into(),
            reason: format!("no account assertion for {id:?} was given or trusted"),
        })
    }

    fn accept(&mut self, a: &Assertion) -> Result<()> {
        super::sign::check_type_rules(a)?;
        self.check_signature(a)?;
        match a.type_name() {
            "account" => {
                self.require_trusted_signer(a)?;
                let acc = Account::from_assertion(a)?;
                self.v.accounts.insert(acc.account_id.clone(), acc);
            }
            "account-key" => self.accept_key(a)?,
            "model" => {
                let m = Model::from_assertion(a)?;
                self.require_account(a, "brand-id", &m.brand_id)?;
                self.v.models.push(m);
            }
            "snap-declaration" => {
                self.require_trusted_signer(a)?;
                let d = SnapDeclaration::from_assertion(a)?;
                self.require_account(a, "publisher-id", &d.publisher_id)?;
                self.v.snap_declarations.insert(d.snap_id.clone(), d);
            }
            _ => {
                let r = SnapRevision::from_assertion(a)?;
                if r.provenance == "global-upload" {
                    self.require_trusted_signer(a)?;
                } else {
                    self.require_revision_authority(a, &r)?;
                }
                self.require_account(a, "developer-id", &r.developer_id)?;
                self.v.snap_revisions.insert(r.snap_sha3_384.clone(), r);
            }
        }
        Ok(())
    }

    /// A snap-revision of another provenance than `global-upload` must be signed by an account
    /// the snap-declaration's `revision-authority` allows for that provenance and revision.
    fn require_revision_authority(&self, a: &Assertion, r: &SnapRevision) -> Result<()> {
        let allowed = self.v.snap_declarations.get(&r.snap_id).is_some_and(|d| {
            d.revision_authority
                .iter()
                .any(|ra| ra.allows(&r.provenance, a.authority_id(), r.snap_revision))
        });
        if allowed {
            return Ok(());
        }
        Err(Error::Header {
            assertion: a.describe(),
            header: "provenance".into(),
            reason: format!(
                "{:?} is not the default, and the snap-declaration of {} has no revision-authority allowing {:?} to sign revision {} of it",
                r.provenance,
                r.snap_id,
                a.authority_id(),
                r.snap_revision
            ),
        })
    }

    fn accept_key(&mut self, a: &Assertion) -> Result<()> {
        self.require_trusted_signer(a)?;
        let key = AccountKey::from_assertion(a)?;
        self.require_account(a, "account-id", &key.account_id)?;
        let rev = revision(a)?;
        if self
            .key_revisions
            .get(&key.key_id)
            .is_some_and(|&known| known >= rev)
        {
            // Already known at this or a newer revision: an older one never replaces it.
            return Ok(());
        }
        let clash = self.v.account_keys.values().find(|k| {
            k.account_id == key.account_id
                && k.name.is_some()
                && k.name == key.name
                && k.key_id != key.key_id
        });
        if let Some(other) = clash {
            return Err(Error::Header {
                assertion: a.describe(),
                header: "name".into(),
                reason: format!(
                    "account {:?} already has a key named {:?} with another id ({})",
                    key.account_id,
                    key.name.clone().unwrap_or_default(),
                    other.key_id
                ),
            });
        }
        self.key_revisions.insert(key.key_id.clone(), rev);
        self.v.account_keys.insert(key.key_id.clone(), key);
        Ok(())
    }
}
