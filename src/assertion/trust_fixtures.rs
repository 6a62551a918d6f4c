//! Test fixtures shared by the trust tests of the seed ([`super::seed_trust`]) and of updates
//! ([`super::snap_trust`]): one fixed clock, the example model, a root and a brand key with the
//! chain the root certified, and the snap-declaration + snap-revision pair that
//! `snapsmith snap assert` makes.

use crate::assertion::{Assertion, PrivateKey, certify_key, sign};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

pub const KERNEL_ID: &str = "snapsmithexamplepckernel00000000";
pub const BASE_ID: &str = "snapsmithexamplecore000000000000";
pub const GADGET_ID: &str = "snapsmithexamplepc00000000000000";
pub const HELLO_ID: &str = "snapsmithexamplehello00000000000";
/// A well-formed SHA3-384 digest (base64url), the kernel's in the seed fixtures.
pub const DIGEST: &str = "DGOnW4ReT30BEH2FLkwkhcUaUKqqlPxhmV5xu-6YOirDcTgxJkrbR_tr0eBY1fAE";

/// The clock every check in these tests runs at.
pub fn now() -> OffsetDateTime {
    datetime!(2026-03-01 00:00 UTC)
}

pub fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// The example model's headers (brand `dev`, gadget pc, kernel pc-kernel, base core, the
/// optional app hello).
pub fn model(grade: &str) -> Map<String, Value> {
    obj(json!({
        "type": "model", "series": "16", "authority-id": "dev", "brand-id": "dev",
        "model": "dev-amd64", "architecture": "amd64", "base": "core", "grade": grade,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "snaps": [
            {"name": "pc", "id": GADGET_ID, "type": "gadget"},
            {"name": "pc-kernel", "id": KERNEL_ID, "type": "kernel"},
            {"name": "core", "id": BASE_ID, "type": "base"},
            {"name": "hello", "id": HELLO_ID, "type": "app", "presence": "optional"},
        ],
    }))
}

/// The root key, the brand key, and the account-keys the root certified for both (the seed's
/// `model-etc` stream).
pub struct Keys {
    pub root: PrivateKey,
    pub brand: PrivateKey,
    pub etc: Vec<Assertion>,
}

pub fn keys() -> Keys {
    let root = PrivateKey::from_seed([1; 32]);
    let brand = PrivateKey::from_seed([2; 32]);
    let epoch = OffsetDateTime::UNIX_EPOCH;
    let mut etc = certify_key(&root.public(), "root", "root", &root, "root", epoch, None).unwrap();
    etc.extend(certify_key(&brand.public(), "brand", "dev", &root, "root", epoch, None).unwrap());
    Keys { root, brand, etc }
}

/// The example model for `grade`, signed by the brand key.
pub fn signed_model(keys: &Keys, grade: &str) -> Assertion {
    sign("model", &model(grade), &[], &keys.brand, "dev").unwrap()
}

/// snap-declaration + snap-revision as `snapsmith snap assert` makes them, signed by `key` for
/// `account`, for a 4096-byte snap with `digest`.
pub fn asserted(
    key: &PrivateKey,
    account: &str,
    snap: (&str, &str),
    rev: u64,
    digest: &str,
) -> Vec<Assertion> {
    let (name, id) = snap;
    let decl = obj(json!({"series": "16", "snap-id": id, "snap-name": name,
        "publisher-id": "dev", "timestamp": "2026-01-01T00:00:00Z"}));
    let revision = obj(
        json!({"snap-sha3-384": digest, "snap-id": id, "snap-size": "4096",
        "snap-revision": rev.to_string(), "developer-id": "dev",
        "timestamp": "2026-01-01T00:00:00Z"}),
    );
    vec![
        sign("snap-declaration", &decl, &[], key, account).unwrap(),
        sign("snap-revision", &revision, &[], key, account).unwrap(),
    ]
}
