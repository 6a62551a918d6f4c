//! The snap-declaration and snap-revision assertions for a local snap file, so images of grade
//! `signed` or `secured` can be built without a store: the digest and size come from the file,
//! the signature from a key of the keyring (the signing account acts as the store).

use super::{SnapFile, digest};
use crate::assertion::{self, Assertion, PrivateKey};
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::path::Path;

/// What to assert about a snap file.
#[derive(Debug, Clone)]
pub struct SnapAssertRequest<'a> {
    pub snap_id: &'a str,
    pub revision: u64,
    /// Publisher (and developer) account; the signing account when `None`.
    pub publisher: Option<&'a str>,
    /// RFC 3339 timestamp of both assertions.
    pub timestamp: &'a str,
}

/// Signs a snap-declaration and a snap-revision for the snap at `path` with `key`, which signs
/// for `account_id`.
pub fn snap_assertions(
    path: &Path,
    req: &SnapAssertRequest,
    key: &PrivateKey,
    account_id: &str,
) -> Result<Vec<Assertion>> {
    if req.revision < 1 {
        bail!("--revision must be at least 1");
    }
    if req.snap_id.is_empty() || req.snap_id.contains('/') {
        bail!(
            "--snap-id {:?} must be non-empty and contain no '/'",
            req.snap_id
        );
    }
    let snap = SnapFile::open(path)?;
    let d = digest(path)?;
    let publisher = req.publisher.unwrap_or(account_id);
    let declaration = headers(json!({
        "type": "snap-declaration",
        "series": "16",
        "snap-id": req.snap_id,
        "snap-name": snap.info().name,
        "publisher-id": publisher,
        "timestamp": req.timestamp,
    }));
    let revision = headers(json!({
        "type": "snap-revision",
        "snap-sha3-384": d.sha3_384,
        "snap-id": req.snap_id,
        "snap-size": d.size.to_string(),
        "snap-revision": req.revision.to_string(),
        "developer-id": publisher,
        "timestamp": req.timestamp,
    }));
    let mut out = Vec::new();
    for (type_name, h) in [
        ("snap-declaration", declaration),
        ("snap-revision", revision),
    ] {
        out.push(
            assertion::sign(type_name, &h, &[], key, account_id)
                .with_context(|| format!("signing the {type_name} for {}", path.display()))?,
        );
    }
    Ok(out)
}

fn headers(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
