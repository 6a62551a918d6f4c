//! The update disk as the device reads it, and the record of applied updates on ubuntu-data,
//! as pure codecs. The disk's partition (named `snapsmith-update`) holds update snaps
//! (`*.snap`) and, beside each asserted one, its assertions (`<stem>.assert`); the device
//! takes nothing else from it (docs/update-disk.md). Until the harness powers the guest off
//! through the power button, an `update.yaml` may still say what to do when nothing is pending:
//!
//! ```yaml
//! then: poweroff                   # poweroff | reboot | stay
//! ```

use anyhow::{Context, Result};
use serde::Deserialize;

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

/// A parsed `update.yaml`: only `then` is read by the device. `snaps` is the harness's list
/// of what it puts on the disk; the device stages every `.snap` of the disk, whatever it says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snaps: Vec<String>,
    #[serde(default)]
    pub then: Option<Then>,
}

impl Manifest {
    /// Parses a manifest; `write:` and `digests:` are no longer accepted.
    pub fn parse(text: &str) -> Result<Manifest> {
        serde_yaml::from_str(text).context("update.yaml")
    }

    /// The manifest as YAML.
    pub fn encode(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }
}

/// What the device takes from the update partition's root directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Update snaps, in name order (the order they are staged in).
    pub snaps: Vec<String>,
    /// Files the device does not read (neither a snap nor a snap's assertions).
    pub ignored: Vec<String>,
}

/// Sorts the update partition's file names into snaps and ignored files; `<stem>.assert` of a
/// listed snap and update.yaml are read with it, hidden files are skipped.
pub fn listing(names: &[String]) -> Listing {
    let mut out = Listing::default();
    for name in names.iter().filter(|n| !n.starts_with('.')) {
        if name.ends_with(".snap") {
            out.snaps.push(name.clone());
        } else if name != MANIFEST {
            out.ignored.push(name.clone());
        }
    }
    let paired = |n: &String| {
        n.strip_suffix(".assert")
            .is_some_and(|stem| out.snaps.contains(&format!("{stem}.snap")))
    };
    out.ignored.retain(|n| !paired(n));
    out.snaps.sort();
    out.ignored.sort();
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_say_only_what_to_do_when_idle() {
        let m = Manifest::parse("then: poweroff\n").unwrap();
        assert_eq!(m.then, Some(Then::Poweroff));
        assert_eq!(Manifest::parse(&m.encode()).unwrap(), m);
        assert_eq!(Manifest::parse("{}").unwrap(), Manifest::default());
        for bad in [
            "write: {home/a.txt: v1}",
            "digests: {a.snap: x}",
            "then: later",
            "other: 1",
        ] {
            assert!(Manifest::parse(bad).is_err(), "{bad}");
        }
        let r = Manifest {
            then: Some(Then::Reboot),
            ..Manifest::default()
        };
        assert_eq!(idle_action(Some(&r), true), Then::Reboot);
        assert_eq!(idle_action(None, true), Then::Poweroff);
        assert_eq!(idle_action(Some(&Manifest::default()), false), Then::Stay);
        assert_eq!(applied("a\n\n b \n"), vec!["a", "b"]);
    }

    #[test]
    fn listing_takes_snaps_and_their_assertions() {
        let names: Vec<String> = [
            "b.snap",
            "a.snap",
            "a.assert",
            "orphan.assert",
            "update.yaml",
            ".hidden",
            "run.sh",
        ]
        .map(String::from)
        .to_vec();
        let l = listing(&names);
        assert_eq!(l.snaps, ["a.snap", "b.snap"]);
        assert_eq!(l.ignored, ["orphan.assert", "run.sh"]);
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
