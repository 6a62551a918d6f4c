//! What runs inside the image: snapsmith's init, PID 1 of the initramfs, which loads the boot
//! modules, finds the data partition by its GPT name, picks and loop-mounts the base snap and
//! switches into it; in run mode it then stays PID 1 as the agent (health, commit, rollback
//! cleanup, updates). Markers are documented in docs/boot.md and docs/agent.md.

pub mod agent;
mod cleanup;
pub mod cmdline;
pub mod init;
mod install;
mod sys;

/// Marker printed first, as soon as the console is usable.
pub const MARKER_INIT: &str = "snapsmith: init";
/// Marker printed just before control passes to the base's init.
pub const MARKER_READY: &str = "snapsmith: ready";
/// Marker printed once on a fatal error, just before the init reboots.
pub const MARKER_ERROR: &str = "snapsmith: error";
/// Prefix of the run-mode markers (`snapsmith: run ...`, `snapsmith: commit ...`, ...).
pub const MARKER: &str = "snapsmith:";
