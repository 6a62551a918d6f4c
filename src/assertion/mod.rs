//! Signed metadata: snapd's assertion text format, RSA and Ed25519 keys in snapd's v1 OpenPGP
//! envelope, GnuPG secret-key exports, the keyring on disk, typed account / account-key / model
//! / snap-declaration / snap-revision, and the trust chain from `--trusted` roots to the model.
//!
//! Only this module parses or verifies signed metadata; the rest of snapsmith receives typed,
//! verified values from [`trust::verify`] (or [`Model::from_assertion`] for unverified display).
//!
//! Entry points:
//! - [`decode_stream`] / [`decode`] → [`Assertion`] (headers by name, body, signed content).
//! - [`Model`], [`SnapDeclaration`], [`SnapRevision`], [`Account`], [`AccountKey`]:
//!   `from_assertion(&Assertion)` checks the type's rules and fills defaults.
//! - [`trust::verify`]: streams + trusted roots → [`trust::Verified`], or an error naming the
//!   assertion and the failing header or rule.
//! - [`Keyring::open`], [`sign::sign`]: create, import ([`secret::read_export`]) and use
//!   signing keys, optionally passphrase-protected.
//!
//! snapd verifies only RSA signatures: RSA-signed assertions are what snapd accepts (tested
//! against snapd's own code); snapsmith verifies both algorithms.

pub mod codec;
pub mod fuzzcheck;
pub mod headers;
pub mod keyring;
pub mod keys;
pub mod model;
pub mod model_snap;
pub mod openpgp;
pub mod s2k;
pub mod secret;
pub mod seed_trust;
pub mod sign;
pub mod snap_trust;
pub mod trust;
#[cfg(test)]
mod trust_fixtures;
pub mod types;

pub use codec::{Assertion, decode, decode_stream};
pub use headers::Value;
pub use keyring::{KeyInfo, Keyring};
pub use keys::{PrivateKey, PublicKey};
pub use model::{Grade, Model, StorageSafety};
pub use model_snap::{ModelSnap, Presence, SnapType};
pub use sign::{certify_key, encode_stream, sign};
pub use types::{Account, AccountKey, RevisionAuthority, SnapDeclaration, SnapRevision};

/// Errors of the assertion layer; callers branch on signature and trust failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not a well-formed assertion.
    #[error("{0}")]
    Format(String),
    /// The signature or key uses an algorithm snapsmith cannot verify (e.g. snapd's RSA).
    #[error("unsupported signature algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The signature does not verify with the named key.
    #[error("signature does not verify: {0}")]
    BadSignature(String),
    /// A header breaks the type's rules.
    #[error("{assertion}: header {header:?}: {reason}")]
    Header {
        /// Which assertion (type and primary key).
        assertion: String,
        /// The header at fault.
        header: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A rule across headers or assertions is broken (chain, window, consistency).
    #[error("{assertion}: {reason}")]
    Rule {
        /// Which assertion (type and primary key).
        assertion: String,
        /// The rule that failed.
        reason: String,
    },
}

/// Result of the assertion layer.
pub type Result<T> = std::result::Result<T, Error>;
