//! The GRUB EFI image (`EFI/boot/bootx64.efi` on ubuntu-seed), made at build time by
//! `grub-mkimage` with exactly the modules snapsmith's configs use. The prefix has no device,
//! so GRUB reads `grub.cfg` and `grubenv` from `EFI/ubuntu` on the partition it was loaded from.
//! grub-mkimage gives the same bytes for the same modules (checked by a test), so the image
//! stays reproducible.

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
/// `kernel.efi`.
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

/// For unit tests that need a host tool: skipped outside CI, a failure under CI.
#[cfg(test)]
pub(crate) fn skip_or_fail(test: &str, tool: &str) {
    let strict = ["CI", "SNAPSMITH_REQUIRE_ALL"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|v| v == "true" || v == "1"));
    assert!(
        !strict,
        "{test}: `{tool}` is not installed (run scripts/setup)"
    );
    eprintln!("SKIPPED {test}: `{tool}` is not installed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_is_a_deterministic_pe_file() {
        if crate::exec::which("grub-mkimage").is_none()
            || !std::path::Path::new("/usr/lib/grub/x86_64-efi/linux.mod").is_file()
        {
            skip_or_fail("image_is_a_deterministic_pe_file", "grub-mkimage");
            return;
        }
        let a = grub_x64_image().unwrap();
        let b = grub_x64_image().unwrap();
        assert!(a.starts_with(b"MZ"), "not a PE image");
        assert!(a.len() > 100_000, "suspiciously small: {} bytes", a.len());
        assert!(a == b, "two grub-mkimage runs gave different bytes");
    }
}
