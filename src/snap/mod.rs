//! Snaps: reading `.snap` files (squashfs with `meta/snap.yaml`) without mounting them, their
//! SHA3-384 digest, and packing a directory into a deterministic `.snap`.
//!
//! This module only reads snaps and packs them; deciding which snap fills which model entry is
//! `seed`'s job.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use snapsmith::snap::{self, PackOptions, SnapFile};
//! use std::path::Path;
//! snap::pack_dir(Path::new("hello"), Path::new("hello.snap"), &PackOptions::at(0)?)?;
//! let snap = SnapFile::open("hello.snap")?;
//! println!("{} {}", snap.info().name, snap::digest(Path::new("hello.snap"))?.sha3_384);
//! # Ok(()) }
//! ```

pub mod apps;
mod assert;
mod digest;
mod duration;
pub mod naming;
mod pack;
mod reader;
mod yaml;

pub use assert::{SnapAssertRequest, snap_assertions};
pub use digest::{SnapDigest, digest, digest_all, digest_reader};
pub use duration::parse_go_duration;
pub use pack::{Compression, PackOptions, pack_dir, write_atomically};
pub use reader::{Entry, EntryKind, SnapFile};
pub use yaml::{App, Daemon, Interface, RestartCondition, SnapInfo, SnapType};
