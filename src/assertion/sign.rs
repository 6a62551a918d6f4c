//! Signing: assertion headers given as a JSON map (the same `.json` that `snap sign` takes, or
//! YAML read into JSON) become a signed [`Assertion`], after the type's rules are checked.
//!
//! `sign-key-sha3-384` is filled from the key, `authority-id` from the key's account when
//! missing, and the OpenPGP signature time from the assertion's own `timestamp` (or `since`),
//! so the same headers and key always give the same bytes.

use super::headers::{self, Value};
use super::keys::PrivateKey;
use super::types::parse_time;
use super::{Account, AccountKey, Assertion, Error, Model, Result, SnapDeclaration, SnapRevision};
use std::collections::BTreeMap;

/// Converts a JSON value to a header value: numbers and booleans become strings, null is
/// dropped (`None`), arrays and objects nest.
pub fn json_to_value(path: &str, v: &serde_json::Value) -> Result<Option<Value>> {
    use serde_json::Value as J;
    Ok(Some(match v {
        J::Null => return Ok(None),
        J::Bool(b) => Value::Str(b.to_string()),
        J::Number(n) => Value::Str(n.to_string()),
        J::String(s) => Value::Str(s.clone()),
        J::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if let Some(v) = json_to_value(&format!("{path}[{i}]"), item)? {
                    out.push(v);
                }
            }
            Value::List(out)
        }
        J::Object(map) => Value::Map(json_map_to_headers(path, map)?),
    }))
}

fn json_map_to_headers(
    path: &str,
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let here = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if !headers::valid_name(k) {
            return Err(Error::Format(format!("header {here:?}: invalid name")));
        }
        if let Some(v) = json_to_value(&here, v)? {
            out.insert(k.clone(), v);
        }
    }
    Ok(out)
}

/// Signs headers (a JSON object) and body with `key`, which signs for `account_id`.
///
/// `type_name` must match the `type` header when that is present (and fills it when not). A
/// `body` string in the JSON is taken as the body when `body` is empty, as `snap sign` does.
/// Checks the type's rules (e.g. [`Model::from_assertion`]) before returning.
pub fn sign(
    type_name: &str,
    json: &serde_json::Map<String, serde_json::Value>,
    body: &[u8],
    key: &PrivateKey,
    account_id: &str,
) -> Result<Assertion> {
    let mut json = json.clone();
    let mut body = body.to_vec();
    if let Some(b) = json.remove("body") {
        let text = b
            .as_str()
            .ok_or_else(|| Error::Format("header \"body\": must be a string".into()))?;
        if body.is_empty() {
            body = text.as_bytes().to_vec();
        }
    }
    json.remove("body-length");
    let mut hdrs = json_map_to_headers("", &json)?;
    match hdrs.get("type").and_then(Value::as_str) {
        None => {
            hdrs.insert("type".into(), Value::Str(type_name.into()));
        }
        Some(t) if t == type_name => {}
        Some(t) => {
            return Err(Error::Format(format!(
                "header \"type\": {t:?} does not match the requested type {type_name:?}"
            )));
        }
    }
    match hdrs.get("authority-id").and_then(Value::as_str) {
        None => {
            hdrs.insert("authority-id".into(), Value::Str(account_id.into()));
        }
        Some(a) if a == account_id => {}
        Some(a) => {
            return Err(Error::Format(format!(
                "header \"authority-id\": {a:?} is not the signing key's account {account_id:?}"
            )));
        }
    }
    hdrs.insert("sign-key-sha3-384".into(), Value::Str(key.public().id()));
    let unsigned = Assertion::from_parts(hdrs, body)?;
    let created = signature_time(&unsigned)?;
    let signature = key.sign(unsigned.signed_content(), created)?;
    let signed = unsigned.with_signature(signature);
    check_type_rules(&signed)?;
    Ok(signed)
}

/// The OpenPGP creation time for an assertion: its `timestamp`, else `since`, else 0.
fn signature_time(a: &Assertion) -> Result<u32> {
    let Some((name, text)) = ["timestamp", "since"]
        .iter()
        .find_map(|n| a.header_str(n).map(|t| (*n, t)))
    else {
        return Ok(0);
    };
    let t = parse_time(text).map_err(|reason| Error::Header {
        assertion: a.describe(),
        header: name.to_string(),
        reason,
    })?;
    // OpenPGP times are unsigned 32-bit seconds; earlier times clamp to the epoch.
    u32::try_from(t.unix_timestamp().max(0)).map_err(|_| Error::Header {
        assertion: a.describe(),
        header: name.to_string(),
        reason: "is beyond 2106, which OpenPGP cannot express".into(),
    })
}

/// Checks the rules of the assertion's type; unknown types are refused.
pub fn check_type_rules(a: &Assertion) -> Result<()> {
    match a.type_name() {
        "model" => Model::from_assertion(a).map(drop),
        "account" => Account::from_assertion(a).map(drop),
        "account-key" => AccountKey::from_assertion(a).map(drop),
        "snap-declaration" => SnapDeclaration::from_assertion(a).map(drop),
        "snap-revision" => SnapRevision::from_assertion(a).map(drop),
        other => Err(Error::Header {
            assertion: a.describe(),
            header: "type".into(),
            reason: format!(
                "{other:?} is not a type snapsmith knows (account, account-key, model, snap-declaration, snap-revision)"
            ),
        }),
    }
}

/// The `account` and `account-key` assertions that vouch for `subject` (a key signing for
/// `subject_account`, named `subject_name`), signed by `signer` for `signer_account`.
///
/// With the subject as its own signer this makes a self-signed root of trust. The account's
/// `timestamp` is `since`, so the output depends only on the inputs.
pub fn certify_key(
    subject: &super::PublicKey,
    subject_name: &str,
    subject_account: &str,
    signer: &PrivateKey,
    signer_account: &str,
    since: time::OffsetDateTime,
    until: Option<time::OffsetDateTime>,
) -> Result<Vec<Assertion>> {
    use super::types::format_time;
    use serde_json::json;
    let self_signed = subject.id() == signer.public().id();
    let account = json!({
        "type": "account",
        "account-id": subject_account,
        "display-name": subject_account,
        "validation": if self_signed { "verified" } else { "unproven" },
        "timestamp": format_time(since),
    });
    let mut key = json!({
        "type": "account-key",
        "account-id": subject_account,
        "name": subject_name,
        "public-key-sha3-384": subject.id(),
        "since": format_time(since),
    });
    if let Some(u) = until {
        key["until"] = json!(format_time(u));
    }
    let obj = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    let body = subject.encode_body();
    Ok(vec![
        sign("account", &obj(account), &[], signer, signer_account)?,
        sign(
            "account-key",
            &obj(key),
            body.as_bytes(),
            signer,
            signer_account,
        )?,
    ])
}

/// Encodes several assertions as one stream (separated by blank lines).
pub fn encode_stream(assertions: &[Assertion]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, a) in assertions.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend(a.encode());
    }
    out
}
