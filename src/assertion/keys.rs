//! Ed25519 keys for assertions: the public key in snapd's v1 envelope, its key id
//! (SHA3-384 of the envelope, base64url without padding), and OpenPGP-style signing and
//! verification of an assertion's signed content.
//!
//! As OpenPGP defines for v4 signatures, Ed25519 signs the SHA-512 digest of the content followed
//! by the hashed signature fields and the v4 trailer. The signature creation time is an input
//! (the assertion's own time), so signing is reproducible.

use super::openpgp;
use super::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha512};
use sha3::Sha3_384;

/// An Ed25519 public key as carried in account-key bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl PublicKey {
    /// Decodes the base64 body of an account-key (a v1 public-key blob).
    pub fn from_body(body: &[u8]) -> Result<PublicKey> {
        let blob = openpgp::unwrap_base64(body, "public key")?;
        let point = openpgp::parse_public_key(&blob)?;
        let key = VerifyingKey::from_bytes(&point)
            .map_err(|e| Error::Format(format!("public key: invalid Ed25519 point: {e}")))?;
        Ok(PublicKey { key })
    }

    /// The v1 blob: 0x01 ‖ OpenPGP public-key packet.
    pub fn blob(&self) -> Vec<u8> {
        openpgp::public_key_blob(self.key.as_bytes())
    }

    /// The account-key body: the blob as base64 wrapped at 76 columns.
    pub fn encode_body(&self) -> String {
        openpgp::wrap_base64(&self.blob())
    }

    /// The key id: SHA3-384 of the v1 blob, base64url without padding (64 characters).
    pub fn id(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha3_384::digest(self.blob()))
    }

    /// Checks a v1 signature blob (base64 text) over `content`.
    pub fn verify(&self, content: &[u8], signature_text: &[u8]) -> Result<()> {
        let blob = openpgp::unwrap_base64(signature_text, "signature")?;
        let parsed = openpgp::parse_signature(&blob)?;
        if parsed.issuer != openpgp::issuer_key_id(self.key.as_bytes()) {
            return Err(Error::BadSignature(
                "the signature's issuer is not this key".into(),
            ));
        }
        let digest = signed_digest(content, &parsed.hashed);
        if digest[..2] != parsed.digest_prefix {
            return Err(Error::BadSignature(
                "digest does not match the signed content".into(),
            ));
        }
        let sig = Signature::from_bytes(&parsed.signature);
        self.key
            .verify(&digest, &sig)
            .map_err(|_| Error::BadSignature("Ed25519 verification failed".into()))
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

/// An Ed25519 private key.
pub struct PrivateKey {
    key: SigningKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.public().id())
    }
}

impl PrivateKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<PrivateKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::Format(format!("no randomness for a new key: {e}")))?;
        Ok(PrivateKey::from_seed(seed))
    }

    /// The key with this 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> PrivateKey {
        PrivateKey {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte secret seed.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
        }
    }

    /// Signs `content`; returns the v1 signature blob as wrapped base64. `created` is the
    /// OpenPGP signature creation time in seconds since the epoch.
    pub fn sign(&self, content: &[u8], created: u32) -> String {
        let hashed = openpgp::signature_hashed_part(created);
        let digest = signed_digest(content, &hashed);
        let sig = self.key.sign(&digest).to_bytes();
        let point = self.key.verifying_key().to_bytes();
        let issuer = openpgp::issuer_key_id(&point);
        openpgp::wrap_base64(&openpgp::signature_blob(&hashed, &issuer, &digest, &sig))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_tamper() {
        let key = PrivateKey::from_seed([7u8; 32]);
        let sig = key.sign(b"hello", 1_700_000_000);
        assert_eq!(
            sig,
            key.sign(b"hello", 1_700_000_000),
            "signing is deterministic"
        );
        key.public().verify(b"hello", sig.as_bytes()).unwrap();
        assert!(key.public().verify(b"hellp", sig.as_bytes()).is_err());
        let other = PrivateKey::from_seed([8u8; 32]);
        assert!(other.public().verify(b"hello", sig.as_bytes()).is_err());
    }

    #[test]
    fn key_id_and_body_roundtrip() {
        let key = PrivateKey::from_seed([1u8; 32]).public();
        assert_eq!(key.id().len(), 64);
        let back = PublicKey::from_body(key.encode_body().as_bytes()).unwrap();
        assert_eq!(back, key);
    }
}
