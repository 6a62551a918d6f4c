//! The rogue disk of the `rogue-disk` scenario: what someone who can plug in a disk would offer
//! in place of the device's own partitions. Its GPT partitions are named (and its filesystems
//! labelled) ubuntu-seed, ubuntu-boot and ubuntu-data, with a grub.cfg of their own, a modeenv
//! and a base (the image's base bytes under another revision), but no EFI loader, so the
//! firmware still starts the real disk's GRUB. It is attached writable and before the boot
//! disk; the `rogue-unchanged` host check compares its bytes afterwards with the digest taken
//! here. Written rootlessly through [`super::disks::write_gpt`].

use super::diskread::{self, DiskReader};
use super::disks::{Part, write_gpt};
use super::hostcheck::{BOOT, DATA, SEED};
use crate::boot::grubcfg::{GRUB_DIR, seed_env};
use crate::boot::modeenv::Modeenv;
use crate::plan::{FileSource, FsKind};
use crate::seed::{DATA_SNAPS_DIR, MODEENV_PATH};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// What the rogue disk's GRUB configs print when GRUB reads them: the scenario lists it as a
/// text that must never appear.
pub const ROGUE_MARKER: &str = "rogue-disk: grub.cfg of the rogue disk runs";

/// The rogue base's file name: the image's base name at this revision.
const ROGUE_REVISION: &str = "666";

const MIB: u64 = 1 << 20;

/// A rogue disk written to disk, with the SHA3-384 of its bytes as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rogue {
    pub path: PathBuf,
    pub digest: String,
}

/// Writes `<dir>/rogue.img` from the image's modeenv and base (read from `image`'s ubuntu-data).
pub fn write_rogue_disk(dir: &Path, image: &DiskReader) -> Result<Rogue> {
    let data = image.ext4(DATA)?;
    let text = diskread::ext4_file(&data, MODEENV_PATH)?
        .with_context(|| format!("the image's {DATA} has no {MODEENV_PATH}"))?;
    let mut modeenv = Modeenv::decode(&String::from_utf8_lossy(&text))?;
    let base = diskread::ext4_file(&data, &format!("{DATA_SNAPS_DIR}/{}", modeenv.base))?
        .with_context(|| format!("the image's {DATA} has no base {}", modeenv.base))?;
    let name = modeenv.base.split('_').next().unwrap_or("base").to_string();
    modeenv.base = format!("{name}_{ROGUE_REVISION}.snap");
    let size = u64::try_from(base.len())?.div_ceil(MIB) * MIB + 16 * MIB;
    let cfg = format!("echo \"{ROGUE_MARKER}\"\n");
    let bytes = |b: &[u8]| FileSource::Bytes(b.to_vec());
    let mut seed = Part::new(SEED, FsKind::Vfat, 40 * MIB)
        .file(&format!("{GRUB_DIR}/grub.cfg"), bytes(cfg.as_bytes()))
        .file(
            &format!("{GRUB_DIR}/grubenv"),
            bytes(&seed_env(&modeenv.recovery_system)?),
        );
    // An ESP like the real one, but without EFI/boot/bootx64.efi.
    seed.esp = true;
    // ubuntu-data second: as partitions 1 and 2, the rogue seed and data are those a search of
    // sysfs in text order meets before the boot disk's (minors 1 and 2 against 17 and 20).
    let parts = [
        seed,
        Part::new(DATA, FsKind::Ext4, size)
            .file(MODEENV_PATH, bytes(modeenv.encode().as_bytes()))
            .file(
                &format!("{DATA_SNAPS_DIR}/{}", modeenv.base),
                FileSource::Bytes(base),
            ),
        Part::new(BOOT, FsKind::Vfat, 40 * MIB)
            .file(&format!("{GRUB_DIR}/grub.cfg"), bytes(cfg.as_bytes())),
    ];
    let path = write_gpt(dir, "rogue", &parts)?;
    let digest = file_digest(&path)?;
    Ok(Rogue { path, digest })
}

/// SHA3-384 of a whole file.
pub fn file_digest(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(crate::snap::digest_reader(file)
        .with_context(|| format!("reading {}", path.display()))?
        .sha3_384)
}
