//! What runs inside the image. For now: snapsmith's init, PID 1 of the initramfs, which loads
//! the boot modules, finds the data partition by its GPT name, loop-mounts the base snap and
//! switches into it. Markers it prints on the console are documented in docs/boot.md.

mod cleanup;
pub mod cmdline;
pub mod init;
mod sys;

/// Marker printed first, as soon as the console is usable.
pub const MARKER_INIT: &str = "snapsmith: init";
/// Marker printed just before control passes to the base's init.
pub const MARKER_READY: &str = "snapsmith: ready";
/// Marker printed once on a fatal error, just before the init reboots.
pub const MARKER_ERROR: &str = "snapsmith: error";
