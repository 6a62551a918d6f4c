//! Keys for assertions, RSA (what snapd verifies; 4096 bits for new keys) and Ed25519: the
//! public key in snapd's v1 envelope, its key id (SHA3-384 of the envelope, base64url without
//! padding), and OpenPGP-style signing and verification of an assertion's signed content.
//!
//! As OpenPGP defines for v4 signatures, the key signs the SHA-512 digest of the content followed
//! by the hashed signature fields and the v4 trailer: RSA with PKCS#1 v1.5 padding, Ed25519 over
//! the digest bytes. The signature creation time is an input (the assertion's own time), and
//! both schemes are deterministic, so signing is reproducible.

use super::openpgp::{self, ALGO_EDDSA, ALGO_RSA, KeyMaterial};
use super::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Pkcs1v15Sign};
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};
use sha2::{Digest, Sha512};
use sha3::Sha3_384;

/// Bits of a new RSA key: snapd signs only with keys of at least 4096 bits.
pub const RSA_BITS: usize = 4096;
/// RSA modulus sizes accepted when verifying.
const RSA_VERIFY_BITS: std::ops::RangeInclusive<usize> = 2048..=16384;

/// The signature algorithms snapsmith signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// RSA with PKCS#1 v1.5 and SHA-512, what snapd accepts.
    #[default]
    Rsa,
    Ed25519,
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        })
    }
}

/// A public key as carried in account-key bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: Key,
    /// The OpenPGP public-key packet body, as carried (its creation time included): the key id
    /// and the issuer id are computed over it.
    body: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    Ed25519(VerifyingKey),
    Rsa(Box<RsaPublicKey>),
}

fn rsa_material(key: &RsaPublicKey) -> KeyMaterial {
    let trim = |b: Box<[u8]>| {
        let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        b[start..].to_vec()
    };
    KeyMaterial::Rsa {
        n: trim(key.n().to_be_bytes()),
        e: trim(key.e().to_be_bytes()),
    }
}

pub(super) fn uint(bytes: &[u8]) -> Result<BoxedUint> {
    let bits = u32::try_from(bytes.len() * 8)
        .map_err(|_| Error::Format("public key: RSA number too large".into()))?;
    BoxedUint::from_be_slice(bytes, bits.max(64))
        .map_err(|e| Error::Format(format!("public key: bad RSA number: {e}")))
}

impl PublicKey {
    /// Decodes the base64 body of an account-key (a v1 public-key blob).
    pub fn from_body(body: &[u8]) -> Result<PublicKey> {
        let blob = openpgp::unwrap_base64(body, "public key")?;
        let (material, body) = openpgp::parse_public_key(&blob)?;
        Ok(PublicKey {
            key: Key::from_material(&material)?,
            body,
        })
    }

    /// The public key with these numbers, in a packet with snapd's fixed creation time (as
    /// snapd normalizes a key it imports from GnuPG).
    pub fn from_material(material: &KeyMaterial) -> Result<PublicKey> {
        Ok(PublicKey::new(Key::from_material(material)?))
    }

    /// A new key's public half, in a packet with snapd's fixed creation time.
    fn new(key: Key) -> PublicKey {
        let body = openpgp::public_key_body(&key.material());
        PublicKey { key, body }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            Key::Ed25519(_) => Algorithm::Ed25519,
            Key::Rsa(_) => Algorithm::Rsa,
        }
    }

    /// The key's numbers, as its OpenPGP packet carries them.
    pub fn material(&self) -> KeyMaterial {
        self.key.material()
    }

    /// The v1 blob: 0x01 ‖ OpenPGP public-key packet.
    pub fn blob(&self) -> Vec<u8> {
        openpgp::public_key_blob(&self.body)
    }

    /// The account-key body: the blob as base64 wrapped at 76 columns.
    pub fn encode_body(&self) -> String {
        openpgp::wrap_base64(&self.blob())
    }

    /// The key id: SHA3-384 of the v1 blob, base64url without padding (64 characters).
    pub fn id(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha3_384::digest(self.blob()))
    }

    /// Checks a v1 signature blob (base64 text) over `content`. As in snapd, an issuer the
    /// signature may name is not compared: snapd stores keys re-encoded with a fixed creation
    /// time, so the fingerprint of the key that signed (GnuPG's) is not this key's.
    pub fn verify(&self, content: &[u8], signature_text: &[u8]) -> Result<()> {
        let blob = openpgp::unwrap_base64(signature_text, "signature")?;
        let parsed = openpgp::parse_signature(&blob)?;
        let bad = |msg: &str| Error::BadSignature(msg.into());
        let digest = signed_digest(content, &parsed.hashed);
        if digest[..2] != parsed.digest_prefix {
            return Err(bad("digest does not match the signed content"));
        }
        match (&self.key, parsed.algorithm, parsed.values.as_slice()) {
            (Key::Ed25519(key), ALGO_EDDSA, [r, s]) if r.len() <= 32 && s.len() <= 32 => {
                let mut sig = [0u8; 64];
                sig[32 - r.len()..32].copy_from_slice(r);
                sig[64 - s.len()..].copy_from_slice(s);
                key.verify_strict(&digest, &Signature::from_bytes(&sig))
                    .map_err(|_| bad("Ed25519 verification failed"))
            }
            (Key::Rsa(key), ALGO_RSA, [sig]) => {
                // The value may be shorter than the modulus (leading zeros dropped) or, as Go
                // writes it, exactly as long: compare at the modulus' length.
                let size = key.size();
                let start = sig.iter().position(|b| *b != 0).unwrap_or(sig.len());
                let value = &sig[start..];
                if value.len() > size {
                    return Err(bad("RSA signature longer than the key"));
                }
                let mut padded = vec![0u8; size - value.len()];
                padded.extend_from_slice(value);
                key.verify(Pkcs1v15Sign::new::<Sha512>(), &digest, &padded)
                    .map_err(|_| bad("RSA verification failed"))
            }
            _ => Err(bad("the signature's algorithm is not this key's")),
        }
    }
}

impl Key {
    fn from_material(material: &KeyMaterial) -> Result<Key> {
        match material {
            KeyMaterial::Ed25519(point) => VerifyingKey::from_bytes(point)
                .map(Key::Ed25519)
                .map_err(|e| Error::Format(format!("public key: invalid Ed25519 point: {e}"))),
            KeyMaterial::Rsa { n, e } => {
                RsaPublicKey::new_with_size_limits(uint(n)?, uint(e)?, RSA_VERIFY_BITS)
                    .map(|k| Key::Rsa(Box::new(k)))
                    .map_err(|e| Error::Format(format!("public key: invalid RSA key: {e}")))
            }
        }
    }

    fn material(&self) -> KeyMaterial {
        match self {
            Key::Ed25519(k) => KeyMaterial::Ed25519(k.to_bytes()),
            Key::Rsa(k) => rsa_material(k),
        }
    }
}

/// SHA-512 over content ‖ hashed part ‖ v4 trailer.
fn signed_digest(content: &[u8], hashed: &[u8]) -> Vec<u8> {
    let mut h = Sha512::new();
    h.update(content);
    h.update(hashed);
    h.update(openpgp::signature_trailer(hashed));
    h.finalize().to_vec()
}

/// A private key.
pub enum PrivateKey {
    Ed25519(Box<SigningKey>),
    Rsa(Box<RsaPrivateKey>),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({} {})", self.algorithm(), self.public().id())
    }
}

impl PrivateKey {
    /// A new key from the operating system's random source (RSA: 4096 bits, slow).
    pub fn generate(algorithm: Algorithm) -> Result<PrivateKey> {
        let no_rng = |e: &dyn std::fmt::Display| Error::Format(format!("no new key: {e}"));
        match algorithm {
            Algorithm::Ed25519 => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| no_rng(&e))?;
                Ok(PrivateKey::from_seed(seed))
            }
            Algorithm::Rsa => RsaPrivateKey::new(&mut getrandom::SysRng, RSA_BITS)
                .map(|k| PrivateKey::Rsa(Box::new(k)))
                .map_err(|e| no_rng(&e)),
        }
    }

    /// The Ed25519 key with this 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> PrivateKey {
        PrivateKey::Ed25519(Box::new(SigningKey::from_bytes(&seed)))
    }

    /// An RSA key from its PKCS#8 DER encoding.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey> {
        use rsa::pkcs8::DecodePrivateKey;
        RsaPrivateKey::from_pkcs8_der(der)
            .map(|k| PrivateKey::Rsa(Box::new(k)))
            .map_err(|e| Error::Format(format!("RSA private key: {e}")))
    }

    /// The RSA key's PKCS#8 DER encoding (`None` for Ed25519 keys).
    pub fn to_pkcs8_der(&self) -> Result<Option<Vec<u8>>> {
        use rsa::pkcs8::EncodePrivateKey;
        match self {
            PrivateKey::Ed25519(_) => Ok(None),
            PrivateKey::Rsa(k) => k
                .to_pkcs8_der()
                .map(|d| Some(d.as_bytes().to_vec()))
                .map_err(|e| Error::Format(format!("encoding the RSA key: {e}"))),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            PrivateKey::Ed25519(_) => Algorithm::Ed25519,
            PrivateKey::Rsa(_) => Algorithm::Rsa,
        }
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        match self {
            PrivateKey::Ed25519(k) => PublicKey::new(Key::Ed25519(k.verifying_key())),
            PrivateKey::Rsa(k) => PublicKey::new(Key::Rsa(Box::new(k.to_public_key()))),
        }
    }

    /// Refuses an RSA key shorter than [`RSA_BITS`], as snapd refuses to sign with one.
    pub fn check_signing_size(&self) -> Result<()> {
        match self {
            PrivateKey::Rsa(key) if key.n().bit_width() < RSA_BITS as u32 => {
                Err(Error::Format(format!(
                    "signing needs an RSA key of at least {RSA_BITS} bits, this one has {}",
                    key.n().bit_width()
                )))
            }
            _ => Ok(()),
        }
    }

    /// Signs `content`; returns the v1 signature blob as wrapped base64. `created` is the
    /// OpenPGP signature creation time in seconds since the epoch.
    pub fn sign(&self, content: &[u8], created: u32) -> Result<String> {
        self.check_signing_size()?;
        let public = self.public();
        let hashed = openpgp::signature_hashed_part(public.material().algorithm(), created);
        let digest = signed_digest(content, &hashed);
        let blob = match self {
            PrivateKey::Ed25519(key) => {
                let sig = key.sign(&digest).to_bytes();
                openpgp::signature_blob(&hashed, &digest, &[&sig[..32], &sig[32..]])
            }
            PrivateKey::Rsa(key) => {
                let sig = key
                    .sign(Pkcs1v15Sign::new::<Sha512>(), &digest)
                    .map_err(|e| Error::Format(format!("RSA signing failed: {e}")))?;
                openpgp::signature_blob(&hashed, &digest, &[&sig])
            }
        };
        Ok(openpgp::wrap_base64(&blob))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_keys_shorter_than_4096_bits_do_not_sign() {
        let short = RsaPrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
        let key = PrivateKey::Rsa(Box::new(short));
        let err = key.sign(b"content", 0).unwrap_err().to_string();
        assert!(
            err.contains("at least 4096 bits, this one has 2048"),
            "{err}"
        );
    }

    /// A fixed RSA-4096 test key (generating one per test run is slow).
    pub(crate) fn rsa_test_key() -> PrivateKey {
        let der = base64::engine::general_purpose::STANDARD
            .decode(include_str!("testdata/rsa4096.pkcs8.b64").replace('\n', ""))
            .unwrap();
        PrivateKey::from_pkcs8_der(&der).unwrap()
    }

    fn sign_verify_and_tamper(key: &PrivateKey, other: &PrivateKey) {
        let sig = key.sign(b"hello", 1_700_000_000).unwrap();
        assert_eq!(
            sig,
            key.sign(b"hello", 1_700_000_000).unwrap(),
            "deterministic"
        );
        key.public().verify(b"hello", sig.as_bytes()).unwrap();
        assert!(key.public().verify(b"hellp", sig.as_bytes()).is_err());
        assert!(other.public().verify(b"hello", sig.as_bytes()).is_err());
    }

    #[test]
    fn ed25519_sign_verify_and_tamper() {
        let key = PrivateKey::from_seed([7u8; 32]);
        sign_verify_and_tamper(&key, &PrivateKey::from_seed([8u8; 32]));
        sign_verify_and_tamper(&key, &rsa_test_key());
    }

    #[test]
    fn rsa_sign_verify_and_tamper() {
        let key = rsa_test_key();
        sign_verify_and_tamper(&key, &PrivateKey::from_seed([8u8; 32]));
        let sig = openpgp::unwrap_base64(key.sign(b"x", 1).unwrap().as_bytes(), "s").unwrap();
        // 0x01, new-format signature packet, v4, type 0, RSA, SHA-512 (as snapd's).
        assert_eq!(sig[0], 1);
        let body = openpgp::unpack_v1(&sig, "s").unwrap().1;
        assert_eq!(&body[..4], &[4, 0, ALGO_RSA, openpgp::HASH_SHA512]);
    }

    #[test]
    fn key_id_and_body_roundtrip() {
        for key in [
            PrivateKey::from_seed([1u8; 32]).public(),
            rsa_test_key().public(),
        ] {
            assert_eq!(key.id().len(), 64);
            let back = PublicKey::from_body(key.encode_body().as_bytes()).unwrap();
            assert_eq!(back, key);
        }
    }
}
