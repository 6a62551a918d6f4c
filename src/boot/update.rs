//! The update disk's manifest (`update.yaml` on the vfat partition named `snapsmith-update`)
//! and the record of applied updates on ubuntu-data, both as pure codecs.
//!
//! ```yaml
//! snaps: [pc-kernel_2.snap]        # files beside update.yaml, staged in try mode
//! write: {home/note.txt: "v1"}     # data files under system-data/, written once
//! then: poweroff                   # when nothing is pending: poweroff | reboot | stay
//! digests: {pc-kernel_2.snap: ...}  # optional SHA3-384 (snap digest form) of listed snaps
//! ```
//!
//! `digests` lets the writer of the update disk hash the snaps on its own (fast) machine: a
//! guest under emulation hashes at a few hundred KiB/s, which would dominate every boot.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;

/// GPT partition name of the update disk.
pub const PARTITION: &str = "snapsmith-update";
/// The manifest at the update filesystem's root.
pub const MANIFEST: &str = "update.yaml";
/// Digests of applied update snaps, one per line, under ubuntu-data.
pub const APPLIED_PATH: &str = "system-data/var/lib/snapsmith/applied";

/// What to do once nothing is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Then {
    Poweroff,
    Reboot,
    Stay,
}

/// A parsed `update.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub snaps: Vec<String>,
    #[serde(default)]
    pub write: BTreeMap<String, String>,
    #[serde(default)]
    pub then: Option<Then>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digests: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses and checks a manifest: snap entries are plain file names, write paths stay
    /// inside system-data.
    pub fn parse(text: &str) -> Result<Manifest> {
        let m: Manifest = serde_yaml::from_str(text).context("update.yaml")?;
        for snap in &m.snaps {
            if snap.is_empty() || snap.contains('/') || snap.starts_with('.') {
                bail!("update.yaml: snaps: {snap:?} is not a file name");
            }
        }
        if let Some(file) = m.digests.keys().find(|f| !m.snaps.contains(f)) {
            bail!("update.yaml: digests: {file:?} is not listed in snaps");
        }
        for path in m.write.keys() {
            if !plain_relative(path) {
                bail!("update.yaml: write: {path:?} is not a plain relative path");
            }
        }
        Ok(m)
    }

    /// The manifest as YAML.
    pub fn encode(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }
}

fn plain_relative(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The idle action: the manifest's `then`, else poweroff when the command line asks for it.
pub fn idle_action(manifest: Option<&Manifest>, cmdline_poweroff: bool) -> Then {
    match manifest.and_then(|m| m.then) {
        Some(then) => then,
        None if cmdline_poweroff => Then::Poweroff,
        None => Then::Stay,
    }
}

/// The applied digests recorded in `text`.
pub fn applied(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The store revision of an installed snap file `<name>_<N>.snap`; `None` for a local
/// revision (`x1`) or another snap's file.
pub fn revision_of(file: &str, name: &str) -> Option<u64> {
    let rev = file
        .strip_prefix(name)?
        .strip_prefix('_')?
        .strip_suffix(".snap")?;
    rev.parse().ok().filter(|_| !rev.starts_with('0'))
}

/// The file an update of snap `name` is installed as: `<name>_<revision>.snap` when asserted,
/// else the next local revision after those in `existing` (as snapd names them).
pub fn update_file(name: &str, revision: Option<u64>, existing: &[String]) -> String {
    match revision {
        Some(rev) => format!("{name}_{rev}.snap"),
        None => super::state::next_local_file(name, existing),
    }
}

/// What a data file's state is on this boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataState {
    Written,
    Kept,
    Changed,
}

impl DataState {
    /// What to do with a `write:` entry given the file's current content.
    pub fn of(current: Option<&[u8]>, wanted: &str) -> DataState {
        match current {
            None => DataState::Written,
            Some(bytes) if bytes == wanted.as_bytes() => DataState::Kept,
            Some(_) => DataState::Changed,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            DataState::Written => "written",
            DataState::Kept => "kept",
            DataState::Changed => "changed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_manifests() {
        let m =
            Manifest::parse("snaps: [pc-kernel_2.snap]\nwrite: {home/a.txt: v1}\nthen: poweroff\n")
                .unwrap();
        assert_eq!(m.snaps, vec!["pc-kernel_2.snap"]);
        assert_eq!(m.write["home/a.txt"], "v1");
        assert_eq!(m.then, Some(Then::Poweroff));
        assert_eq!(Manifest::parse(&m.encode()).unwrap(), m);
        assert_eq!(Manifest::parse("{}").unwrap(), Manifest::default());
        for bad in [
            "snaps: [../x.snap]",
            "write: {../etc/passwd: x}",
            "write: {/abs: x}",
            "then: later",
            "other: 1",
            "snaps: [a.snap]\ndigests: {b.snap: x}",
        ] {
            assert!(Manifest::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn idle_and_data_states() {
        let m = Manifest {
            then: Some(Then::Reboot),
            ..Manifest::default()
        };
        assert_eq!(idle_action(Some(&m), true), Then::Reboot);
        assert_eq!(idle_action(None, true), Then::Poweroff);
        assert_eq!(idle_action(Some(&Manifest::default()), false), Then::Stay);
        assert_eq!(DataState::of(None, "v1"), DataState::Written);
        assert_eq!(DataState::of(Some(b"v1"), "v1"), DataState::Kept);
        assert_eq!(DataState::of(Some(b"v2"), "v1"), DataState::Changed);
        assert_eq!(applied("a\n\n b \n"), vec!["a", "b"]);
    }

    #[test]
    fn update_files_and_revisions() {
        assert_eq!(revision_of("pc-kernel_12.snap", "pc-kernel"), Some(12));
        for file in [
            "pc-kernel_x1.snap",
            "pc-kernel_01.snap",
            "pc_2.snap",
            "pc-kernel_2",
        ] {
            assert_eq!(revision_of(file, "pc-kernel"), None, "{file}");
        }
        let existing = vec!["core_x1.snap".to_string()];
        assert_eq!(update_file("core", Some(3), &existing), "core_3.snap");
        assert_eq!(update_file("core", None, &existing), "core_x2.snap");
    }
}
