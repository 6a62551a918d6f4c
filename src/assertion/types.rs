//! Typed account, account-key, snap-declaration and snap-revision assertions, plus the header
//! accessors (required string, optional string, RFC 3339 time) every typed assertion uses.

use super::keys::PublicKey;
use super::{Assertion, Error, Result, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Reads typed headers of one assertion, producing errors that name the assertion and header.
pub(crate) struct Fields<'a> {
    pub a: &'a Assertion,
    pub who: String,
}

impl<'a> Fields<'a> {
    /// Starts reading `a`, checking its type is `type_name`.
    pub fn new(a: &'a Assertion, type_name: &str) -> Result<Fields<'a>> {
        let f = Fields {
            a,
            who: a.describe(),
        };
        if a.type_name() != type_name {
            return Err(f.err(
                "type",
                format!("expected {type_name:?}, got {:?}", a.type_name()),
            ));
        }
        Ok(f)
    }

    pub fn err(&self, header: &str, reason: impl Into<String>) -> Error {
        Error::Header {
            assertion: self.who.clone(),
            header: header.to_string(),
            reason: reason.into(),
        }
    }

    pub fn rule(&self, reason: impl Into<String>) -> Error {
        Error::Rule {
            assertion: self.who.clone(),
            reason: reason.into(),
        }
    }

    /// A required non-empty string header.
    pub fn req(&self, name: &str) -> Result<String> {
        match self.a.header(name) {
            Some(Value::Str(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Str(_)) => Err(self.err(name, "must not be empty")),
            Some(_) => Err(self.err(name, "must be a string")),
            None => Err(self.err(name, "required header is missing")),
        }
    }

    /// An optional string header (empty counts as absent).
    pub fn opt(&self, name: &str) -> Result<Option<String>> {
        match self.a.header(name) {
            Some(Value::Str(s)) if s.is_empty() => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(name, "must be a string")),
            None => Ok(None),
        }
    }

    /// A required RFC 3339 time header.
    pub fn time(&self, name: &str) -> Result<OffsetDateTime> {
        let text = self.req(name)?;
        parse_time(&text).map_err(|e| self.err(name, e))
    }

    /// An optional RFC 3339 time header.
    pub fn opt_time(&self, name: &str) -> Result<Option<OffsetDateTime>> {
        match self.opt(name)? {
            Some(text) => parse_time(&text).map(Some).map_err(|e| self.err(name, e)),
            None => Ok(None),
        }
    }

    /// A required positive-or-zero decimal integer header.
    pub fn uint(&self, name: &str) -> Result<u64> {
        let text = self.req(name)?;
        let ok =
            text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
        text.parse::<u64>()
            .ok()
            .filter(|_| ok)
            .ok_or_else(|| self.err(name, format!("{text:?} is not a decimal integer")))
    }

    /// A `true`/`false` header, `false` when absent.
    pub fn flag(&self, name: &str) -> Result<bool> {
        match self.opt(name)?.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(self.err(name, format!("{other:?} is not true or false"))),
        }
    }
}

/// Parses an RFC 3339 time, as assertions write them.
pub fn parse_time(text: &str) -> std::result::Result<OffsetDateTime, String> {
    // The time crate takes any separator between date and time, and a lower-case `z`; snapd
    // (Go's RFC 3339 layout) takes only `T` and `Z`, and so does snapsmith.
    if text.as_bytes().get(10) != Some(&b'T') || text.ends_with('z') {
        return Err(format!(
            "{text:?} is not an RFC 3339 time (date and time join with an upper-case T, UTC \
             is an upper-case Z)"
        ));
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time ({e})"))
}

/// An account id as snapd takes it: 32 letters and digits (a store id), or 2 to 28 lower-case
/// letters, digits and dashes.
pub fn valid_account_id(id: &str) -> bool {
    let store = id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let named = (2..=28).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    store || named
}

/// Formats a time as RFC 3339 (UTC, `Z`).
pub fn format_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// An `account` assertion: an identity that can own keys, brands and snaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `account-id`.
    pub account_id: String,
    /// `display-name`.
    pub display_name: String,
    /// `validation`: unproven, starred or verified (`certified` reads as verified).
    pub validation: String,
    /// `username`, optional.
    pub username: Option<String>,
    /// `timestamp`.
    pub timestamp: OffsetDateTime,
    /// `authority-id` (who signed it).
    pub authority_id: String,
}

impl Account {
    /// Reads and checks an account assertion.
    pub fn from_assertion(a: &Assertion) -> Result<Account> {
        let f = Fields::new(a, "account")?;
        let validation = match f.req("validation")?.as_str() {
            v @ ("unproven" | "starred" | "verified") => v.to_string(),
            "certified" => "verified".to_string(),
            other => {
                return Err(f.err(
                    "validation",
                    format!("{other:?} is not unproven, starred or verified"),
                ));
            }
        };
        Ok(Account {
            account_id: f.req("account-id")?,
            display_name: f.req("display-name")?,
            validation,
            username: f.opt("username")?,
            timestamp: f.time("timestamp")?,
            authority_id: a.authority_id().to_string(),
        })
    }
}

/// An `account-key` assertion: a public key that may sign for `account_id` in `[since, until)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    /// `account-id`: the account this key signs for.
    pub account_id: String,
    /// `name`, optional.
    pub name: Option<String>,
    /// `since`: start of validity.
    pub since: OffsetDateTime,
    /// `until`: end of validity (exclusive), none = forever.
    pub until: Option<OffsetDateTime>,
    /// `public-key-sha3-384`: the key id, checked against the body.
    pub key_id: String,
    /// The public key from the body.
    pub public_key: PublicKey,
    /// `authority-id` (who signed it).
    pub authority_id: String,
}

impl AccountKey {
    /// Reads and checks an account-key assertion; the body's key id must match the header.
    pub fn from_assertion(a: &Assertion) -> Result<AccountKey> {
        let f = Fields::new(a, "account-key")?;
        let key_id = f.req("public-key-sha3-384")?;
        let name = f.opt("name")?;
        if let Some(n) = &name
            && !valid_key_name(n)
        {
            return Err(f.err("name", format!("{n:?} is not a valid key name")));
        }
        let since = f.time("since")?;
        let until = f.opt_time("until")?;
        if until.is_some_and(|u| u < since) {
            return Err(f.err("until", "is before since"));
        }
        if a.body().is_empty() {
            return Err(f.rule("body must hold the public key"));
        }
        let public_key = PublicKey::from_body(a.body()).map_err(|e| match e {
            Error::UnsupportedAlgorithm(m) => {
                Error::UnsupportedAlgorithm(format!("{}: {m}", f.who))
            }
            other => f.rule(format!("body: {other}")),
        })?;
        if public_key.id() != key_id {
            return Err(f.err(
                "public-key-sha3-384",
                format!("does not match the key in the body ({})", public_key.id()),
            ));
        }
        Ok(AccountKey {
            account_id: f.req("account-id")?,
            name,
            since,
            until,
            key_id,
            public_key,
            authority_id: a.authority_id().to_string(),
        })
    }

    /// True when the key may sign at time `t`: `since <= t < until`.
    pub fn valid_at(&self, t: OffsetDateTime) -> bool {
        self.since <= t && self.until.is_none_or(|u| t < u)
    }
}

/// `^(?:[a-z0-9]+-?)*[a-z](?:-?[a-z0-9])*$`: lowercase, digits, single dashes, one letter at least.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A `snap-declaration`: binds a snap id to its name and publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapDeclaration {
    /// `series`.
    pub series: String,
    /// `snap-id`.
    pub snap_id: String,
    /// `snap-name`.
    pub snap_name: String,
    /// `publisher-id`.
    pub publisher_id: String,
    /// `timestamp`.
    pub timestamp: OffsetDateTime,
    /// `revision-authority`: who else may sign revisions of other provenances.
    pub revision_authority: Vec<RevisionAuthority>,
}

impl SnapDeclaration {
    /// Reads and checks a snap-declaration assertion.
    pub fn from_assertion(a: &Assertion) -> Result<SnapDeclaration> {
        let f = Fields::new(a, "snap-declaration")?;
        Ok(SnapDeclaration {
            series: f.req("series")?,
            snap_id: f.req("snap-id")?,
            snap_name: f.req("snap-name")?,
            publisher_id: f.req("publisher-id")?,
            timestamp: f.time("timestamp")?,
            revision_authority: revision_authorities(&f)?,
        })
    }
}

/// One `revision-authority` item of a snap-declaration: `account-id` may sign snap-revisions
/// of the listed provenances in `[min-revision, max-revision]` (0 = no maximum). Device scope
/// (`on-store`, `on-brand`, `on-model`) is not read: snapsmith refuses declarations with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionAuthority {
    pub account_id: String,
    pub provenance: Vec<String>,
    pub min_revision: u64,
    pub max_revision: u64,
}

impl RevisionAuthority {
    /// True when this item lets `signer` sign `revision` of `provenance` (snapd's
    /// `RevisionAuthority.Check` without device scope).
    pub fn allows(&self, provenance: &str, signer: &str, revision: u64) -> bool {
        self.provenance.iter().any(|p| p == provenance)
            && self.account_id == signer
            && revision >= self.min_revision
            && (self.max_revision == 0 || revision <= self.max_revision)
    }
}

fn revision_authorities(f: &Fields) -> Result<Vec<RevisionAuthority>> {
    const H: &str = "revision-authority";
    let items = match f.a.header(H) {
        None => return Ok(Vec::new()),
        Some(Value::List(items)) => items,
        Some(_) => return Err(f.err(H, "must be a list of maps")),
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Map(m) = item else {
            return Err(f.err(H, "must be a list of maps"));
        };
        let text = |key: &str| match m.get(key) {
            Some(Value::Str(s)) if !s.is_empty() => Ok(Some(s.clone())),
            None => Ok(None),
            Some(_) => Err(f.err(H, format!("{key} must be a non-empty string"))),
        };
        let number = |key: &str| -> Result<u64> {
            text(key)?.map_or(Ok(0), |t| {
                t.parse()
                    .map_err(|_| f.err(H, format!("{key} {t:?} is not a decimal integer")))
            })
        };
        if ["on-store", "on-brand", "on-model"]
            .iter()
            .any(|k| m.contains_key(*k))
        {
            return Err(f.err(
                H,
                "device scope (on-store, on-brand, on-model) is not supported",
            ));
        }
        let provenance = match m.get("provenance") {
            Some(Value::List(list)) if !list.is_empty() => list
                .iter()
                .map(|v| match v {
                    Value::Str(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(f.err(H, "provenance items must be non-empty strings")),
                })
                .collect::<Result<Vec<_>>>()?,
            _ => return Err(f.err(H, "provenance must be a non-empty list")),
        };
        let ra = RevisionAuthority {
            account_id: text("account-id")?.ok_or_else(|| f.err(H, "account-id is missing"))?,
            provenance,
            min_revision: number("min-revision")?.max(1),
            max_revision: number("max-revision")?,
        };
        if ra.max_revision != 0 && ra.max_revision < ra.min_revision {
            return Err(f.err(H, "max-revision is below min-revision"));
        }
        out.push(ra);
    }
    Ok(out)
}

/// A `snap-revision`: binds a snap file's digest and size to a snap id and revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapRevision {
    /// `snap-sha3-384`: SHA3-384 of the file, base64url without padding.
    pub snap_sha3_384: String,
    /// `provenance`, default `global-upload`.
    pub provenance: String,
    /// `snap-id`.
    pub snap_id: String,
    /// `snap-size` in bytes.
    pub snap_size: u64,
    /// `snap-revision`, at least 1.
    pub snap_revision: u64,
    /// `developer-id`.
    pub developer_id: String,
    /// `timestamp`.
    pub timestamp: OffsetDateTime,
}

impl SnapRevision {
    /// Reads and checks a snap-revision assertion.
    pub fn from_assertion(a: &Assertion) -> Result<SnapRevision> {
        let f = Fields::new(a, "snap-revision")?;
        let digest = f.req("snap-sha3-384")?;
        if digest.len() != 64 {
            return Err(f.err(
                "snap-sha3-384",
                "must be 64 base64url characters (SHA3-384)",
            ));
        }
        let snap_revision = f.uint("snap-revision")?;
        if snap_revision < 1 {
            return Err(f.err("snap-revision", "must be at least 1"));
        }
        Ok(SnapRevision {
            snap_sha3_384: digest,
            provenance: f
                .opt("provenance")?
                .unwrap_or_else(|| "global-upload".into()),
            snap_id: f.req("snap-id")?,
            snap_size: f.uint("snap-size")?,
            snap_revision,
            developer_id: f.req("developer-id")?,
            timestamp: f.time("timestamp")?,
        })
    }
}
