//! The device's side of update trust, the I/O only: the trust root read from ubuntu-seed
//! (mounted read-only: `systems/<recovery system>/model` and `assertions/model-etc`, which the
//! build writes with its roots), an update snap's assertions read from the update disk, and
//! the copy of the snap onto ubuntu-data hashed in the same pass. What is decided on them is
//! [`crate::assertion::snap_trust`]'s, shared with the builder.

use super::bootdisk::{self, Role};
use super::cmdline::Options;
use crate::assertion::snap_trust::TrustRoot;
use crate::assertion::{self, Assertion};
use crate::snap::SnapDigest;
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::path::Path;
use sys_mount::UnmountFlags;

/// GPT name of the partition that holds the seed.
pub const SEED_PARTITION: &str = "ubuntu-seed";

/// Mounts ubuntu-seed read-only under `scratch`, reads the recovery system `label`'s model and
/// model-etc and verifies them now; the seed is unmounted again either way.
pub fn load_root(scratch: &Path, opts: &Options, label: &str) -> Result<TrustRoot> {
    let at = scratch.join("seed");
    let mounted = bootdisk::mount_role(opts, Role::Seed, &at, true)?
        .with_context(|| format!("no {SEED_PARTITION} partition"))?;
    let system = mounted.join("systems").join(label);
    let read = |rel: &str| {
        let path = system.join(rel);
        std::fs::read(&path).with_context(|| format!("reading {SEED_PARTITION} {label}/{rel}"))
    };
    let files = read("model").and_then(|m| Ok((m, read("assertions/model-etc")?)));
    let _ = sys_mount::unmount(&mounted, UnmountFlags::empty());
    let (model, etc) = files?;
    TrustRoot::from_seed(&model, &etc, time::OffsetDateTime::now_utc())
        .with_context(|| format!("{SEED_PARTITION} {label}: model and model-etc"))
}

/// The assertions beside `snap` on the update disk (`<stem>.assert`); none when there is no
/// such file.
pub fn read_assertions(snap: &Path) -> Result<Vec<Assertion>> {
    let path = snap.with_extension("assert");
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    assertion::decode_stream(&data).with_context(|| format!("{name}"))
}

/// A reader that writes what it reads to `out`.
struct Tee<'a, R> {
    from: R,
    out: &'a mut std::fs::File,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.from.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Copies `from` to `to` (synced) and returns the digest of the bytes written, computed in the
/// same pass: what is verified is exactly the copy, read from the update medium once.
pub fn copy_hashed(from: &Path, to: &Path) -> Result<SnapDigest> {
    let source =
        std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let mut out =
        std::fs::File::create(to).with_context(|| format!("creating {}", to.display()))?;
    let digest = crate::snap::digest_reader(Tee {
        from: source,
        out: &mut out,
    })
    .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    out.sync_all()
        .with_context(|| format!("writing {}", to.display()))?;
    Ok(digest)
}
