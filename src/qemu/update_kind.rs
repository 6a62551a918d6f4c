//! The updates a validation scenario installs, each derived by the harness from the image's own
//! snaps ([`super::derive`]): which snap type each replaces, the word its file name and
//! version carry, and how many revisions ahead of the image's it is.

use serde::{Deserialize, Serialize};

/// How many revisions ahead of the image's app the two revisions of [`UpdateKind::BadApps`] are.
pub const SICK_APP_STEP: u64 = 2;
pub const CRASH_APP_STEP: u64 = 3;

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
    /// The image's first app snap with a daemon, a new revision with `post-refresh` and
    /// `check-health` hooks that succeed (see [`super::derive::apps`]).
    GoodApp,
    /// Two new revisions of that app, one after the other on one update disk: one whose
    /// `check-health` hook fails, then one whose daemon crash-loops.
    BadApps,
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
            UpdateKind::GoodApp | UpdateKind::BadApps => Some(SnapType::App),
        }
    }

    /// A word for the derived snap's file name and version.
    pub fn tag(self) -> &'static str {
        match self {
            UpdateKind::None => "none",
            UpdateKind::Forged => "forged",
            UpdateKind::GoodKernel | UpdateKind::GoodBase | UpdateKind::GoodApp => "update",
            UpdateKind::BadKernel | UpdateKind::BadBase | UpdateKind::BadApps => "broken",
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
            | UpdateKind::GoodApp
            | UpdateKind::Forged => 1,
            // BadApps: its two revisions are SICK_APP_STEP and CRASH_APP_STEP ahead.
            UpdateKind::BadKernel | UpdateKind::BadBase | UpdateKind::BadApps => 2,
            UpdateKind::UnloadableKernel => 3,
            UpdateKind::HangingKernel | UpdateKind::HangingBase => 4,
        }
    }
}
