//! App refresh and revert, as snapd does them, without a reboot (docs/apps.md has the state
//! machine and its markers). The installer has put the new revision's verified snap file on
//! ubuntu-data; [`refresh`] then, for each one: records the refresh as pending, stops the
//! snap's daemons, copies `SNAP_DATA` of the old revision to the new revision's directory,
//! mounts the new revision and links `current` to it, runs its `post-refresh` hook, starts
//! its daemons, watches them for [`SETTLE`] and then runs its `check-health` hook (after the
//! settle time, so that the check sees daemons that are up, not just spawned). When the hook
//! or the health check fails, or a daemon fails [`CRASH_LOOP`] times in the settle time, the
//! refresh is reverted: the new revision is stopped, unmounted and removed with its data copy,
//! `current` points at the old revision again, whose data is as it was before, and its daemons
//! start again and are watched for the settle time too. After a good refresh the previous revision stays (with its data) and
//! older ones are removed. A refresh cut short (power, crash) is reverted on the next boot,
//! before any daemon starts ([`undo_interrupted`]). The installer's record makes each update
//! a one-time attempt: a reverted revision is not retried.

use super::{Installed, layout, marker, pipe, prepare_snap, stop_snap, supervise, supervise_snap};
use crate::runtime::shared::{MARKER, WRITABLE, console, write_synced};
use anyhow::{Context, Result, bail};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the new revision's daemons (and, after a revert, the old one's) are watched.
pub const SETTLE: Duration = Duration::from_secs(5);
/// Failed daemon exits in the settle time that count as a crash loop.
pub const CRASH_LOOP: u32 = 2;
/// The pending refreshes, on ubuntu-data: one `<name> <old> <new>` line each.
pub const PENDING: &str = "system-data/var/lib/snapsmith/app-refresh";

/// Refreshes the installed app snap files `files` (`<name>_<rev>.snap`), one after another.
pub fn refresh(files: &[String]) {
    for file in files {
        let Some((name, new)) = layout::split_file_name(file) else {
            marker(&format!("error refresh {file}: not a snap file name"));
            continue;
        };
        if let Err(err) = refresh_one(name, new) {
            marker(&format!("error refresh {name} to {new}: {err:#}"));
        }
    }
}

fn refresh_one(name: &str, new: &str) -> Result<()> {
    let installed = Installed::read()?;
    let Some(old) = super::active_revision(name) else {
        // Never run before: the update is its first install.
        marker(&format!("install {name} rev={new}"));
        layout::prepare_mounts_once()?;
        if let Some(snap) = prepare_snap(&installed.snap(name, new), &installed)? {
            supervise_snap(snap.units, None)?;
        }
        return Ok(());
    };
    console(&format!("{MARKER} app refresh {name} {old} -> {new}"));
    write_synced(&pending_path(), format!("{name} {old} {new}\n").as_bytes())?;
    stop_snap(name);
    let data = layout::data_root(name);
    let _ = std::fs::remove_dir_all(data.join(new));
    copy_tree(&data.join(&old), &data.join(new))
        .with_context(|| format!("copying {name}'s SNAP_DATA from revision {old} to {new}"))?;
    match try_new(&installed, name, new) {
        Ok(()) => {
            console(&format!("{MARKER} app refreshed {name} {old} -> {new}"));
            remove_older(&installed, name, &[new, &old]);
        }
        Err(reason) => revert(&installed, name, &old, new, &reason)?,
    }
    finish_pending();
    Ok(())
}

/// Makes the outcome durable, then drops the pending record (durably too): until then a power
/// cut makes the next boot revert the refresh.
fn finish_pending() {
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let _ = std::fs::remove_file(pending_path());
    // SAFETY: as above.
    unsafe { libc::sync() };
}

/// Switches to the new revision and proves it: hooks, daemons, settle time. The error is the
/// reason to revert.
fn try_new(installed: &Installed, name: &str, new: &str) -> Result<(), String> {
    let prepared = prepare_snap(&installed.snap(name, new), installed)
        .map_err(|e| format!("the new revision cannot run: {e:#}"))?
        .ok_or("the new revision is not an app snap")?;
    let ctx = &prepared.ctx;
    if prepared.apps.has_hook("post-refresh") && !supervise::run_hook(ctx, "post-refresh") {
        return Err("the post-refresh hook failed".into());
    }
    start_watched(prepared.units)?;
    if prepared.apps.has_hook("check-health") && !supervise::run_hook(ctx, "check-health") {
        return Err("the check-health hook failed".into());
    }
    Ok(())
}

/// Starts `units` (one snap's) and watches them for [`SETTLE`]; the error says how they failed.
fn start_watched(units: Vec<supervise::Unit>) -> Result<(), String> {
    if units.is_empty() {
        return Ok(());
    }
    let (read, write) = pipe().map_err(|e| format!("{e:#}"))?;
    supervise_snap(units, Some(write)).map_err(|e| format!("{e:#}"))?;
    settle(&read)
}

/// Counts the supervisor's failure reports for [`SETTLE`]; an error at [`CRASH_LOOP`].
fn settle(read: &OwnedFd) -> Result<(), String> {
    let deadline = Instant::now() + SETTLE;
    let mut failures = 0u32;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let mut poll = libc::pollfd {
            fd: read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for the call.
        if unsafe { libc::poll(&raw mut poll, 1, ms) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 64];
        // SAFETY: reading into a local buffer from a descriptor we own.
        let n = unsafe { libc::read(read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match u32::try_from(n) {
            // EOF: the supervisor is gone, and with it its reports.
            Ok(0) => return Ok(()),
            Ok(n) => failures += n,
            Err(_) => continue,
        }
        if failures >= CRASH_LOOP {
            return Err(format!(
                "a daemon crash-looped: {failures} failed exits within {} s",
                SETTLE.as_secs()
            ));
        }
    }
}

/// Puts the old revision back and starts its daemons again.
fn revert(installed: &Installed, name: &str, old: &str, new: &str, reason: &str) -> Result<()> {
    stop_snap(name);
    layout::unmount_revision(name, new);
    discard(installed, name, old, new);
    console(&format!(
        "{MARKER} revert app={name} {new} -> {old}: {reason}"
    ));
    if let Some(snap) = prepare_snap(&installed.snap(name, old), installed)?
        && let Err(why) = start_watched(snap.units)
    {
        marker(&format!(
            "error {name}: the reverted revision {old} fails too: {why}"
        ));
    }
    Ok(())
}

/// Removes the new revision's snap file and data copy and links `current` to `old`.
fn discard(installed: &Installed, name: &str, old: &str, new: &str) {
    let data = layout::data_root(name);
    if data.join(old).is_dir() {
        let _ = layout::link_current(&data, old);
    }
    let _ = std::fs::remove_dir_all(data.join(new));
    let _ = std::fs::remove_file(installed.snap(name, new).file);
}

/// Reverts, on boot and before any daemon starts, each refresh that did not finish.
pub fn undo_interrupted() {
    let Ok(text) = std::fs::read_to_string(pending_path()) else {
        return;
    };
    let snaps_dir = Path::new(WRITABLE).join(crate::seed::DATA_SNAPS_DIR);
    let installed = Installed {
        env: Default::default(),
        files: Vec::new(),
        snaps_dir,
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(old), Some(new)) = (words.next(), words.next(), words.next()) {
            discard(&installed, name, old, new);
            console(&format!(
                "{MARKER} revert app={name} {new} -> {old}: the refresh was cut short"
            ));
        }
    }
    finish_pending();
}

fn pending_path() -> std::path::PathBuf {
    Path::new(WRITABLE).join(PENDING)
}

/// After a good refresh: removes the snap's revisions other than `keep`, files and data.
fn remove_older(installed: &Installed, name: &str, keep: &[&str]) {
    let data = layout::data_root(name);
    for rev in older_revisions(name, &installed.files, keep) {
        layout::unmount_revision(name, &rev);
        let _ = std::fs::remove_file(installed.snap(name, &rev).file);
        let _ = std::fs::remove_dir_all(data.join(&rev));
        marker(&format!("removed {name} rev={rev}"));
    }
}

/// The revisions of `name` among the snap files `files` that are not in `keep`.
pub fn older_revisions(name: &str, files: &[String], keep: &[&str]) -> Vec<String> {
    files
        .iter()
        .filter_map(|f| layout::split_file_name(f))
        .filter(|(n, r)| *n == name && !keep.contains(r))
        .map(|(_, r)| r.to_string())
        .collect()
}

/// Copies the tree `from` to `to` (which must not exist): files, directories and symlinks,
/// with their modes and owners.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from)?;
        std::os::unix::fs::symlink(target, to)
            .with_context(|| format!("creating {}", to.display()))?;
    } else if meta.is_dir() {
        std::fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        std::fs::set_permissions(to, meta.permissions())?;
    } else if meta.is_file() {
        std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    } else {
        bail!(
            "{}: neither a file, a directory nor a symlink",
            from.display()
        );
    }
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))
        .with_context(|| format!("giving {} its owner", to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_other_revisions_of_the_snap_are_removed() {
        let files =
            ["hello_1.snap", "hello_2.snap", "hello_3.snap", "web_1.snap"].map(String::from);
        assert_eq!(older_revisions("hello", &files, &["3", "2"]), ["1"]);
        assert!(older_revisions("web", &files, &["1"]).is_empty());
    }

    #[test]
    fn trees_are_copied_with_modes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("1");
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("starts"), "3\n").unwrap();
        std::fs::write(from.join("sub/f"), "x").unwrap();
        std::os::unix::fs::symlink("starts", from.join("link")).unwrap();
        std::fs::set_permissions(
            from.join("sub"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let to = dir.path().join("2");
        copy_tree(&from, &to).unwrap();
        assert_eq!(std::fs::read_to_string(to.join("starts")).unwrap(), "3\n");
        assert_eq!(std::fs::read_to_string(to.join("sub/f")).unwrap(), "x");
        assert_eq!(
            std::fs::read_link(to.join("link")).unwrap(),
            Path::new("starts")
        );
        let mode = std::fs::metadata(to.join("sub")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(copy_tree(&from, &to).is_err(), "the target must not exist");
    }
}
