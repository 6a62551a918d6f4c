//! The boot protocol, pure (no process, no disk, no VM): the boot disk's identity and a GPT
//! reader ([`diskid`]), the GRUB environment block ([`grubenv`]), the GRUB configurations with the kernel try/trying/rollback state machine
//! ([`grubcfg`]) and the seed's menu of modes and recovery systems ([`seedcfg`]), recovery system labels ([`label`]), the run system's modeenv ([`modeenv`]),
//! the run-mode state machine the init and agent follow ([`state`]) and the update disk's
//! manifest ([`update`]). The build side makes the boot files from these
//! (`build::boot_assets`, `build::grub_efi`); booting an image in a VM is `qemu::boot`.
//! docs/boot-protocol.md describes the protocol, docs/agent.md the runtime side.

pub mod diskid;
pub mod grubcfg;
pub mod grubenv;
pub mod label;
pub mod modeenv;
pub mod seedcfg;
pub mod state;
pub mod update;

pub use grubenv::Grubenv;
pub use modeenv::Modeenv;
