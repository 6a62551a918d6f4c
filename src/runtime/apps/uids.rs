//! One unprivileged uid (and gid of the same number) per snap, kept across boots in
//! `system-data/var/lib/snapsmith/uids` on ubuntu-data (`<snap> <uid>` lines). snapd runs
//! system daemons as root under AppArmor; snapsmith gives each strict snap its own uid instead
//! (docs/apps.md lists this difference).

use super::super::shared::{WRITABLE, write_synced};
use anyhow::{Context, Result};
use std::path::Path;

/// The file, relative to ubuntu-data's root.
pub const UIDS: &str = "system-data/var/lib/snapsmith/uids";
/// The first uid given to a snap.
pub const FIRST_UID: u32 = 70_000;

/// The uid of `snap` in the map `text`, and the new map text when the snap was not in it.
pub fn assign(text: &str, snap: &str) -> (u32, Option<String>) {
    let entries: Vec<(&str, u32)> = text
        .lines()
        .filter_map(|l| {
            let (name, uid) = l.split_once(' ')?;
            Some((name, uid.trim().parse().ok()?))
        })
        .collect();
    if let Some((_, uid)) = entries.iter().find(|(n, _)| *n == snap) {
        return (*uid, None);
    }
    let uid = entries
        .iter()
        .map(|(_, u)| u + 1)
        .max()
        .unwrap_or(FIRST_UID)
        .max(FIRST_UID);
    let mut out: String = entries.iter().map(|(n, u)| format!("{n} {u}\n")).collect();
    out.push_str(&format!("{snap} {uid}\n"));
    (uid, Some(out))
}

/// The uid of `snap`, assigned (and written) on first use.
pub fn uid_for(snap: &str) -> Result<u32> {
    let path = Path::new(WRITABLE).join(UIDS);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (uid, new) = assign(&text, snap);
    if let Some(new) = new {
        write_synced(&path, new.as_bytes())
            .with_context(|| format!("recording the uid of {snap}"))?;
    }
    Ok(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_stable_and_distinct() {
        let (a, t1) = assign("", "alpha");
        assert_eq!(a, FIRST_UID);
        let t1 = t1.unwrap();
        let (b, t2) = assign(&t1, "beta");
        assert_eq!(b, FIRST_UID + 1);
        let t2 = t2.unwrap();
        assert_eq!(assign(&t2, "alpha"), (FIRST_UID, None));
        assert_eq!(assign(&t2, "beta"), (FIRST_UID + 1, None));
        assert_eq!(t2, "alpha 70000\nbeta 70001\n");
        assert_eq!(
            assign("junk\nx 5\n", "y").0,
            FIRST_UID,
            "uids stay above the first"
        );
    }
}
