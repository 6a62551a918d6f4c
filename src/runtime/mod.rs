//! What runs inside the image (the `snapsmith-init` binary, src/bin/snapsmith-init.rs):
//! snapsmith's init, PID 1 of the initramfs, which loads the boot modules, finds the data
//! partition on the boot disk (`bootdisk`), picks and loop-mounts the base snap and switches into it; in run
//! mode it then stays PID 1 as the agent (health, commit, rollback cleanup, updates); in recover
//! mode it boots the recovery system on ubuntu-seed instead. Markers are documented in
//! docs/boot.md, docs/agent.md and docs/recovery.md.
//!
//! Called `snapsmith-device`, the same binary is root's command on a running device
//! ([`device`]: reboot into recover mode).
//!
//! [`pid1`] runs the parts in turn: [`init`], then [`agent`] and the installer. They share the
//! helpers of `shared` (console, synced writes, loop mounts), `bootdisk` (partitions of the
//! boot disk, the update disk) and `sys` (system calls), and import neither each other nor anything of the builder's CLI or QEMU side.

pub mod agent;
pub mod apps;
mod bootdisk;
mod bootenv;
mod cleanup;
pub mod cmdline;
pub mod device;
pub mod health;
pub mod init;
mod install;
pub mod pid1;
mod power;
mod recover;
mod shared;
mod sys;
mod trust;
pub mod watchdog;

pub use shared::{MARKER, MARKER_ERROR, MARKER_INIT, MARKER_READY};
