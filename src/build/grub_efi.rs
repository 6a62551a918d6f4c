//! The GRUB EFI image (`EFI/boot/bootx64.efi` on ubuntu-seed), made at build time by
//! `grub-mkimage` with exactly the modules snapsmith's configs use. The prefix has no device,
//! so GRUB reads `grub.cfg` and `grubenv` from `EFI/ubuntu` on the partition it was loaded from.
//! grub-mkimage gives the same bytes for the same modules (checked by tests/boot_assets.rs), so
//! the image stays reproducible.

use crate::exec::Cmd;
use anyhow::{Context, Result};

/// Where the firmware's removable-media path finds the bootloader (FAT compares names without
/// case; lowercase is what gadgets use).
pub const BOOT_EFI_PATH: &str = "EFI/boot/bootx64.efi";
/// GRUB's prefix: its config directory on the partition it was loaded from.
pub const PREFIX: &str = "/EFI/ubuntu";

/// Modules built into the image. grub-mkimage adds their dependencies (fshelp, gzio, xzio,
/// lzopio, extcmd, ...). `squash4` and `loopback` serve the recovery boot from the seed's
/// kernel snap (GRUB 2.06 reads gzip, xz and lzo squashfs only); `chain` boots a unified
/// `kernel.efi`; `regexp` and `probe` take ubuntu-boot from the disk GRUB was loaded from
/// (`$cmdpath`) and confirm its partition UUID.
pub const MODULES: &[&str] = &[
    "part_gpt",
    "fat",
    "normal",
    "configfile",
    "echo",
    "test",
    "loadenv",
    "search",
    "linux",
    "chain",
    "squash4",
    "loopback",
    "regexp",
    "probe",
];

/// Builds the x86_64 GRUB EFI image and returns its bytes.
pub fn grub_x64_image() -> Result<Vec<u8>> {
    let dir = tempfile::Builder::new()
        .prefix("snapsmith-grub-")
        .tempdir()
        .context("creating a directory for grub-mkimage")?;
    let out = dir.path().join("bootx64.efi");
    Cmd::new("grub-mkimage")
        .args(["-O", "x86_64-efi", "-p", PREFIX, "-o"])
        .arg(&out)
        .args(MODULES)
        .run()
        .context("building the GRUB EFI image (Debian package grub-efi-amd64-bin)")?;
    std::fs::read(&out).with_context(|| format!("reading {}", out.display()))
}
