//! snapd's "v1" envelope and the two OpenPGP v4 packets snapsmith writes and reads: the public-key
//! packet (RSA, algorithm 1, or EdDSA, algorithm 22 on the Ed25519 curve) and the
//! binary-document signature packet.
//!
//! A v1 blob is the byte 0x01 followed by exactly one OpenPGP packet (RFC 4880 new-format
//! header), carried as standard base64 wrapped at 76 columns. Pure byte manipulation, no I/O.

use super::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The v1 envelope's format byte.
pub const V1: u8 = 0x01;
/// OpenPGP public-key algorithm number of EdDSA (legacy Ed25519 form).
pub const ALGO_EDDSA: u8 = 22;
/// OpenPGP public-key algorithm number of RSA (encrypt or sign).
pub const ALGO_RSA: u8 = 1;
/// OpenPGP hash algorithm number of SHA-512.
pub const HASH_SHA512: u8 = 10;
/// DER body of the curve OID 1.3.6.1.4.1.11591.15.1 (Ed25519).
pub const ED25519_OID: [u8; 9] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01];
/// The fixed key creation time snapd uses: 2016-01-01T00:00:00Z.
pub const KEY_CREATION_TIME: u32 = 1_451_606_400;

const TAG_SIGNATURE: u8 = 2;
const TAG_PUBLIC_KEY: u8 = 6;

/// Encodes bytes as standard padded base64 wrapped at 76 columns (no trailing newline).
pub fn wrap_base64(data: &[u8]) -> String {
    let flat = STANDARD.encode(data);
    let lines: Vec<&str> = flat
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    lines.join("\n")
}

/// Decodes wrapped base64 (newlines ignored).
pub fn unwrap_base64(text: &[u8], what: &str) -> Result<Vec<u8>> {
    let flat: Vec<u8> = text.iter().copied().filter(|b| *b != b'\n').collect();
    STANDARD
        .decode(&flat)
        .map_err(|e| Error::Format(format!("{what}: bad base64: {e}")))
}

/// Wraps one packet body in a new-format packet header with `tag`.
pub fn packet(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xC0 | tag];
    let len = body.len();
    if len < 192 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else if len < 8384 {
        let v = len - 192;
        out.push(u8::try_from((v >> 8) + 192).unwrap_or(0));
        out.push(u8::try_from(v & 0xFF).unwrap_or(0));
    } else {
        out.push(0xFF);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// Splits a v1 blob into the tag and body of its single packet.
pub fn unpack_v1<'a>(blob: &'a [u8], what: &str) -> Result<(u8, &'a [u8])> {
    let bad = |msg: &str| Error::Format(format!("{what}: {msg}"));
    match blob.first() {
        Some(&V1) => {}
        Some(b) => return Err(bad(&format!("unsupported format version {b}, expected 1"))),
        None => return Err(bad("empty")),
    }
    let hdr = *blob.get(1).ok_or_else(|| bad("truncated packet header"))?;
    if hdr & 0xC0 != 0xC0 {
        return Err(bad("not a new-format OpenPGP packet"));
    }
    let tag = hdr & 0x3F;
    let rest = &blob[2..];
    let (len, skip) = match rest.first().copied() {
        Some(l @ 0..=191) => (usize::from(l), 1),
        Some(l @ 192..=223) => {
            let second = *rest.get(1).ok_or_else(|| bad("truncated packet length"))?;
            ((usize::from(l) - 192) * 256 + usize::from(second) + 192, 2)
        }
        Some(255) => {
            let b = rest
                .get(1..5)
                .ok_or_else(|| bad("truncated packet length"))?;
            let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            (usize::try_from(n).map_err(|_| bad("packet too long"))?, 5)
        }
        _ => return Err(bad("unsupported packet length encoding")),
    };
    let body = &rest[skip..];
    if body.len() != len {
        return Err(bad(&format!(
            "packet length {len} does not match the {} bytes present",
            body.len()
        )));
    }
    Ok((tag, body))
}

/// Significant bits of a byte (0 for 0).
fn bit_len(b: u8) -> usize {
    usize::try_from(u8::BITS - b.leading_zeros()).unwrap_or(8)
}

/// Appends an OpenPGP MPI (bit count, then big-endian bytes without leading zeros).
pub(super) fn push_mpi(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let trimmed = &bytes[start..];
    let bits = match trimmed.first() {
        Some(first) => (trimmed.len() - 1) * 8 + bit_len(*first),
        None => 0,
    };
    out.extend_from_slice(&u16::try_from(bits).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(trimmed);
}

/// Reads an MPI at `*pos`, advancing it; its bit count must describe the bytes exactly, so no
/// two encodings of a key mean the same value.
pub(super) fn read_mpi<'a>(data: &'a [u8], pos: &mut usize, what: &str) -> Result<&'a [u8]> {
    let declared = data
        .get(*pos..*pos + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let v = read_mpi_loose(data, pos, what)?;
    let exact = v.first().map_or(declared == Some(0), |b| {
        *b != 0 && Some((v.len() - 1) * 8 + bit_len(*b)) == declared
    });
    if !exact {
        return Err(Error::Format(format!(
            "{what}: MPI bit count does not match its bytes"
        )));
    }
    Ok(v)
}

/// Reads an MPI as OpenPGP readers do (snapd's among them): the bit count says how many bytes
/// follow and no bit above it may be set, but leading zero bits are allowed. Signature values
/// are written that way (Go writes an RSA signature as all the modulus' bytes).
fn read_mpi_loose<'a>(data: &'a [u8], pos: &mut usize, what: &str) -> Result<&'a [u8]> {
    let bad = || Error::Format(format!("{what}: truncated MPI"));
    let b = data.get(*pos..*pos + 2).ok_or_else(bad)?;
    let bits = usize::from(u16::from_be_bytes([b[0], b[1]]));
    let len = bits.div_ceil(8);
    let v = data.get(*pos + 2..*pos + 2 + len).ok_or_else(bad)?;
    if v.first()
        .is_some_and(|b| bit_len(*b) > bits - (len - 1) * 8)
    {
        return Err(Error::Format(format!(
            "{what}: MPI has bits above its bit count"
        )));
    }
    *pos += 2 + len;
    Ok(v)
}

/// The public numbers of a key, as its OpenPGP packet carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// The 32-byte Ed25519 point.
    Ed25519([u8; 32]),
    /// Modulus and public exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl KeyMaterial {
    /// The OpenPGP public-key algorithm number.
    pub fn algorithm(&self) -> u8 {
        match self {
            KeyMaterial::Ed25519(_) => ALGO_EDDSA,
            KeyMaterial::Rsa { .. } => ALGO_RSA,
        }
    }
}

/// The body of the v4 public-key packet, with snapd's fixed creation time.
pub fn public_key_body(key: &KeyMaterial) -> Vec<u8> {
    let mut body = vec![4];
    body.extend_from_slice(&KEY_CREATION_TIME.to_be_bytes());
    body.push(key.algorithm());
    match key {
        KeyMaterial::Ed25519(point) => {
            body.push(u8::try_from(ED25519_OID.len()).unwrap_or(0));
            body.extend_from_slice(&ED25519_OID);
            let mut prefixed = vec![0x40];
            prefixed.extend_from_slice(point);
            push_mpi(&mut body, &prefixed);
        }
        KeyMaterial::Rsa { n, e } => {
            push_mpi(&mut body, n);
            push_mpi(&mut body, e);
        }
    }
    body
}

/// The full v1 public-key blob of a packet body: 0x01 ‖ public-key packet (with the shortest
/// length encoding, as snapd re-serializes it).
pub fn public_key_blob(body: &[u8]) -> Vec<u8> {
    let mut blob = vec![V1];
    blob.extend(packet(TAG_PUBLIC_KEY, body));
    blob
}

/// The 8-byte OpenPGP key id (low 64 bits of the v4 SHA-1 fingerprint) of a public-key packet
/// body, used as the issuer.
pub fn issuer_key_id(body: &[u8]) -> [u8; 8] {
    let mut h = sha1_smol::Sha1::new();
    h.update(&[0x99]);
    h.update(&u16::try_from(body.len()).unwrap_or(0).to_be_bytes());
    h.update(body);
    let fp = h.digest().bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&fp[12..20]);
    id
}

/// Reads the key numbers and the packet body from a v1 public-key blob. The body is kept as
/// given (with its own creation time): the key id is computed over it, as snapd does.
pub fn parse_public_key(blob: &[u8]) -> Result<(KeyMaterial, Vec<u8>)> {
    let what = "public key";
    let (tag, body) = unpack_v1(blob, what)?;
    let bad = |msg: String| Error::Format(format!("{what}: {msg}"));
    if tag != TAG_PUBLIC_KEY {
        return Err(bad(format!("expected a public-key packet, got tag {tag}")));
    }
    let (key, pos) = read_public_fields(body, what)?;
    if pos != body.len() {
        return Err(bad("trailing bytes after the key".into()));
    }
    Ok((key, body.to_vec()))
}

/// Reads the fields of a v4 public-key packet body (version, creation time, algorithm, key
/// numbers); returns the numbers and where they end (a secret-key packet continues there).
pub fn read_public_fields(body: &[u8], what: &str) -> Result<(KeyMaterial, usize)> {
    let bad = |msg: String| Error::Format(format!("{what}: {msg}"));
    if body.first() != Some(&4) {
        return Err(bad("only v4 keys are supported".into()));
    }
    let mut pos = 6;
    let key = match body.get(5).copied() {
        Some(ALGO_EDDSA) => {
            let oid_len = usize::from(*body.get(6).ok_or_else(|| bad("truncated".into()))?);
            if body.get(7..7 + oid_len) != Some(&ED25519_OID[..]) {
                return Err(bad("curve is not Ed25519".into()));
            }
            pos = 7 + oid_len;
            let point = read_mpi(body, &mut pos, what)?;
            if point.len() != 33 || point[0] != 0x40 {
                return Err(bad("malformed Ed25519 point".into()));
            }
            let mut out = [0u8; 32];
            out.copy_from_slice(&point[1..]);
            KeyMaterial::Ed25519(out)
        }
        Some(ALGO_RSA) => {
            let n = read_mpi(body, &mut pos, what)?.to_vec();
            let e = read_mpi(body, &mut pos, what)?.to_vec();
            KeyMaterial::Rsa { n, e }
        }
        other => return Err(bad(format!("unsupported public-key algorithm {other:?}"))),
    };
    Ok((key, pos))
}

/// The hashed part of a signature packet: version, type, algorithms, creation time subpacket.
pub fn signature_hashed_part(algorithm: u8, created: u32) -> Vec<u8> {
    let mut part = vec![4, 0x00, algorithm, HASH_SHA512, 0, 6, 5, 2];
    part.extend_from_slice(&created.to_be_bytes());
    part
}

/// The v4 trailer appended after the hashed part when hashing: 0x04 0xFF ‖ length.
pub fn signature_trailer(hashed_part: &[u8]) -> Vec<u8> {
    let mut t = vec![4, 0xFF];
    t.extend_from_slice(&u32::try_from(hashed_part.len()).unwrap_or(0).to_be_bytes());
    t
}

/// Builds the v1 signature blob from its parts; `values` are the algorithm's MPIs (r and s for
/// EdDSA, the signature for RSA). Like snapd's, it names no issuer.
pub fn signature_blob(hashed: &[u8], digest: &[u8], values: &[&[u8]]) -> Vec<u8> {
    let mut body = hashed.to_vec();
    // No unhashed subpackets, as snapd signs: every byte but the values is covered.
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&digest[..2]);
    for v in values {
        push_mpi(&mut body, v);
    }
    let mut blob = vec![V1];
    blob.extend(packet(TAG_SIGNATURE, &body));
    blob
}

/// A parsed signature packet.
#[derive(Debug, Clone)]
pub struct ParsedSignature {
    /// The hashed part (version through hashed subpackets), as signed.
    pub hashed: Vec<u8>,
    /// The issuer key id, when a subpacket names one (snapd's signatures carry none).
    pub issuer: Option<[u8; 8]>,
    /// The left 16 bits of the digest, a quick check.
    pub digest_prefix: [u8; 2],
    /// The public-key algorithm ([`ALGO_EDDSA`] or [`ALGO_RSA`]).
    pub algorithm: u8,
    /// The algorithm's values: r and s for EdDSA, the signature for RSA.
    pub values: Vec<Vec<u8>>,
}

/// Subpacket types snapsmith reads: signature creation time and issuer key id.
const SUB_CREATION_TIME: u8 = 2;
const SUB_ISSUER: u8 = 16;

/// Splits a subpacket area into (type without the critical bit, critical, data).
fn subpackets(area: &[u8]) -> Result<Vec<(u8, bool, &[u8])>> {
    let bad = || Error::Format("signature: malformed subpacket area".into());
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < area.len() {
        let first = usize::from(area[pos]);
        let (len, skip) = match first {
            0..=191 => (first, 1),
            192..=254 => {
                let second = usize::from(*area.get(pos + 1).ok_or_else(bad)?);
                (((first - 192) << 8) + second + 192, 2)
            }
            _ => {
                let b = area.get(pos + 1..pos + 5).ok_or_else(bad)?;
                let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                (usize::try_from(n).map_err(|_| bad())?, 5)
            }
        };
        let body = area.get(pos + skip..pos + skip + len).ok_or_else(bad)?;
        let (&kind, data) = body.split_first().ok_or_else(bad)?;
        out.push((kind & 0x7F, kind & 0x80 != 0, data));
        pos += skip + len;
    }
    Ok(out)
}

/// Reads both subpacket areas as snapd's OpenPGP code does: the hashed area must carry the
/// signature creation time; an issuer key id may be in either area; an unknown subpacket
/// marked critical is refused. Returns the issuer, if any.
///
/// Deliberately stricter than snapd: the unhashed area, which no signature covers, may hold
/// issuer key ids only, so bytes outside the signed data cannot be changed unnoticed.
fn check_subpackets(hashed: &[u8], unhashed: &[u8]) -> Result<Option<[u8; 8]>> {
    let bad = |msg: &str| Error::Format(format!("signature: {msg}"));
    let mut created = false;
    let mut issuer = None;
    for (area, is_hashed) in [(hashed, true), (unhashed, false)] {
        for (kind, critical, data) in subpackets(area)? {
            match (kind, data.len()) {
                (SUB_CREATION_TIME, 4) if is_hashed => created = true,
                (SUB_ISSUER, 8) => {
                    issuer = Some(<[u8; 8]>::try_from(data).map_err(|_| bad("issuer"))?)
                }
                (SUB_CREATION_TIME | SUB_ISSUER, _) => return Err(bad("malformed subpacket")),
                _ if !is_hashed => {
                    return Err(bad(&format!(
                        "unhashed subpacket type {kind}: only issuer ids may be unsigned"
                    )));
                }
                _ if critical => {
                    return Err(bad(&format!("unknown critical subpacket type {kind}")));
                }
                _ => {}
            }
        }
    }
    if !created {
        return Err(bad("no creation time in the hashed subpackets"));
    }
    Ok(issuer)
}

/// The fixed fields of a v4 signature packet: version, type 0x00, EdDSA or RSA, SHA-512.
fn check_signature_head(head: &[u8], bad: &dyn Fn(&str) -> Error) -> Result<()> {
    if head[0] != 4 {
        return Err(bad(&format!(
            "unsupported signature packet version {}",
            head[0]
        )));
    }
    if head[1] != 0 {
        return Err(bad(&format!(
            "signature type {:#04x}, expected 0x00",
            head[1]
        )));
    }
    match head[2] {
        ALGO_EDDSA | ALGO_RSA => {}
        n => {
            return Err(Error::UnsupportedAlgorithm(format!(
                "OpenPGP algorithm {n}"
            )));
        }
    }
    if head[3] != HASH_SHA512 {
        return Err(bad(&format!(
            "hash algorithm {}, expected SHA-512 (10)",
            head[3]
        )));
    }
    Ok(())
}

/// Parses a v1 signature blob (RSA or EdDSA; other algorithms are reported as unsupported).
pub fn parse_signature(blob: &[u8]) -> Result<ParsedSignature> {
    let what = "signature";
    let (tag, body) = unpack_v1(blob, what)?;
    let bad = |msg: &str| Error::Format(format!("{what}: {msg}"));
    if tag != TAG_SIGNATURE {
        return Err(bad(&format!("expected a signature packet, got tag {tag}")));
    }
    let head = body.get(..6).ok_or_else(|| bad("truncated"))?;
    check_signature_head(head, &bad)?;
    let hashed_len = usize::from(u16::from_be_bytes([head[4], head[5]]));
    let hashed = body.get(..6 + hashed_len).ok_or_else(|| bad("truncated"))?;
    let mut pos = 6 + hashed_len;
    let ulen = body.get(pos..pos + 2).ok_or_else(|| bad("truncated"))?;
    let ulen = usize::from(u16::from_be_bytes([ulen[0], ulen[1]]));
    let unhashed = body
        .get(pos + 2..pos + 2 + ulen)
        .ok_or_else(|| bad("truncated"))?;
    let issuer = check_subpackets(&hashed[6..], unhashed)?;
    pos += 2 + ulen;
    let prefix = body.get(pos..pos + 2).ok_or_else(|| bad("truncated"))?;
    let digest_prefix = [prefix[0], prefix[1]];
    pos += 2;
    let count = if head[2] == ALGO_RSA { 1 } else { 2 };
    let mut values = Vec::new();
    for _ in 0..count {
        values.push(read_mpi_loose(body, &mut pos, what)?.to_vec());
    }
    if pos != body.len() {
        return Err(bad("trailing bytes after the signature values"));
    }
    Ok(ParsedSignature {
        hashed: hashed.to_vec(),
        issuer,
        digest_prefix,
        algorithm: head[2],
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_lengths() {
        for len in [0usize, 191, 192, 8383, 8384] {
            let mut blob = vec![V1];
            blob.extend(packet(2, &vec![7u8; len]));
            let (tag, body) = unpack_v1(&blob, "t").unwrap();
            assert_eq!((tag, body.len()), (2, len));
        }
    }

    #[test]
    fn public_key_roundtrip() {
        let point = KeyMaterial::Ed25519([9u8; 32]);
        let blob = public_key_blob(&public_key_body(&point));
        assert_eq!(&blob[..3], &[1, 0xC6, 51]);
        assert_eq!(parse_public_key(&blob).unwrap().0, point);
        let rsa = KeyMaterial::Rsa {
            n: vec![0xC5; 512],
            e: vec![1, 0, 1],
        };
        let blob = public_key_blob(&public_key_body(&rsa));
        assert_eq!(
            blob[9], ALGO_RSA,
            "after 0x01, a two-byte packet length, version and time"
        );
        assert_eq!(parse_public_key(&blob).unwrap().0, rsa);
    }

    #[test]
    fn mpi_strips_leading_zeros() {
        let mut out = Vec::new();
        push_mpi(&mut out, &[0, 0, 1, 0xff]);
        assert_eq!(out, vec![0, 9, 1, 0xff]);
    }
}
