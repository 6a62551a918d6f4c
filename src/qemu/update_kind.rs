//! The updates a validation scenario installs, each derived by the harness from the image's own
//! snaps ([`super::derive`]): which snap type each replaces, the word its file name and
//! version carry, and how many revisions ahead of the image's it is.

use serde::{Deserialize, Serialize};

/// The update a scenario installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateKind {
    None,
    /// The installed kernel snap with another version in meta/snap.yaml (another digest).
    GoodKernel,
    /// The installed kernel snap whose initrd.img has no /init.
    BadKernel,
    /// The installed base snap with another version.
    GoodBase,
    /// The installed base snap whose /snapsmith/health exits 1.
    BadBase,
    /// The installed kernel snap whose vmlinuz is zeros: GRUB's `linux` refuses it.
    UnloadableKernel,
    /// The installed kernel snap whose initramfs /init never returns (it pauses forever).
    HangingKernel,
    /// The installed base snap whose /snapsmith/health never returns.
    HangingBase,
    /// Five forged updates the device must refuse (see [`super::derive_forged`]).
    Forged,
}

impl UpdateKind {
    /// The snap type the update replaces, `None` for no update.
    pub fn snap_type(self) -> Option<crate::snap::SnapType> {
        use crate::snap::SnapType;
        match self {
            UpdateKind::None | UpdateKind::Forged => None,
            UpdateKind::GoodKernel
            | UpdateKind::BadKernel
            | UpdateKind::UnloadableKernel
            | UpdateKind::HangingKernel => Some(SnapType::Kernel),
            UpdateKind::GoodBase | UpdateKind::BadBase | UpdateKind::HangingBase => {
                Some(SnapType::Base)
            }
        }
    }

    /// A word for the derived snap's file name and version.
    pub fn tag(self) -> &'static str {
        match self {
            UpdateKind::None => "none",
            UpdateKind::Forged => "forged",
            UpdateKind::GoodKernel | UpdateKind::GoodBase => "update",
            UpdateKind::BadKernel | UpdateKind::BadBase => "broken",
            UpdateKind::UnloadableKernel => "unloadable",
            UpdateKind::HangingKernel | UpdateKind::HangingBase => "hanging",
        }
    }

    /// How many revisions the derived snap is ahead of the image's: each kind its own.
    pub fn revision_step(self) -> u64 {
        match self {
            UpdateKind::None
            | UpdateKind::GoodKernel
            | UpdateKind::GoodBase
            | UpdateKind::Forged => 1,
            UpdateKind::BadKernel | UpdateKind::BadBase => 2,
            UpdateKind::UnloadableKernel => 3,
            UpdateKind::HangingKernel | UpdateKind::HangingBase => 4,
        }
    }
}
