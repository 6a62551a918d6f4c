//! Boot-side formats and logic shared by the image builder and the in-image runtime: the GRUB
//! environment block ([`grubenv`]), the GRUB configurations with the kernel try/trying/rollback
//! state machine ([`grubcfg`]), the GRUB EFI image ([`efi`]) and the boot files a build puts on
//! ubuntu-seed and ubuntu-boot ([`assets`]), and booting a built image in QEMU ([`vm`]); the
//! run system's modeenv ([`modeenv`]), the run-mode state machine the init and agent follow
//! ([`state`]) and the update disk's manifest ([`update`]), all pure.
//! docs/boot-protocol.md describes the protocol, docs/agent.md the runtime side.

pub mod assets;
pub mod efi;
pub mod grubcfg;
pub mod grubenv;
pub mod modeenv;
pub mod state;
pub mod update;
pub mod vm;

pub use grubenv::Grubenv;
pub use modeenv::Modeenv;
