//! The boot's disk, made by the harness before the VM starts: a sparse copy of the image, with
//! what the scenario asks written onto it by the harness (never by a command the device's
//! runtime would accept): data files onto ubuntu-data (and paths there opened to all), values into the seed's grubenv (in
//! place, as GRUB's `save_env` would), and damage such as a destroyed ubuntu-data superblock.
//! It then takes the digest of ubuntu-data that the `data-unchanged` host check compares with.

use super::diskread::{self, DiskReader};
use super::hostcheck::{self, BOOT, DATA, SEED};
use super::planner::PlannedBoot;
use super::scenario::Damage;
use crate::boot::grubcfg::GRUB_DIR;
use crate::boot::grubenv::Grubenv;
use crate::exec::Cmd;
use crate::window::Window;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Copies `image` to `disk` and applies the boot's data files, seed values and damage; returns
/// the digest of ubuntu-data as left (when a check of the boot needs it).
pub fn prepare_disk(image: &Path, disk: &Path, boot: &PlannedBoot) -> Result<Option<String>> {
    Cmd::new("cp")
        .arg("--sparse=always")
        .arg(image)
        .arg(disk)
        .run()
        .context("copying the image for the scenario")?;
    let reader = DiskReader::open(disk)?;
    if !boot.data.is_empty() {
        diskread::ext4_write(&reader.ext4(DATA)?, &boot.data)?;
    }
    if !boot.open.is_empty() {
        diskread::ext4_open(&reader.ext4(DATA)?, &boot.open)?;
    }
    if !boot.seed_env.is_empty() {
        set_seed_env(&reader, &boot.seed_env).context("setting the seed's grubenv")?;
    }
    for damage in &boot.damage {
        match damage {
            Damage::DataSuperblock => destroy_superblock(&reader)?,
            Damage::SeedSnap => flip_seed_gadget_byte(&reader)?,
            Damage::BootKernels => delete_boot_kernels(&reader)?,
            Damage::BootGrubenv => garble_boot_grubenv(&reader)?,
        }
    }
    let wants_digest = boot
        .expected
        .iter()
        .any(|e| matches!(e.wait, super::scenario::Wait::HostCheck(_)))
        || boot
            .host_checks
            .contains(&hostcheck::CheckKind::DataUnchanged);
    wants_digest
        .then(|| hostcheck::partition_digest(&reader, DATA))
        .transpose()
}

/// Runs `f` on the FAT filesystem of partition `part`, written in place, and closes it
/// cleanly (no dirty bit left).
fn with_fat(
    disk: &DiskReader,
    part: &str,
    f: impl FnOnce(&fatfs::FileSystem<Window<'_>>) -> Result<()>,
) -> Result<()> {
    let p = disk.partition(part)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(disk.disk())?;
    let fs = fatfs::FileSystem::new(
        Window::new(&file, p.offset, p.size),
        fatfs::FsOptions::new(),
    )
    .with_context(|| format!("opening {part}'s FAT filesystem"))?;
    f(&fs)?;
    fs.unmount()
        .with_context(|| format!("closing {part}'s FAT filesystem"))
}

/// Rewrites `EFI/ubuntu/grubenv` on the FAT partition `part` in place with what `edit` makes
/// of its bytes.
fn rewrite_grubenv(
    disk: &DiskReader,
    part: &str,
    edit: impl FnOnce(Vec<u8>) -> Result<Vec<u8>>,
) -> Result<()> {
    with_fat(disk, part, |fs| {
        let path = format!("{GRUB_DIR}/grubenv");
        let mut f = fs
            .root_dir()
            .open_file(&path)
            .with_context(|| format!("{part} has no {path}"))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        let bytes = edit(bytes).with_context(|| format!("{part} {path}"))?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&bytes)?;
        Ok(f.flush()?)
    })
}

/// Rewrites `EFI/ubuntu/grubenv` on ubuntu-seed in place with `values` set.
fn set_seed_env(disk: &DiskReader, values: &BTreeMap<String, String>) -> Result<()> {
    rewrite_grubenv(disk, SEED, |bytes| {
        let mut env = Grubenv::decode(&bytes)?;
        for (key, value) in values {
            env.set(key, value)?;
        }
        Ok(env.encode()?)
    })
}

/// Flips the last byte of the gadget snap in the seed's `snaps/` (a snap neither GRUB nor the
/// recovery system's boot reads before the seed is verified).
fn flip_seed_gadget_byte(disk: &DiskReader) -> Result<()> {
    with_fat(disk, SEED, |fs| {
        let snaps = fs
            .root_dir()
            .open_dir("snaps")
            .context("the seed has no snaps/")?;
        let name = snaps
            .iter()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .find(|n| n.starts_with("pc_") && n.ends_with(".snap"))
            .context("the seed has no gadget snap pc_*.snap")?;
        let mut f = snaps.open_file(&name)?;
        let end = f.seek(SeekFrom::End(-1))?;
        let mut byte = [0u8; 1];
        f.read_exact(&mut byte)?;
        f.seek(SeekFrom::Start(end))?;
        f.write_all(&[byte[0] ^ 0xff])?;
        Ok(f.flush()?)
    })
}

/// Deletes `EFI/ubuntu/<kernel>/vmlinuz` and `kernel.efi` of every kernel on ubuntu-boot.
fn delete_boot_kernels(disk: &DiskReader) -> Result<()> {
    with_fat(disk, BOOT, |fs| {
        let dir = fs.root_dir().open_dir(GRUB_DIR)?;
        let kernels: Vec<String> = dir
            .iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.is_dir() && e.file_name().ends_with(".snap"))
            .map(|e| e.file_name())
            .collect();
        for k in kernels {
            for asset in ["vmlinuz", "kernel.efi"] {
                let _ = dir.remove(&format!("{k}/{asset}"));
            }
        }
        Ok(())
    })
}

/// Overwrites ubuntu-boot's `EFI/ubuntu/grubenv` in place with as many bytes of garbage (no
/// GRUB environment block signature), leaving the second copy as built.
fn garble_boot_grubenv(disk: &DiskReader) -> Result<()> {
    rewrite_grubenv(disk, BOOT, |bytes| {
        Ok((0..bytes.len()).map(|i| (i * 131 % 251) as u8).collect())
    })
}

/// Overwrites ubuntu-data's primary ext4 superblock (1024 bytes at 1024) with zeros.
fn destroy_superblock(disk: &DiskReader) -> Result<()> {
    let part = disk.partition(DATA)?;
    let file = std::fs::OpenOptions::new().write(true).open(disk.disk())?;
    let end = part.offset + part.size;
    crate::window::write_at(&file, part.offset + 1024, &[0u8; 1024], end)?;
    file.sync_all()?;
    Ok(())
}
