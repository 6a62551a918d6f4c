//! The trust chain through the library: root → brand account + key → model, store-signed snap
//! declarations and revisions, and every way the chain must break (wrong key, validity window,
//! authority mismatch, untrusted signer, missing account, any flipped byte).

mod support;

use serde_json::json;
use snapsmith::assertion::{self, Assertion, Error, PrivateKey, Value, trust};
use time::OffsetDateTime;
use time::macros::datetime;

const EPOCH: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

struct Fixture {
    root: PrivateKey,
    brand: PrivateKey,
    trusted: Vec<Assertion>,
    chain: Vec<Assertion>,
}

fn fixture(since: OffsetDateTime, until: Option<OffsetDateTime>) -> Fixture {
    let root = PrivateKey::from_seed([11; 32]);
    let brand = PrivateKey::from_seed([22; 32]);
    let trusted =
        assertion::certify_key(&root.public(), "root", "root", &root, "root", EPOCH, None).unwrap();
    let chain =
        assertion::certify_key(&brand.public(), "brand", "dev", &root, "root", since, until)
            .unwrap();
    Fixture {
        root,
        brand,
        trusted,
        chain,
    }
}

fn model_headers() -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(
        support::repo().join("tests/fixtures/models/dev-amd64-dangerous.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn signed_model(key: &PrivateKey) -> Assertion {
    assertion::sign("model", &model_headers(), &[], key, "dev").unwrap()
}

fn now() -> OffsetDateTime {
    datetime!(2026-03-01 00:00 UTC)
}

fn check(f: &Fixture, extra: Vec<Assertion>) -> Result<trust::Verified, Error> {
    let mut all = f.chain.clone();
    all.extend(extra);
    trust::verify(&all, &f.trusted, now())
}

#[test]
fn chain_verifies_in_any_order() {
    let f = fixture(EPOCH, None);
    let model = signed_model(&f.brand);
    let mut all = vec![model];
    all.extend(f.chain.iter().rev().cloned());
    let v = trust::verify(&all, &f.trusted, now()).unwrap();
    assert_eq!(v.model().unwrap().brand_id, "dev");
    let streams: Vec<Vec<u8>> = all.iter().map(Assertion::encode).collect();
    let roots = assertion::encode_stream(&f.trusted);
    let refs: Vec<&[u8]> = streams.iter().map(Vec::as_slice).collect();
    let again = trust::verify_streams(&refs, &[&roots], now()).unwrap();
    assert_eq!(again.model().unwrap(), v.model().unwrap());
    assert_eq!(v.models[0].grade, assertion::Grade::Dangerous);
    assert!(v.accounts.contains_key("dev") && v.accounts.contains_key("root"));
}

#[test]
fn nothing_is_trusted_without_roots() {
    let f = fixture(EPOCH, None);
    let mut all = f.trusted.clone();
    all.extend(f.chain.clone());
    all.push(signed_model(&f.brand));
    let err = trust::verify(&all, &[], now()).unwrap_err().to_string();
    assert!(
        err.contains("is unknown") && err.contains("--trusted"),
        "{err}"
    );
}

#[test]
fn signature_by_another_key_fails() {
    let f = fixture(EPOCH, None);
    let other = PrivateKey::from_seed([33; 32]);
    let good = signed_model(&f.brand);
    // Same headers (naming the brand key), signature made by another key.
    let forged = good
        .clone()
        .with_signature(other.sign(good.signed_content(), 0).unwrap());
    let err = check(&f, vec![forged]).unwrap_err().to_string();
    assert!(
        err.contains("model 16/dev/dev-amd64") && err.contains("signature does not verify"),
        "{err}"
    );
}

#[test]
fn key_outside_validity_window_fails() {
    let f = fixture(datetime!(2027-01-01 00:00 UTC), None);
    let err = check(&f, vec![signed_model(&f.brand)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"timestamp\"") && err.contains("outside the signing key's validity"),
        "{err}"
    );
    let f = fixture(EPOCH, Some(datetime!(2025-06-01 00:00 UTC)));
    let err = check(&f, vec![signed_model(&f.brand)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the signing key's validity"), "{err}");
}

#[test]
fn expired_key_fails() {
    let f = fixture(EPOCH, Some(datetime!(2026-02-01 00:00 UTC)));
    let err = check(&f, vec![signed_model(&f.brand)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("has expired"), "{err}");
}

/// Signs headers without the type checks `sign` makes, to present broken assertions.
fn sign_unchecked(hdrs: serde_json::Value, key: &PrivateKey) -> Assertion {
    let mut map = std::collections::BTreeMap::new();
    for (k, v) in hdrs.as_object().unwrap() {
        let value = assertion::sign::json_to_value(k, v).unwrap().unwrap();
        map.insert(k.clone(), value);
    }
    map.insert("sign-key-sha3-384".into(), Value::Str(key.public().id()));
    let a = Assertion::from_parts(map, Vec::new()).unwrap();
    let sig = key.sign(a.signed_content(), 0).unwrap();
    a.with_signature(sig)
}

#[test]
fn brand_authority_mismatch_fails() {
    let f = fixture(EPOCH, None);
    let mut hdrs = serde_json::Value::Object(model_headers());
    hdrs["brand-id"] = json!("other");
    let err = check(&f, vec![sign_unchecked(hdrs.clone(), &f.brand)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"authority-id\"") && err.contains("brand-id"),
        "{err}"
    );
    // sign refuses it up front too.
    let err =
        assertion::sign("model", hdrs.as_object().unwrap(), &[], &f.brand, "dev").unwrap_err();
    assert!(err.to_string().contains("must equal brand-id"), "{err}");
}

#[test]
fn brand_key_cannot_delegate() {
    let f = fixture(EPOCH, None);
    let third = PrivateKey::from_seed([44; 32]);
    let sub = assertion::certify_key(&third.public(), "sub", "dev", &f.brand, "dev", EPOCH, None)
        .unwrap();
    let err = check(&f, sub).unwrap_err().to_string();
    assert!(
        err.contains("must be signed by a trusted root key"),
        "{err}"
    );
}

#[test]
fn missing_brand_account_fails() {
    let f = fixture(EPOCH, None);
    let all = vec![f.chain[1].clone(), signed_model(&f.brand)];
    let err = trust::verify(&all, &f.trusted, now())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no account assertion for \"dev\""), "{err}");
}

/// An assertion of type `kind` with `headers`, signed by the fixture's root key.
fn by_root(f: &Fixture, kind: &str, headers: serde_json::Value) -> Assertion {
    let headers = headers.as_object().unwrap();
    assertion::sign(kind, headers, &[], &f.root, "root").unwrap()
}

#[test]
fn store_assertions_verify_and_need_a_declaration() {
    let f = fixture(EPOCH, None);
    let decl = by_root(
        &f,
        "snap-declaration",
        json!({"series": "16", "snap-id": "helloid", "snap-name": "hello", "publisher-id": "dev",
            "timestamp": "2026-01-01T00:00:00Z"}),
    );
    let digest = "a".repeat(64);
    let rev = by_root(
        &f,
        "snap-revision",
        json!({"snap-sha3-384": digest, "snap-id": "helloid", "snap-size": "4096",
            "snap-revision": "3", "developer-id": "dev", "timestamp": "2026-01-01T00:00:00Z"}),
    );
    let v = check(&f, vec![rev.clone(), decl]).unwrap();
    assert_eq!(v.snap(&digest).unwrap().1.publisher_id, "dev");
    assert!(v.model().is_err(), "no model was given");
    let r = &v.snap_revisions[&digest];
    assert_eq!(
        (r.snap_size, r.snap_revision, r.provenance.as_str()),
        (4096, 3, "global-upload")
    );
    assert_eq!(v.snap_declarations["helloid"].snap_name, "hello");
    let err = check(&f, vec![rev]).unwrap_err().to_string();
    assert!(err.contains("no snap-declaration"), "{err}");
}

#[test]
fn any_flipped_byte_fails() {
    let f = fixture(EPOCH, None);
    let model = signed_model(&f.brand).encode();
    let brand = assertion::encode_stream(&f.chain);
    let mut tried = 0;
    for (target, data) in [("model", &model), ("brand", &brand)] {
        for i in 0..data.len() {
            for mask in [0x01u8, 0x20, 0x80] {
                let mut bad = data.clone();
                bad[i] ^= mask;
                let (m, b) = if target == "model" {
                    (&bad, &brand)
                } else {
                    (&model, &bad)
                };
                let result = assertion::decode_stream(m).and_then(|mut all| {
                    all.extend(assertion::decode_stream(b)?);
                    trust::verify(&all, &f.trusted, now())
                });
                assert!(
                    result.is_err(),
                    "flipping byte {i} of {target} with {mask:#x} still verifies"
                );
                tried += 1;
            }
        }
    }
    assert!(tried > 3000);
}
