//! OpenPGP string-to-key (RFC 4880 §3.7) and the CFB encryption of secret-key material
//! (§5.5.3): what turns a passphrase into the AES key that protects a secret-key packet, as
//! GnuPG writes it (`gpg --export-secret-keys`) and as the keyring stores protected keys.
//!
//! Supported: S2K types simple (0), salted (1) and iterated and salted (3); hashes SHA-1,
//! SHA-224/256/384/512; ciphers AES-128/192/256 in OpenPGP's plain CFB mode.

use super::{Error, Result};
use cfb_mode::cipher::{KeyIvInit, common::InvalidLength};
use sha2::digest::DynDigest;

/// OpenPGP symmetric algorithm number of AES-256.
pub const CIPHER_AES256: u8 = 9;
/// OpenPGP hash algorithm number of SHA-256.
pub const HASH_SHA256: u8 = 8;
/// S2K type "iterated and salted".
pub const S2K_ITERATED: u8 = 3;
/// GnuPG's private S2K type for a key whose secret part is absent (a stub).
const S2K_GNU: u8 = 101;

/// A parsed S2K specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S2k {
    kind: u8,
    hash: u8,
    salt: Option<[u8; 8]>,
    count: usize,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Format(format!("secret key: {}", msg.into()))
}

/// Bytes hashed by an iterated S2K with the coded count `c`.
fn decode_count(c: u8) -> usize {
    (16 + usize::from(c & 15)) << ((c >> 4) + 6)
}

impl S2k {
    /// Iterated and salted SHA-256 with `salt`, hashing 32 MiB (coded count 0xF0).
    pub fn iterated(salt: [u8; 8]) -> S2k {
        S2k {
            kind: S2K_ITERATED,
            hash: HASH_SHA256,
            salt: Some(salt),
            count: decode_count(0xF0),
        }
    }

    /// Reads a specifier at `*pos`, advancing it.
    pub fn read(data: &[u8], pos: &mut usize) -> Result<S2k> {
        let byte = |at: usize| data.get(at).copied().ok_or_else(|| bad("truncated S2K"));
        let kind = byte(*pos)?;
        if kind == S2K_GNU {
            return Err(bad(
                "the export holds no secret key material (a GnuPG stub: the key is on a \
                 smartcard, or only subkeys were exported)",
            ));
        }
        let hash = byte(*pos + 1)?;
        let salt = |at: usize| -> Result<[u8; 8]> {
            data.get(at..at + 8)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .ok_or_else(|| bad("truncated S2K salt"))
        };
        let (s2k, len) = match kind {
            0 => ((None, 0), 2),
            1 => ((Some(salt(*pos + 2)?), 0), 10),
            S2K_ITERATED => ((Some(salt(*pos + 2)?), decode_count(byte(*pos + 10)?)), 11),
            other => return Err(bad(format!("unsupported S2K type {other}"))),
        };
        *pos += len;
        Ok(S2k {
            kind,
            hash,
            salt: s2k.0,
            count: s2k.1,
        })
    }

    /// The specifier's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.kind, self.hash];
        out.extend(self.salt.iter().flatten());
        if self.kind == S2K_ITERATED {
            let code = (0..=255u8).find(|c| decode_count(*c) >= self.count);
            out.push(code.unwrap_or(255));
        }
        out
    }

    /// Derives a `len`-byte key from `passphrase`: as many hash contexts as needed, the i-th
    /// preloaded with i zero bytes, each hashing salt ‖ passphrase repeated to the count.
    pub fn derive(&self, passphrase: &[u8], len: usize) -> Result<Vec<u8>> {
        let mut data = self.salt.map(|s| s.to_vec()).unwrap_or_default();
        data.extend_from_slice(passphrase);
        let total = self.count.max(data.len());
        let mut key = Vec::with_capacity(len);
        let mut preload = 0;
        while key.len() < len {
            let mut h = hasher(self.hash)?;
            h.update(&vec![0u8; preload]);
            if self.kind == S2K_ITERATED {
                let mut left = total;
                while left > 0 {
                    let n = left.min(data.len());
                    h.update(&data[..n]);
                    left -= n;
                }
            } else {
                h.update(&data);
            }
            key.extend_from_slice(&h.finalize());
            preload += 1;
        }
        key.truncate(len);
        Ok(key)
    }
}

fn hasher(algo: u8) -> Result<Box<dyn DynDigest>> {
    Ok(match algo {
        2 => Box::new(sha1::Sha1::default()),
        8 => Box::new(sha2::Sha256::default()),
        9 => Box::new(sha2::Sha384::default()),
        10 => Box::new(sha2::Sha512::default()),
        11 => Box::new(sha2::Sha224::default()),
        other => return Err(bad(format!("unsupported S2K hash algorithm {other}"))),
    })
}

/// SHA-1 of `data` (the check value of S2K usage 254).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(data).into()
}

/// Key length in bytes of an OpenPGP symmetric algorithm snapsmith decrypts with (all AES, so
/// the block and IV are 16 bytes).
pub fn key_len(cipher: u8) -> Result<usize> {
    match cipher {
        7 => Ok(16),
        8 => Ok(24),
        9 => Ok(32),
        other => Err(bad(format!(
            "unsupported cipher {other} protecting the key (AES is supported)"
        ))),
    }
}

/// Block (and IV) size of the supported ciphers.
pub const BLOCK: usize = 16;

fn invalid(_: InvalidLength) -> Error {
    bad("bad key or IV length")
}

/// Decrypts (or, with `encrypt`, encrypts) `buf` in place with `cipher` in CFB mode.
pub fn cfb(cipher: u8, key: &[u8], iv: &[u8], buf: &mut [u8], encrypt: bool) -> Result<()> {
    macro_rules! run {
        ($aes:ty) => {
            if encrypt {
                cfb_mode::Encryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(invalid)?
                    .encrypt(buf)
            } else {
                cfb_mode::Decryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(invalid)?
                    .decrypt(buf)
            }
        };
    }
    match cipher {
        7 => run!(aes::Aes128),
        8 => run!(aes::Aes192),
        9 => run!(aes::Aes256),
        other => return Err(bad(format!("unsupported cipher {other}"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_decode_as_rfc_4880_says() {
        assert_eq!(decode_count(0), 1024);
        assert_eq!(decode_count(0x60), 65536);
        assert_eq!(decode_count(0xFF), 65_011_712);
        let s = S2k::iterated([7; 8]);
        let bytes = s.encode();
        assert_eq!(bytes, [3, 8, 7, 7, 7, 7, 7, 7, 7, 7, 0xF0]);
        assert_eq!(S2k::read(&bytes, &mut 0).unwrap(), s);
    }

    #[test]
    fn keys_longer_than_the_hash_use_preloaded_contexts() {
        let s = S2k::read(&[1, 2, 1, 2, 3, 4, 5, 6, 7, 8], &mut 0).unwrap();
        let long = s.derive(b"pw", 32).unwrap();
        // The first 20 bytes are SHA-1(salt ‖ pw), the rest SHA-1(0 ‖ salt ‖ pw).
        assert_eq!(long[..20], sha1(b"\x01\x02\x03\x04\x05\x06\x07\x08pw"));
        assert_eq!(
            long[20..],
            sha1(b"\0\x01\x02\x03\x04\x05\x06\x07\x08pw")[..12]
        );
    }

    #[test]
    fn cfb_round_trips_and_depends_on_the_key() {
        let (key, iv) = ([1u8; 32], [2u8; 16]);
        let mut buf = b"secret numbers of a key".to_vec();
        cfb(9, &key, &iv, &mut buf, true).unwrap();
        assert_ne!(&buf[..], b"secret numbers of a key");
        let mut wrong = buf.clone();
        cfb(9, &[3u8; 32], &iv, &mut wrong, false).unwrap();
        assert_ne!(&wrong[..], b"secret numbers of a key");
        cfb(9, &key, &iv, &mut buf, false).unwrap();
        assert_eq!(&buf[..], b"secret numbers of a key");
    }
}
