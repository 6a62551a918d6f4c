//! snapd's on-device layout for app snaps, made by the agent at boot: every installed app snap
//! (`system-data/var/lib/snapd/snaps/<name>_<rev>.snap` on ubuntu-data) loop-mounted read-only
//! at `/snap/<name>/<rev>` (on a tmpfs at `/snap`), `/snap/<name>/current` pointing at the active
//! revision, and the data dirs `system-data/var/snap/<name>/{<rev>,common}` with their own
//! `current` link, seen at `/var/snap` through a bind mount. The `current` link under
//! `system-data/var/snap/<name>/` is where the active revision is recorded (docs/apps.md).

use super::super::shared::{WRITABLE, mount_snap};
use crate::boot::modeenv::Modeenv;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use sys_mount::{Mount, MountFlags};

/// Where snaps are mounted, and where their data is seen, inside the base.
pub const SNAP_MOUNTS: &str = "/snap";
pub const VAR_SNAP: &str = "/var/snap";
/// The data dirs on ubuntu-data, relative to its root.
pub const DATA_VAR_SNAP: &str = "system-data/var/snap";

/// One installed app snap, at its active revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub revision: String,
    pub file: PathBuf,
}

/// Splits `<name>_<rev>.snap`.
pub fn split_file_name(file: &str) -> Option<(&str, &str)> {
    let stem = file.strip_suffix(".snap")?;
    let (name, rev) = stem.rsplit_once('_')?;
    (!name.is_empty() && !rev.is_empty()).then_some((name, rev))
}

/// Revisions in order: local ones (`xN`) after asserted ones, each by number.
fn revision_key(rev: &str) -> (bool, u64, String) {
    let local = rev.starts_with('x');
    let n = rev.trim_start_matches('x').parse().unwrap_or(u64::MAX);
    (local, n, rev.to_string())
}

/// The non-system snap files of `files` (the kernel, base and gadget of `env` excluded), one
/// per name: the revision `current_of(name)` names when it is installed, else the newest.
pub fn choose_active(
    files: &[String],
    env: &Modeenv,
    current_of: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String, String)> {
    let system = |f: &str| {
        f == env.base
            || f == env.try_base
            || f == env.gadget
            || env.current_kernels.iter().any(|k| k == f)
    };
    let mut by_name: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
    for f in files.iter().filter(|f| !system(f)) {
        if let Some((name, rev)) = split_file_name(f) {
            by_name.entry(name).or_default().push((rev, f));
        }
    }
    by_name
        .into_iter()
        .filter_map(|(name, mut revs)| {
            revs.sort_by_key(|(r, _)| revision_key(r));
            let current = current_of(name);
            let pick = revs
                .iter()
                .find(|(r, _)| Some(*r) == current.as_deref())
                .or(revs.last())?;
            Some((name.to_string(), pick.0.to_string(), pick.1.to_string()))
        })
        .collect()
}

/// ubuntu-data's `system-data/var/snap/<name>`.
pub fn data_root(name: &str) -> PathBuf {
    Path::new(WRITABLE).join(DATA_VAR_SNAP).join(name)
}

/// The revision the `current` link in `dir` names, if any.
pub fn read_current(dir: &Path) -> Option<String> {
    let target = std::fs::read_link(dir.join("current")).ok()?;
    target.to_str().map(str::to_string)
}

/// Points `dir/current` at `rev` (relative, as snapd does), replacing it by rename.
pub fn link_current(dir: &Path, rev: &str) -> Result<()> {
    let temp = dir.join(".current.new");
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(rev, &temp)
        .with_context(|| format!("creating {}", temp.display()))?;
    std::fs::rename(&temp, dir.join("current"))
        .with_context(|| format!("replacing {}/current", dir.display()))
}

/// Set once [`prepare_mounts_once`] succeeded.
static MOUNTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// [`prepare_mounts`], unless it succeeded before.
pub fn prepare_mounts_once() -> Result<()> {
    use std::sync::atomic::Ordering;
    if !MOUNTED.load(Ordering::SeqCst) {
        prepare_mounts()?;
        MOUNTED.store(true, Ordering::SeqCst);
    }
    Ok(())
}

/// Mounts a tmpfs on /snap and binds ubuntu-data's var/snap on /var/snap; fails when the base
/// lacks either mount point.
fn prepare_mounts() -> Result<()> {
    for dir in [SNAP_MOUNTS, VAR_SNAP] {
        if !Path::new(dir).is_dir() {
            bail!("the base has no {dir} mount point");
        }
    }
    Mount::builder()
        .fstype("tmpfs")
        .data("mode=0755")
        .mount("tmpfs", SNAP_MOUNTS)
        .context("mounting tmpfs on /snap")?;
    let data = Path::new(WRITABLE).join(DATA_VAR_SNAP);
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    Mount::builder()
        .fstype("none")
        .flags(MountFlags::BIND)
        .mount(&data, VAR_SNAP)
        .with_context(|| format!("binding {} on {VAR_SNAP}", data.display()))?;
    Ok(())
}

/// Mounts the snap at /snap/<name>/<rev> (unless it is mounted there already) and links
/// `current` to it; returns the mount.
pub fn mount_app(snap: &Installed) -> Result<PathBuf> {
    let dir = Path::new(SNAP_MOUNTS).join(&snap.name);
    let at = dir.join(&snap.revision);
    if !at.join("meta").is_dir() {
        std::fs::create_dir_all(&at).with_context(|| format!("creating {}", at.display()))?;
        mount_snap(&snap.file, &at)?;
    }
    link_current(&dir, &snap.revision)?;
    Ok(at)
}

/// Unmounts one revision of snap `name` from /snap/<name>/<rev>, if mounted, and removes its
/// directory (the snap's other revisions and `current` stay).
pub fn unmount_revision(name: &str, rev: &str) {
    let at = Path::new(SNAP_MOUNTS).join(name).join(rev);
    let _ = sys_mount::unmount(&at, sys_mount::UnmountFlags::empty());
    let _ = std::fs::remove_dir(at);
}

/// Unmounts a snap [`mount_app`] mounted and removes its directory under /snap.
pub fn unmount_app(snap: &Installed) {
    let dir = Path::new(SNAP_MOUNTS).join(&snap.name);
    let _ = sys_mount::unmount(dir.join(&snap.revision), sys_mount::UnmountFlags::empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// Creates `<rev>` and `common` under the snap's data root, owned by `uid`, and links
/// `current`; returns true when the snap had no data root before (its first install).
pub fn prepare_data(name: &str, rev: &str, uid: u32) -> Result<bool> {
    let root = data_root(name);
    let first = !root.exists();
    for dir in [root.join(rev), root.join("common")] {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(uid))
            .with_context(|| format!("giving {} to uid {uid}", dir.display()))?;
    }
    link_current(&root, rev)?;
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Modeenv {
        Modeenv {
            base: "core_1.snap".into(),
            gadget: "pc_1.snap".into(),
            current_kernels: vec!["pc-kernel_2.snap".into()],
            ..Modeenv::default()
        }
    }

    #[test]
    fn apps_are_the_snaps_that_are_not_the_system() {
        let files: Vec<String> = [
            "core_1.snap",
            "pc_1.snap",
            "pc-kernel_2.snap",
            "pc-kernel_1.snap",
            "hello_x2.snap",
            "hello_x10.snap",
            "hello_3.snap",
            "web_5.snap",
        ]
        .map(String::from)
        .to_vec();
        let none = choose_active(&files, &env(), |_| None);
        let pairs: Vec<(&str, &str)> = none
            .iter()
            .map(|(n, r, _)| (n.as_str(), r.as_str()))
            .collect();
        assert_eq!(pairs, [("hello", "x10"), ("pc-kernel", "1"), ("web", "5")]);
        let current = choose_active(&files, &env(), |n| (n == "hello").then(|| "x2".to_string()));
        assert_eq!(
            current[0],
            ("hello".into(), "x2".into(), "hello_x2.snap".into())
        );
        let stale = choose_active(&files, &env(), |_| Some("9".to_string()));
        assert_eq!(
            stale[0].1, "x10",
            "a current naming no installed revision is ignored"
        );
    }

    #[test]
    fn file_names_split_at_the_last_underscore() {
        assert_eq!(split_file_name("hello_x1.snap"), Some(("hello", "x1")));
        assert_eq!(
            split_file_name("pc-kernel_12.snap"),
            Some(("pc-kernel", "12"))
        );
        assert_eq!(split_file_name("hello.snap"), None);
        assert_eq!(split_file_name("hello_1.img"), None);
    }

    #[test]
    fn current_link_is_relative_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        link_current(dir.path(), "x1").unwrap();
        link_current(dir.path(), "x2").unwrap();
        assert_eq!(read_current(dir.path()).as_deref(), Some("x2"));
        assert_eq!(
            std::fs::read_link(dir.path().join("current")).unwrap(),
            Path::new("x2")
        );
    }
}
