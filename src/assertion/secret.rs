//! OpenPGP secret keys: reading the primary secret-key packet of a GnuPG export
//! (`gpg --export-secret-keys [--armor]`, ASCII-armored or binary), unlocking it with its
//! passphrase when it is protected, and writing a passphrase-protected packet for the keyring.
//!
//! Only the key numbers are taken from the export: the public key snapsmith derives carries
//! snapd's fixed creation time (2016-01-01), so the key id is the one snapd computes for the
//! same key. RSA (algorithm 1) and Ed25519 (EdDSA, algorithm 22) keys are read. Protection is
//! S2K usage 254 (SHA-1 check, what GnuPG writes) or 255 (16-bit checksum) with AES in CFB mode.

use super::keys::{PrivateKey, PublicKey, uint};
use super::openpgp::{self, KeyMaterial};
use super::s2k::{self, S2k};
use super::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::traits::PrivateKeyParts;

const TAG_SECRET_KEY: u8 = 5;
const USAGE_SHA1: u8 = 254;
const USAGE_CHECKSUM: u8 = 255;

fn bad(msg: impl Into<String>) -> Error {
    Error::Format(format!("secret key: {}", msg.into()))
}

/// A v4 secret-key packet: its body, and the public key numbers it starts with.
#[derive(Debug, Clone)]
pub struct SecretPacket {
    body: Vec<u8>,
    material: KeyMaterial,
    /// Offset of the S2K usage byte, right after the public fields.
    secret_at: usize,
}

/// Reads the one primary secret key of a GnuPG export (armored or binary).
pub fn read_export(data: &[u8]) -> Result<SecretPacket> {
    let binary = if data.trim_ascii_start().starts_with(b"-----BEGIN PGP") {
        dearmor(data)?
    } else {
        data.to_vec()
    };
    let secret: Vec<&[u8]> = packets(&binary)?
        .into_iter()
        .filter(|(tag, _)| *tag == TAG_SECRET_KEY)
        .map(|(_, body)| body)
        .collect();
    match secret.as_slice() {
        [one] => SecretPacket::from_body(one.to_vec()),
        [] => Err(bad(
            "no secret-key packet (is this a public key? export with gpg --export-secret-keys)",
        )),
        many => Err(bad(format!(
            "{} primary secret keys; export one key (gpg --export-secret-keys NAME)",
            many.len()
        ))),
    }
}

/// The OpenPGP packets of a binary stream (old and new header formats): (tag, body).
fn packets(data: &[u8]) -> Result<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let trunc = || bad("truncated OpenPGP packet");
    let be = |b: &[u8]| b.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
    while pos < data.len() {
        let ctb = data[pos];
        if ctb & 0x80 == 0 {
            return Err(bad(format!("not an OpenPGP packet at byte {pos}")));
        }
        let (tag, len, head) = if ctb & 0x40 != 0 {
            let first = *data.get(pos + 1).ok_or_else(trunc)?;
            let (len, n) = match first {
                0..=191 => (usize::from(first), 1),
                192..=223 => {
                    let second = *data.get(pos + 2).ok_or_else(trunc)?;
                    (
                        ((usize::from(first) - 192) << 8) + usize::from(second) + 192,
                        2,
                    )
                }
                255 => (be(data.get(pos + 2..pos + 6).ok_or_else(trunc)?), 5),
                _ => return Err(bad("partial-length packets are not supported")),
            };
            (ctb & 0x3F, len, 1 + n)
        } else {
            let n = match ctb & 3 {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => return Err(bad("indeterminate-length packets are not supported")),
            };
            let len = be(data.get(pos + 1..pos + 1 + n).ok_or_else(trunc)?);
            ((ctb >> 2) & 0x0F, len, 1 + n)
        };
        let body = data.get(pos + head..pos + head + len).ok_or_else(trunc)?;
        out.push((tag, body));
        pos += head + len;
    }
    Ok(out)
}

/// The binary data of an ASCII-armored block, its CRC-24 checked when present.
fn dearmor(data: &[u8]) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(data).map_err(|_| bad("armor is not UTF-8 text"))?;
    let mut lines = text.lines().map(str::trim_end);
    let begin = lines
        .find(|l| l.starts_with("-----BEGIN PGP"))
        .unwrap_or_default();
    if begin != "-----BEGIN PGP PRIVATE KEY BLOCK-----" {
        return Err(bad(format!(
            "armor {begin:?} is not a private key block (export with gpg --export-secret-keys)"
        )));
    }
    // Armor headers ("Comment: …") end at the first empty line.
    let mut lines = lines.skip_while(|l| !l.is_empty()).skip(1);
    let (mut b64, mut crc) = (String::new(), None);
    for line in lines.by_ref() {
        if line.starts_with("-----END") {
            break;
        } else if let Some(sum) = line.strip_prefix('=') {
            crc = Some(sum.to_string());
        } else {
            b64.push_str(line);
        }
    }
    let binary = STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| bad(format!("armor: bad base64: {e}")))?;
    if let Some(sum) = crc {
        let want = STANDARD
            .decode(sum.as_bytes())
            .map_err(|e| bad(format!("armor checksum: bad base64: {e}")))?;
        if want != crc24(&binary).to_be_bytes()[1..] {
            return Err(bad("armor checksum (CRC-24) does not match the data"));
        }
    }
    Ok(binary)
}

/// OpenPGP's CRC-24 (RFC 4880 §6.1).
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xB7_04CE;
    for b in data {
        crc ^= u32::from(*b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x100_0000 != 0 {
                crc ^= 0x186_4CFB;
            }
        }
    }
    crc & 0xFF_FFFF
}

/// Sum of the bytes modulo 65536 (the check value of S2K usage 255 and of plain keys).
fn checksum(data: &[u8]) -> [u8; 2] {
    let sum = data
        .iter()
        .fold(0u16, |acc, b| acc.wrapping_add(u16::from(*b)));
    sum.to_be_bytes()
}

impl SecretPacket {
    /// Parses a secret-key packet body.
    pub fn from_body(body: Vec<u8>) -> Result<SecretPacket> {
        let (material, secret_at) = openpgp::read_public_fields(&body, "secret key")?;
        let packet = SecretPacket {
            body,
            material,
            secret_at,
        };
        packet.usage()?;
        Ok(packet)
    }

    /// The packet body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    fn usage(&self) -> Result<u8> {
        match self.body.get(self.secret_at).copied() {
            Some(u @ (0 | USAGE_SHA1 | USAGE_CHECKSUM)) => Ok(u),
            Some(u) => Err(bad(format!("unsupported S2K usage {u}"))),
            None => Err(bad("truncated before its secret part")),
        }
    }

    /// The public key, with snapd's fixed creation time whatever time the packet carries.
    pub fn public(&self) -> Result<PublicKey> {
        PublicKey::from_material(&self.material)
    }

    /// Whether a passphrase is needed to unlock the key.
    pub fn is_protected(&self) -> bool {
        self.usage().is_ok_and(|u| u != 0)
    }

    /// The private key; `passphrase` is needed when the packet is protected.
    pub fn unlock(&self, passphrase: Option<&[u8]>) -> Result<PrivateKey> {
        let usage = self.usage()?;
        let rest = &self.body[self.secret_at + 1..];
        let plain = if usage == 0 {
            rest.to_vec()
        } else {
            let passphrase = passphrase.ok_or_else(|| bad("passphrase-protected"))?;
            let cipher = *rest.first().ok_or_else(|| bad("truncated"))?;
            let mut pos = 1;
            let spec = S2k::read(rest, &mut pos)?;
            let iv = rest
                .get(pos..pos + s2k::BLOCK)
                .ok_or_else(|| bad("truncated IV"))?;
            let key = spec.derive(passphrase, s2k::key_len(cipher)?)?;
            let mut data = rest[pos + s2k::BLOCK..].to_vec();
            s2k::cfb(cipher, &key, iv, &mut data, false)?;
            data
        };
        let check_len = if usage == USAGE_SHA1 { 20 } else { 2 };
        let split = plain
            .len()
            .checked_sub(check_len)
            .ok_or_else(|| bad("truncated secret part"))?;
        let (mpis, check) = plain.split_at(split);
        let ok = if usage == USAGE_SHA1 {
            s2k::sha1(mpis)[..] == *check
        } else {
            checksum(mpis)[..] == *check
        };
        if !ok {
            return Err(bad(if usage == 0 {
                "the checksum of the secret numbers does not match"
            } else {
                "wrong passphrase (the decrypted key fails its check)"
            }));
        }
        self.private_key(mpis)
    }

    fn private_key(&self, mpis: &[u8]) -> Result<PrivateKey> {
        let mut pos = 0;
        let mut next = || openpgp::read_mpi(mpis, &mut pos, "secret key");
        let key = match &self.material {
            KeyMaterial::Rsa { n, e } => {
                let (d, p, q) = (next()?, next()?, next()?);
                next()?; // u = p⁻¹ mod q, recomputed by the rsa crate
                let key = rsa::PrivateKey::from_components(
                    uint(n)?,
                    uint(e)?,
                    uint(d)?,
                    vec![uint(p)?, uint(q)?],
                )
                .map_err(|e| bad(format!("invalid RSA key: {e}")))?;
                PrivateKey::Rsa(Box::new(key))
            }
            KeyMaterial::Ed25519(point) => {
                let scalar = next()?;
                if scalar.len() > 32 {
                    return Err(bad("Ed25519 secret longer than 32 bytes"));
                }
                let mut seed = [0u8; 32];
                seed[32 - scalar.len()..].copy_from_slice(scalar);
                let key = PrivateKey::from_seed(seed);
                if key.public().material() != KeyMaterial::Ed25519(*point) {
                    return Err(bad("the Ed25519 secret does not match the public key"));
                }
                key
            }
        };
        if pos != mpis.len() {
            return Err(bad("trailing bytes after the secret numbers"));
        }
        Ok(key)
    }
}

/// The secret numbers of `key` as OpenPGP MPIs: RSA d, p, q, u (p⁻¹ mod q), Ed25519 the seed.
fn secret_mpis(key: &PrivateKey) -> Vec<u8> {
    let mut out = Vec::new();
    match key {
        PrivateKey::Rsa(k) => {
            // OpenPGP's u is p⁻¹ mod q; the rsa crate keeps q⁻¹ mod p, so p and q swap places.
            let primes = k.primes();
            let qinv = k.qinv().map(|m| m.retrieve().to_be_bytes());
            openpgp::push_mpi(&mut out, &k.d().to_be_bytes());
            openpgp::push_mpi(&mut out, &primes[1].to_be_bytes());
            openpgp::push_mpi(&mut out, &primes[0].to_be_bytes());
            openpgp::push_mpi(&mut out, &qinv.unwrap_or_default());
        }
        PrivateKey::Ed25519(k) => openpgp::push_mpi(&mut out, &k.to_bytes()),
    }
    out
}

/// A passphrase-protected v4 secret-key packet body for `key` (snapd's fixed creation time;
/// S2K usage 254, AES-256, iterated and salted SHA-256 with a random salt and IV).
pub fn protect(key: &PrivateKey, passphrase: &[u8]) -> Result<SecretPacket> {
    let mut random = [0u8; 8 + s2k::BLOCK];
    getrandom::fill(&mut random).map_err(|e| bad(format!("no random salt: {e}")))?;
    let (salt, iv) = random.split_at(8);
    let spec = S2k::iterated(salt.try_into().unwrap_or_default());
    let mut data = secret_mpis(key);
    let check = s2k::sha1(&data);
    data.extend_from_slice(&check);
    let aes = spec.derive(passphrase, s2k::key_len(s2k::CIPHER_AES256)?)?;
    s2k::cfb(s2k::CIPHER_AES256, &aes, iv, &mut data, true)?;
    let mut body = openpgp::public_key_body(&key.public().material());
    body.extend([USAGE_SHA1, s2k::CIPHER_AES256]);
    body.extend(spec.encode());
    body.extend_from_slice(iv);
    body.extend(data);
    SecretPacket::from_body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc24_of_rfc_4880_examples() {
        assert_eq!(crc24(b""), 0xB7_04CE);
        assert_eq!(crc24(b"123456789"), 0x21_CF02);
    }

    #[test]
    fn protected_ed25519_keys_unlock_only_with_their_passphrase() {
        let key = PrivateKey::from_seed([9; 32]);
        let packet = protect(&key, b"correct horse").unwrap();
        assert!(packet.is_protected());
        let back = SecretPacket::from_body(packet.body().to_vec()).unwrap();
        let unlocked = back.unlock(Some(b"correct horse")).unwrap();
        assert_eq!(unlocked.public(), key.public());
        let wrong = back.unlock(Some(b"battery staple")).unwrap_err();
        assert!(wrong.to_string().contains("wrong passphrase"), "{wrong}");
        let none = back.unlock(None).unwrap_err();
        assert!(none.to_string().contains("passphrase-protected"), "{none}");
    }

    #[test]
    fn protected_rsa_keys_round_trip() {
        let der = STANDARD
            .decode(include_str!("testdata/rsa4096.pkcs8.b64").replace('\n', ""))
            .unwrap();
        let key = PrivateKey::from_pkcs8_der(&der).unwrap();
        let packet = protect(&key, b"pw").unwrap();
        let back = SecretPacket::from_body(packet.body().to_vec()).unwrap();
        let unlocked = back.unlock(Some(b"pw")).unwrap();
        assert_eq!(unlocked.public(), key.public());
        let sig = unlocked.sign(b"content", 1).unwrap();
        key.public().verify(b"content", sig.as_bytes()).unwrap();
    }

    #[test]
    fn old_and_new_packet_headers() {
        let data = [0x94, 0x02, 1, 2, 0xC5, 0x01, 3, 0x99, 0x00, 0x01, 4];
        let got = packets(&data).unwrap();
        assert_eq!(got, vec![(5, &[1u8, 2][..]), (5, &[3][..]), (6, &[4][..])]);
        assert!(packets(&[0x94, 0x05, 1]).is_err());
    }
}
