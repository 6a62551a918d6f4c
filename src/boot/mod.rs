//! Boot-side formats and logic shared by the image builder and the in-image runtime: the GRUB
//! environment block today; grub.cfg generation and the try/trying/commit state machine build
//! on it.

pub mod grubenv;
pub mod modeenv;
pub mod state;
pub mod update;

pub use grubenv::Grubenv;
pub use modeenv::Modeenv;
