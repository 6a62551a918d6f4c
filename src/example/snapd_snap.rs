//! The example's `snapd`-type snap: a placeholder the model lists because snapd's seed loader
//! requires a snapd snap in every UC20 seed (so snapd's own code can load the example's seed).
//! snapsmith's runtime does the device's work and never runs it; it holds only its metadata
//! and a note saying so.

use super::sources::{SourceFile, SourceTree};

const SNAP_YAML: &[u8] = b"\
name: snapd
version: '0.1'
type: snapd
summary: placeholder snapd snap of the snapsmith example device
description: |
  snapsmith's own runtime replaces snapd on this device; this snap is in the seed because
  snapd's seed loader requires a snapd-type snap in every UC20 seed. Nothing runs it.
";

const README: &[u8] = b"\
This is not snapd. The snapsmith example device lists a snapd-type snap, as every UC20 model
does, so that snapd's seed loader accepts its seed; snapsmith's runtime never runs it.
";

/// The tree of the `snapd` snap.
pub const SNAPD: SourceTree = SourceTree {
    dir: "snapd",
    files: &[
        SourceFile {
            path: "meta/snap.yaml",
            bytes: SNAP_YAML,
            executable: false,
        },
        SourceFile {
            path: "usr/share/doc/snapd/README",
            bytes: README,
            executable: false,
        },
    ],
};
