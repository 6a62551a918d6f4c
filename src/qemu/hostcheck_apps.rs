//! Host checks of app state on ubuntu-data (docs/apps.md has the layout), read through
//! [`crate::qemu::diskread`]: which revision of each app snap is active (its
//! `system-data/var/snap/<name>/current` link) and the start counters the example's daemons
//! keep in `SNAP_DATA` and `SNAP_COMMON`.

use super::DATA;
use crate::qemu::diskread::{self, DiskReader};
use crate::seed::{DATA_SNAPS_DIR, MODEENV_PATH};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::Path;

/// Where app data lives on ubuntu-data.
const VAR_SNAP: &str = "system-data/var/snap";
/// The file in which the example's daemons count their starts.
pub const STARTS: &str = "starts";

/// The app snaps installed on ubuntu-data (the snap files the modeenv does not name as the
/// kernel, base or gadget whose snap.yaml says type app), by name, with their revisions.
fn installed_apps(image: &Path) -> Result<BTreeMap<String, Vec<String>>> {
    let modeenv = diskread::ext4_file(image, MODEENV_PATH)?
        .with_context(|| format!("{DATA} has no {MODEENV_PATH}"))?;
    let modeenv = String::from_utf8_lossy(&modeenv);
    let system: Vec<&str> = modeenv
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| ["base", "try_base", "gadget", "current_kernels"].contains(&k.trim()))
        .flat_map(|(_, v)| v.split(',').map(str::trim))
        .collect();
    let files = diskread::ext4_dir(image, DATA_SNAPS_DIR)?
        .with_context(|| format!("{DATA} has no {DATA_SNAPS_DIR}"))?;
    let mut apps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files.iter().filter(|f| !system.contains(&f.as_str())) {
        let Some((name, rev)) = file.strip_suffix(".snap").and_then(|s| s.rsplit_once('_')) else {
            continue;
        };
        if !is_app(image, file)? {
            continue;
        }
        apps.entry(name.to_string())
            .or_default()
            .push(rev.to_string());
    }
    Ok(apps)
}

/// True when the installed snap `file` has type app (a snapd snap, say, runs no apps).
fn is_app(image: &Path, file: &str) -> Result<bool> {
    let bytes = diskread::ext4_file(image, &format!("{DATA_SNAPS_DIR}/{file}"))?
        .with_context(|| format!("{DATA} has no {DATA_SNAPS_DIR}/{file}"))?;
    let mut temp = tempfile::NamedTempFile::new().context("creating a temporary file")?;
    std::io::Write::write_all(&mut temp, &bytes).context("writing a temporary file")?;
    let snap = crate::snap::SnapFile::open(temp.path())
        .with_context(|| format!("{DATA_SNAPS_DIR}/{file}"))?;
    Ok(snap.info().snap_type == crate::snap::SnapType::App)
}

/// The revision `current` names for the snap, checked against what is installed and on disk.
fn active(image: &Path, name: &str, installed: &[String]) -> Result<String> {
    let link = format!("{VAR_SNAP}/{name}/current");
    let rev = diskread::ext4_link(image, &link)?
        .with_context(|| format!("{link} is missing: {name} never became active"))?;
    if !installed.contains(&rev) {
        bail!("{link} names revision {rev:?}, which is not installed (installed: {installed:?})");
    }
    for dir in [rev.as_str(), "common"] {
        let path = format!("{VAR_SNAP}/{name}/{dir}");
        if diskread::ext4_dir(image, &path)?.is_none() {
            bail!("{path} is missing");
        }
    }
    Ok(rev)
}

/// `app-active`: every installed app snap has an active revision with its data dirs.
pub fn app_active(disk: &DiskReader) -> Result<String> {
    let image = disk.ext4(DATA)?;
    let apps = installed_apps(&image)?;
    if apps.is_empty() {
        bail!("{DATA} has no app snaps installed");
    }
    let mut seen = Vec::new();
    for (name, revs) in &apps {
        seen.push(format!("{name}={}", active(&image, name, revs)?));
    }
    Ok(format!("active: {}", seen.join(", ")))
}

fn counter(image: &Path, path: &str) -> Result<u64> {
    let bytes = diskread::ext4_file(image, path)?.with_context(|| format!("{path} is missing"))?;
    let text = String::from_utf8_lossy(&bytes);
    match text.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{path} holds {:?}, not a start count", text.trim()),
    }
}

/// `app-counters`: each active app whose daemon counts its starts has counted at least one in
/// `SNAP_DATA` and as many or more in `SNAP_COMMON` (shared by all revisions).
pub fn app_counters(disk: &DiskReader) -> Result<String> {
    let image = disk.ext4(DATA)?;
    let mut seen = Vec::new();
    for (name, revs) in &installed_apps(&image)? {
        let rev = active(&image, name, revs)?;
        let data_dir = format!("{VAR_SNAP}/{name}/{rev}");
        let names = diskread::ext4_dir(&image, &data_dir)?.unwrap_or_default();
        if !names.iter().any(|n| n == STARTS) {
            continue;
        }
        let data = counter(&image, &format!("{data_dir}/{STARTS}"))?;
        let common = counter(&image, &format!("{VAR_SNAP}/{name}/common/{STARTS}"))?;
        if common < data {
            bail!("{name}: SNAP_COMMON counted {common} starts, fewer than SNAP_DATA's {data}");
        }
        seen.push(format!("{name} rev {rev}: data={data} common={common}"));
    }
    if seen.is_empty() {
        bail!("no active app counts its starts in {VAR_SNAP}/<name>/<rev>/{STARTS}");
    }
    Ok(seen.join("; "))
}
