//! The assertion text format: `HEADERS "\n\n" [BODY "\n\n"] SIGNATURE`, streams of several
//! assertions separated by blank lines, and encoding in snapd's signing order (type, format,
//! authority-id, revision, primary keys, remaining headers sorted, body-length,
//! sign-key-sha3-384), so re-encoding a parsed assertion reproduces its signed content.

use super::headers::{self, Value};
use super::{Error, Result};
use std::collections::BTreeMap;

/// Limit on the header block and on the signature, as snapd enforces.
pub const MAX_HEADERS: usize = 128 * 1024;
/// Limit on the body, as snapd enforces.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Primary-key header names of a type, in order (with the default of an optional last key).
pub fn primary_key(
    type_name: &str,
) -> (
    &'static [&'static str],
    Option<(&'static str, &'static str)>,
) {
    match type_name {
        "account" => (&["account-id"], None),
        "account-key" => (&["public-key-sha3-384"], None),
        "model" => (&["series", "brand-id", "model"], None),
        "snap-declaration" => (&["series", "snap-id"], None),
        "snap-revision" => (
            &["snap-sha3-384", "provenance"],
            Some(("provenance", "global-upload")),
        ),
        _ => (&[], None),
    }
}

/// Highest `format` a type accepts.
pub fn max_format(type_name: &str) -> u32 {
    match type_name {
        "account-key" => 1,
        "snap-declaration" => 7,
        "system-user" => 2,
        _ => 0,
    }
}

/// One assertion: headers, optional body and signature, plus the exact signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    headers: BTreeMap<String, Value>,
    body: Vec<u8>,
    content: Vec<u8>,
    signature: Vec<u8>,
}

impl Assertion {
    /// Builds an unsigned assertion from headers and body; its content is the canonical encoding.
    /// `body-length` is set (or removed) from the body.
    pub fn from_parts(mut headers: BTreeMap<String, Value>, body: Vec<u8>) -> Result<Assertion> {
        if body.is_empty() {
            headers.remove("body-length");
        } else {
            headers.insert("body-length".into(), Value::Str(body.len().to_string()));
        }
        let mut a = Assertion {
            headers,
            body,
            content: Vec::new(),
            signature: Vec::new(),
        };
        a.check_common()?;
        a.content = a.encode_content();
        Ok(a)
    }

    /// Attaches a signature (wrapped base64 text) to this assertion's content.
    pub fn with_signature(mut self, signature: String) -> Assertion {
        self.signature = signature.into_bytes();
        self
    }

    /// The assertion type (`model`, `account-key`, ...).
    pub fn type_name(&self) -> &str {
        self.header_str("type").unwrap_or_default()
    }

    /// A header's value by name.
    pub fn header(&self, name: &str) -> Option<&Value> {
        self.headers.get(name)
    }

    /// A header's value when it is a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }

    /// All headers, sorted by name.
    pub fn headers(&self) -> &BTreeMap<String, Value> {
        &self.headers
    }

    /// The body (empty when there is none).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The bytes the signature covers, exactly as decoded (or as encoded when built here).
    pub fn signed_content(&self) -> &[u8] {
        &self.content
    }

    /// The signature as wrapped base64 text.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// `authority-id`, empty when missing.
    pub fn authority_id(&self) -> &str {
        self.header_str("authority-id").unwrap_or_default()
    }

    /// `sign-key-sha3-384`, empty when missing.
    pub fn sign_key_id(&self) -> &str {
        self.header_str("sign-key-sha3-384").unwrap_or_default()
    }

    /// A short human name: the type and its primary-key values, e.g. `model dev/dev-amd64`.
    pub fn describe(&self) -> String {
        let (keys, _) = primary_key(self.type_name());
        let values: Vec<&str> = keys.iter().filter_map(|k| self.header_str(k)).collect();
        if values.is_empty() {
            self.type_name().to_string()
        } else {
            format!("{} {}", self.type_name(), values.join("/"))
        }
    }

    /// The signed content in snapd's header order (what signing covers).
    pub fn encode_content(&self) -> Vec<u8> {
        let mut out = String::new();
        for (name, value) in self.ordered_headers() {
            if !out.is_empty() {
                out.push('\n');
            }
            headers::encode_entry(&mut out, name, value, 0);
        }
        let mut bytes = out.into_bytes();
        if !self.body.is_empty() {
            bytes.extend_from_slice(b"\n\n");
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }

    /// The full assertion: signed content, blank line, signature, newline.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.content.clone();
        out.extend_from_slice(b"\n\n");
        out.extend_from_slice(&self.signature);
        out.push(b'\n');
        out
    }

    fn ordered_headers(&self) -> Vec<(&str, &Value)> {
        let type_name = self.type_name().to_string();
        let (pk, optional) = primary_key(&type_name);
        let mut first: Vec<&str> = vec!["type"];
        if self.header_str("format").is_some_and(|f| f != "0") {
            first.push("format");
        }
        first.push("authority-id");
        if self.header_str("revision").is_some_and(|r| r != "0") {
            first.push("revision");
        }
        for key in pk {
            let default = optional.filter(|(n, _)| n == key).map(|(_, d)| d);
            if default.is_none() || self.header_str(key) != default {
                first.push(key);
            }
        }
        let last = ["body-length", "sign-key-sha3-384"];
        let skip =
            |n: &str| first.contains(&n) || last.contains(&n) || n == "format" || n == "revision";
        let mut out: Vec<(&str, &Value)> = Vec::new();
        for name in &first {
            if let Some((k, v)) = self.headers.get_key_value(*name) {
                out.push((k, v));
            }
        }
        for (k, v) in &self.headers {
            if !skip(k) && !v.is_empty_container() {
                out.push((k, v));
            }
        }
        for name in last {
            if let Some((k, v)) = self.headers.get_key_value(name) {
                out.push((k, v));
            }
        }
        out
    }

    /// Format checks every assertion must pass: type, authority-id, numeric headers, primary keys.
    fn check_common(&self) -> Result<()> {
        let who = self.describe();
        let hdr = |header: &str, reason: String| Error::Header {
            assertion: who.clone(),
            header: header.to_string(),
            reason,
        };
        for name in ["type", "authority-id"] {
            match self.header(name) {
                Some(Value::Str(s)) if !s.is_empty() => {}
                Some(_) => return Err(hdr(name, "must be a non-empty string".into())),
                None => return Err(hdr(name, "required header is missing".into())),
            }
        }
        for name in ["revision", "format", "body-length"] {
            if let Some(v) = self.header(name) {
                let ok = v.as_str().is_some_and(|s| {
                    !s.is_empty()
                        && s.bytes().all(|b| b.is_ascii_digit())
                        && (s == "0" || !s.starts_with('0'))
                        && s.parse::<u64>().is_ok()
                });
                if !ok {
                    return Err(hdr(name, "must be a decimal integer".into()));
                }
            }
        }
        // Unsigned assertions being assembled get their key id when they are signed; a present
        // one must be a digest either way.
        if let Some(key) = self.header("sign-key-sha3-384") {
            check_digest(Some(key)).map_err(|r| hdr("sign-key-sha3-384", r))?;
        }
        let format: u32 = self
            .header_str("format")
            .map_or(Ok(0), str::parse)
            .unwrap_or(u32::MAX);
        if format > max_format(self.type_name()) {
            return Err(hdr(
                "format",
                format!("{format} is above what {} supports", self.type_name()),
            ));
        }
        let (pk, optional) = primary_key(self.type_name());
        for key in pk {
            let value = self.header(key);
            let optional_default = optional.is_some_and(|(n, _)| n == *key);
            match value {
                None if optional_default => {}
                None => return Err(hdr(key, "required primary-key header is missing".into())),
                Some(Value::Str(s)) if !s.is_empty() && !s.contains('/') => {}
                Some(_) => {
                    return Err(hdr(
                        key,
                        "primary key must be a non-empty string without '/'".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// snapd's rule for a digest header: a string, unpadded URL-safe base64 of a SHA3-384 digest
/// (48 bytes).
/// The checks of a decoded (signed) assertion: the common ones, and it names its signing key,
/// as snapd requires.
fn check_signed(a: &Assertion) -> Result<()> {
    a.check_common()?;
    if a.header("sign-key-sha3-384").is_none() {
        return Err(Error::Format(
            "header \"sign-key-sha3-384\": required header is missing".into(),
        ));
    }
    Ok(())
}

fn check_digest(value: Option<&Value>) -> std::result::Result<(), String> {
    use base64::Engine;
    let text = match value {
        None => return Err("required header is missing".into()),
        Some(v) => v.as_str().ok_or("must be a string")?,
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| format!("is not unpadded URL-safe base64: {e}"))?;
    if bytes.len() != 48 {
        return Err(format!(
            "is {} bits long, not a SHA3-384 digest (384 bits)",
            bytes.len() * 8
        ));
    }
    Ok(())
}

/// Decodes exactly one assertion (trailing blank lines allowed).
pub fn decode(data: &[u8]) -> Result<Assertion> {
    let mut all = decode_stream(data)?;
    match all.len() {
        1 => Ok(all.remove(0)),
        n => Err(Error::Format(format!("expected one assertion, found {n}"))),
    }
}

/// Decodes a stream of assertions separated by blank lines.
pub fn decode_stream(data: &[u8]) -> Result<Vec<Assertion>> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        while data.get(pos) == Some(&b'\n') {
            pos += 1;
        }
        if pos >= data.len() {
            break;
        }
        let (a, used) = decode_one(&data[pos..]).map_err(|e| match e {
            Error::Format(m) => {
                Error::Format(format!("assertion {} in stream: {m}", out.len() + 1))
            }
            other => other,
        })?;
        out.push(a);
        pos += used;
    }
    if out.is_empty() {
        return Err(Error::Format("no assertion found".into()));
    }
    Ok(out)
}

fn find(data: &[u8], needle: &[u8]) -> Option<usize> {
    data.windows(needle.len()).position(|w| w == needle)
}

/// Decodes one assertion at the start of `data`; returns it and the bytes consumed.
fn decode_one(data: &[u8]) -> Result<(Assertion, usize)> {
    let fmt = |m: &str| Error::Format(m.to_string());
    let hend = find(data, b"\n\n").ok_or_else(|| fmt("no blank line after the headers"))?;
    if hend > MAX_HEADERS {
        return Err(fmt("headers are longer than 128 KiB"));
    }
    let htext = std::str::from_utf8(&data[..hend]).map_err(|_| fmt("headers are not UTF-8"))?;
    let entries = headers::parse(htext)?;
    let headers: BTreeMap<String, Value> = entries.into_iter().collect();
    let body_len = match headers.get("body-length") {
        None => 0,
        Some(v) => v
            .as_str()
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| fmt("header \"body-length\" is not a decimal integer"))?,
    };
    if body_len > MAX_BODY {
        return Err(fmt("body is longer than 2 MiB"));
    }
    let mut pos = hend + 2;
    let body = if body_len > 0 {
        let body = data.get(pos..pos + body_len).ok_or_else(|| {
            fmt(&format!(
                "body-length is {body_len} but fewer bytes follow the headers"
            ))
        })?;
        if data.get(pos + body_len..pos + body_len + 2) != Some(b"\n\n") {
            return Err(fmt(&format!(
                "body-length {body_len} does not match the body: no blank line after {body_len} bytes"
            )));
        }
        std::str::from_utf8(body).map_err(|_| fmt("body is not UTF-8"))?;
        pos += body_len + 2;
        body.to_vec()
    } else {
        Vec::new()
    };
    let content_end = if body_len > 0 { pos - 2 } else { hend };
    let rest = &data[pos..];
    let sig_len = find(rest, b"\n\n").unwrap_or(rest.len());
    let mut signature = &rest[..sig_len];
    if signature.last() == Some(&b'\n') {
        signature = &signature[..signature.len() - 1];
    }
    if signature.is_empty() {
        return Err(fmt("signature is missing"));
    }
    if signature.len() > MAX_HEADERS {
        return Err(fmt("signature is longer than 128 KiB"));
    }
    let a = Assertion {
        headers,
        body,
        content: data[..content_end].to_vec(),
        signature: signature.to_vec(),
    };
    check_signed(&a)?;
    Ok((a, pos + sig_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "type: account\nauthority-id: root\naccount-id: dev\ndisplay-name: Dev\ntimestamp: 2024-01-01T00:00:00Z\nvalidation: unproven\nsign-key-sha3-384: KJkYMyQySIZgm3kEkDnlOuYIhuClUaHaHzkNVGwTkaIo2pMvrQ49h0zk34ZjtUSe\n\nAXNpZw==\n";

    #[test]
    fn decode_encode_roundtrip() {
        let a = decode(SAMPLE.as_bytes()).unwrap();
        assert_eq!(a.type_name(), "account");
        assert_eq!(a.encode(), SAMPLE.as_bytes());
        assert_eq!(a.encode_content(), a.signed_content());
        assert_eq!(a.describe(), "account dev");
    }

    #[test]
    fn stream_and_body() {
        let with_body = "type: account-key\nauthority-id: root\npublic-key-sha3-384: k\naccount-id: dev\nbody-length: 5\nsign-key-sha3-384: KJkYMyQySIZgm3kEkDnlOuYIhuClUaHaHzkNVGwTkaIo2pMvrQ49h0zk34ZjtUSe\n\nab\n\nc\n\nAXNpZw==\n";
        let text = format!("{SAMPLE}\n{with_body}");
        let all = decode_stream(text.as_bytes()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].body(), b"ab\n\nc");
        assert_eq!(all[1].encode(), with_body.as_bytes());
    }

    #[test]
    fn body_length_mismatch() {
        let bad = SAMPLE.replace("validation: unproven\n", "body-length: 3\n");
        let err = decode(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("body-length"), "{err}");
    }

    #[test]
    fn sign_key_must_be_a_sha3_384_digest() {
        let key =
            "sign-key-sha3-384: KJkYMyQySIZgm3kEkDnlOuYIhuClUaHaHzkNVGwTkaIo2pMvrQ49h0zk34ZjtUSe\n";
        for bad in [
            "",
            "sign-key-sha3-384: abc\n",
            "sign-key-sha3-384: KJkY+yQy\n",
        ] {
            let text = SAMPLE.replace(key, bad);
            let err = decode(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("sign-key-sha3-384"), "{err}");
        }
    }
}
