//! RSA-4096 keys (what snapd verifies) in the trust chain: an RSA root certifies an RSA brand
//! key, or an Ed25519 one, and the model each signs verifies; a signature by the other RSA key,
//! or any single flipped byte of the RSA-signed model, is refused.

mod support;

use snapsmith::assertion::keys::{Algorithm, PrivateKey};
use snapsmith::assertion::{self, Assertion, trust};
use support::fixtures::fixture_key;
use time::OffsetDateTime;
use time::macros::datetime;

const EPOCH: OffsetDateTime = datetime!(2025-01-01 00:00 UTC);

fn model_headers() -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(support::repo().join("models/dev-amd64.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Root trust, the brand key's certification, and the model the brand signs.
fn chain(root: &PrivateKey, brand: &PrivateKey) -> (Vec<Assertion>, Vec<Assertion>) {
    let trusted =
        assertion::certify_key(&root.public(), "root", "root", root, "root", EPOCH, None).unwrap();
    let mut all =
        assertion::certify_key(&brand.public(), "brand", "dev", root, "root", EPOCH, None).unwrap();
    all.push(assertion::sign("model", &model_headers(), &[], brand, "dev").unwrap());
    (trusted, all)
}

fn now() -> OffsetDateTime {
    datetime!(2026-03-01 00:00 UTC)
}

#[test]
fn rsa_chain_verifies_and_mixed_chains_too() {
    let (root, brand) = (fixture_key("rsa-root"), fixture_key("rsa-brand"));
    assert_eq!(root.algorithm(), Algorithm::Rsa);
    let (trusted, all) = chain(&root, &brand);
    let v = trust::verify(&all, &trusted, now()).unwrap();
    assert_eq!(v.model().unwrap().brand_id, "dev");
    let text = String::from_utf8(all[2].encode()).unwrap();
    assert!(text.contains(&format!("sign-key-sha3-384: {}", brand.public().id())));

    let ed_brand = PrivateKey::from_seed([5; 32]);
    let (trusted, all) = chain(&root, &ed_brand);
    trust::verify(&all, &trusted, now()).unwrap();
}

#[test]
fn rsa_signature_by_another_key_and_flipped_bytes_fail() {
    let (root, brand) = (fixture_key("rsa-root"), fixture_key("rsa-brand"));
    let (trusted, mut all) = chain(&root, &brand);
    let model = all.pop().unwrap();
    let forged = model
        .clone()
        .with_signature(root.sign(model.signed_content(), 0).unwrap());
    let mut with_forged = all.clone();
    with_forged.push(forged);
    let err = trust::verify(&with_forged, &trusted, now())
        .unwrap_err()
        .to_string();
    assert!(err.contains("signature does not verify"), "{err}");

    let bytes = model.encode();
    let prefix: Vec<Vec<u8>> = all.iter().map(Assertion::encode).collect();
    let mut refused = 0;
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        let mut streams: Vec<&[u8]> = prefix.iter().map(Vec::as_slice).collect();
        streams.push(&bad);
        let roots = assertion::encode_stream(&trusted);
        if trust::verify_streams(&streams, &[&roots], now()).is_err() {
            refused += 1;
        }
    }
    assert_eq!(
        refused,
        bytes.len(),
        "a flipped byte of the model still verified"
    );
}
