//! The update disk as the device reads it, and the record of applied updates on ubuntu-data,
//! as pure codecs. The disk's partition (named `snapsmith-update`, of type [`PARTITION_TYPE`]) holds update snaps
//! (`*.snap`) and, beside each asserted one, its assertions (`<stem>.assert`); the device
//! takes nothing else from it (docs/update-disk.md): no manifest, no commands, no data files.

/// GPT partition name of the update disk.
pub const PARTITION: &str = "snapsmith-update";
/// GPT type of the update partition, snapsmith's own (a random version-4 UUID): the device finds
/// the update disk by this type, never by a name any disk can carry.
pub const PARTITION_TYPE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5b3c_1f0e_8e52_4d5b_9f7a_2c6e_1d0a_4b71);
/// The record of update snaps under ubuntu-data ([`Record`]): one line per digest done, and
/// `attempt <digest> <n>` for a staging begun and not finished.
pub const APPLIED_PATH: &str = "system-data/var/lib/snapsmith/applied";
/// How many times a staging that never finished (a power cut, an I/O error, a full disk) is
/// begun before the update is given up.
pub const MAX_STAGING_ATTEMPTS: u32 = 3;

/// What to do once nothing is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    Poweroff,
    Reboot,
    Stay,
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
/// listed snap is read with it, hidden files are skipped.
pub fn listing(names: &[String]) -> Listing {
    let mut out = Listing::default();
    for name in names.iter().filter(|n| !n.starts_with('.')) {
        if name.ends_with(".snap") {
            out.snaps.push(name.clone());
        } else {
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

/// The idle action: poweroff when the command line asks for it, else stay (until the power
/// button is pressed).
pub fn idle_action(cmdline_poweroff: bool) -> Then {
    if cmdline_poweroff {
        Then::Poweroff
    } else {
        Then::Stay
    }
}

/// What the device did with update snaps, by SHA3-384: done (staged completely, or given up)
/// and the stagings begun but not finished, with how many times each was begun.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub done: Vec<String>,
    pub attempts: std::collections::BTreeMap<String, u32>,
}

impl Record {
    /// Reads the record; lines it does not know are skipped.
    pub fn decode(text: &str) -> Record {
        let mut r = Record::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["attempt", digest, n] => {
                    if let Ok(n) = n.parse() {
                        r.attempts.insert(digest.to_string(), n);
                    }
                }
                [digest] => r.done.push(digest.to_string()),
                _ => {}
            }
        }
        r
    }

    pub fn encode(&self) -> String {
        let mut out: String = self.done.iter().map(|d| format!("{d}\n")).collect();
        for (digest, n) in &self.attempts {
            out.push_str(&format!("attempt {digest} {n}\n"));
        }
        out
    }

    pub fn is_done(&self, digest: &str) -> bool {
        self.done.iter().any(|d| d == digest)
    }

    /// Counts one more staging of `digest` begun; false when it has been begun
    /// [`MAX_STAGING_ATTEMPTS`] times already (it is then recorded as done: given up).
    pub fn begin(&mut self, digest: &str) -> bool {
        let n = self.attempts.get(digest).copied().unwrap_or(0);
        if n >= MAX_STAGING_ATTEMPTS {
            self.finish(digest);
            return false;
        }
        self.attempts.insert(digest.to_string(), n + 1);
        true
    }

    /// Records `digest` as done.
    pub fn finish(&mut self, digest: &str) {
        self.attempts.remove(digest);
        if !self.is_done(digest) {
            self.done.push(digest.to_string());
        }
    }
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
    fn idle_actions_and_applied_digests() {
        assert_eq!(idle_action(true), Then::Poweroff);
        assert_eq!(idle_action(false), Then::Stay);
        assert_eq!(Record::decode("a\n\n b \n").done, vec!["a", "b"]);
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
        assert_eq!(l.ignored, ["orphan.assert", "run.sh", "update.yaml"]);
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

    #[test]
    fn stagings_are_counted_until_done_or_given_up() {
        let mut r = Record::decode("aaa\n\nattempt bbb 2\nnonsense line here\n");
        assert_eq!(r.done, ["aaa"]);
        assert_eq!(r.attempts["bbb"], 2);
        assert!(r.begin("ccc") && r.attempts["ccc"] == 1);
        assert!(r.begin("bbb"));
        assert!(!r.begin("bbb"), "a fourth staging is not begun");
        assert!(r.is_done("bbb") && !r.attempts.contains_key("bbb"));
        r.finish("ccc");
        assert_eq!(Record::decode(&r.encode()), r);
        assert_eq!(r.encode(), "aaa\nbbb\nccc\n");
    }
}
