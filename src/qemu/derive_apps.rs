//! App revisions the harness derives from an image's own app snaps, always from the first app
//! snap with a daemon (`daemon_app`). For the `app-daemons` scenario: a new local revision
//! whose daemon fails its first start, so the device's supervisor has to restart it. The daemon's `command` is
//! prefixed by a wrapper (`bin/snapsmith-crash-once`, a busybox script: the example's bases
//! are busybox) that exits 1 once, leaving `$SNAP_DATA/.first-start-failed`, and otherwise
//! execs the original command. Its `restart-delay` is `RESTART_DELAY` (3 s), so that the restart
//! comes after the run marker and the agent's idle marker, in an order a scenario can wait for.
//! The harness installs the result beside the original on ubuntu-data; with no `current` link
//! yet, the device activates the newest revision.
//!
//! For the app update scenarios (`derive_app_update`): a good new revision whose
//! `post-refresh` hook leaves `$SNAP_DATA/post-refresh` (the revision it ran in) and whose
//! `check-health` hook succeeds; and, on one update disk, a revision whose `check-health`
//! hook exits 1 and one whose daemon always exits 1 (a crash loop).

use super::ImageInfo;
use crate::qemu::update_kind::UpdateKind;
use crate::snap::{Compression, PackOptions, SnapFile};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The wrapper's path inside the derived snap.
pub const WRAPPER: &str = "bin/snapsmith-crash-once";
/// The derived daemon's `restart-delay`.
pub const RESTART_DELAY: &str = "3s";
/// What the wrapper leaves in `SNAP_DATA` after the failed start.
pub const FAILED_ONCE: &str = ".first-start-failed";

const WRAPPER_SCRIPT: &str = "#!/bin/busybox sh\n\
# Derived by snapsmith validate: this revision's daemon fails its first start.\n\
if [ ! -e \"$SNAP_DATA/.first-start-failed\" ]; then\n\
  /bin/busybox touch \"$SNAP_DATA/.first-start-failed\"\n\
  echo \"snapsmith-validate: failing the first start of $SNAP_NAME\"\n\
  exit 1\n\
fi\n\
program=$1\n\
shift\n\
exec \"$SNAP/$program\" \"$@\"\n";

/// A derived app revision: the snap file and the name it is installed under.
#[derive(Debug, Clone)]
pub struct DerivedApp {
    pub snap: PathBuf,
    /// `<name>_x<N>.snap`, after every installed revision of the snap.
    pub file_name: String,
    /// `<snap>.<app>` of the daemon that fails once.
    pub daemon: String,
}

/// The image's first installed app snap (in file name order) with a daemon: its file on
/// ubuntu-data, copied into `work`, and the daemon's app name.
pub fn daemon_app(info: &ImageInfo, work: &Path) -> Result<(String, PathBuf, String)> {
    let env = &info.modeenv;
    let system =
        |f: &str| f == env.base || f == env.gadget || env.current_kernels.iter().any(|k| k == f);
    for file in info.installed.iter().filter(|f| !system(f)) {
        let original = super::installed_snap(info, file, work)?;
        let snap = SnapFile::open(&original)?;
        if let Some(app) = snap.info().daemons().first() {
            return Ok((file.clone(), original, (*app).to_string()));
        }
    }
    bail!(
        "{}: no installed app snap has a daemon to derive a revision from",
        info.path.display()
    )
}

/// Derives the crash-on-first-start revision of the image's first app snap with a daemon.
pub fn derive_crashing_app(info: &ImageInfo, work: &Path) -> Result<DerivedApp> {
    let (_, original, app) = daemon_app(info, work)?;
    let name = SnapFile::open(&original)?.info().name.clone();
    let file_name = format!("{name}_x{}.snap", next_local(&info.installed, &name));
    let out = work.join(&file_name);
    crash_first_start(&original, &app, &out)?;
    Ok(DerivedApp {
        snap: out,
        file_name,
        daemon: format!("{name}.{app}"),
    })
}

/// One more than the highest local revision (`xN`) of `name` among `installed`.
fn next_local(installed: &[String], name: &str) -> u64 {
    installed
        .iter()
        .filter_map(|f| f.strip_prefix(&format!("{name}_x"))?.strip_suffix(".snap"))
        .filter_map(|n| n.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1
}

/// Repacks `snap` into `out` with `app`'s command wrapped by [`WRAPPER`].
pub fn crash_first_start(snap: &Path, app: &str, out: &Path) -> Result<()> {
    let change = |root: &Path, yaml: &mut serde_yaml::Value| {
        wrap_command(yaml, app, WRAPPER)?;
        yaml["apps"][app]["restart-delay"] = RESTART_DELAY.into();
        write_script(root, WRAPPER, WRAPPER_SCRIPT)
    };
    repack(snap, "crash", out, change)
        .with_context(|| format!("repacking {} with a failing first start", snap.display()))
}

/// The hooks of the good app update.
const POST_REFRESH: &str = "#!/bin/busybox sh\n\
# Derived by snapsmith validate: proves the hook ran, in the new revision's SNAP_DATA.\n\
echo \"$SNAP_REVISION\" >\"$SNAP_DATA/post-refresh\"\n";
const HEALTHY: &str = "#!/bin/busybox sh\nexit 0\n";
const SICK: &str =
    "#!/bin/busybox sh\necho \"snapsmith-validate: $SNAP_NAME is not healthy\"\nexit 1\n";
/// The crash-looping revision's wrapper: its daemon always exits 1 at once.
const CRASH_ALWAYS: &str = "bin/snapsmith-crash-always";
const CRASH_ALWAYS_SCRIPT: &str = "#!/bin/busybox sh\n\
echo \"snapsmith-validate: $SNAP_NAME crashes\"\n\
exit 1\n";

/// The app update for `kind` (`GoodApp`: one snap; `BadApps`: a directory of two, the sick
/// one first), derived from the image's first app snap with a daemon.
pub fn derive_app_update(kind: UpdateKind, info: &ImageInfo, work: &Path) -> Result<PathBuf> {
    let (_, original, app) = daemon_app(info, work)?;
    let name = SnapFile::open(&original)?.info().name.clone();
    if kind == UpdateKind::GoodApp {
        let out = work.join(format!("{name}_update.snap"));
        repack(&original, "update", &out, |root, _| {
            write_script(root, "meta/hooks/post-refresh", POST_REFRESH)?;
            write_script(root, "meta/hooks/check-health", HEALTHY)
        })?;
        return Ok(out);
    }
    let dir = work.join("app-updates");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    repack(&original, "sick", &dir.join(SICK_FILE), |root, _| {
        write_script(root, "meta/hooks/check-health", SICK)
    })?;
    repack(
        &original,
        "crash-loop",
        &dir.join(CRASH_FILE),
        |root, yaml| {
            wrap_command(yaml, &app, CRASH_ALWAYS)?;
            write_script(root, CRASH_ALWAYS, CRASH_ALWAYS_SCRIPT)
        },
    )?;
    Ok(dir)
}

/// The file names of [`UpdateKind::BadApps`]'s two snaps, in the order the device takes them.
pub const SICK_FILE: &str = "app-1-sick.snap";
pub const CRASH_FILE: &str = "app-2-crash-loop.snap";

/// Extracts `snap`, lets `change` edit the tree and its parsed snap.yaml, appends `+<tag>` to
/// the version and packs the result into `out`.
fn repack(
    snap: &Path,
    tag: &str,
    out: &Path,
    change: impl FnOnce(&Path, &mut serde_yaml::Value) -> Result<()>,
) -> Result<()> {
    let file = SnapFile::open(snap)?;
    let tree = tempfile::tempdir().context("creating a directory for the app's tree")?;
    let root = tree.path().join("tree");
    file.extract_to(&root)?;
    let yaml_path = root.join("meta/snap.yaml");
    let text = std::fs::read_to_string(&yaml_path)
        .with_context(|| format!("reading {}", yaml_path.display()))?;
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(&text).context("meta/snap.yaml")?;
    change(&root, &mut yaml)?;
    let version = yaml["version"]
        .as_str()
        .map_or_else(|| format!("{:?}", yaml["version"]), str::to_string);
    yaml["version"] = format!("{version}+{tag}").into();
    std::fs::write(&yaml_path, serde_yaml::to_string(&yaml)?)
        .with_context(|| format!("writing {}", yaml_path.display()))?;
    let options = PackOptions {
        compression: Compression::Gzip,
        mtime: 0,
    };
    crate::snap::pack_dir(&root, out, &options)
        .with_context(|| format!("repacking {}", snap.display()))?;
    Ok(())
}

/// Prefixes `app`'s command in `yaml` with `wrapper`.
fn wrap_command(yaml: &mut serde_yaml::Value, app: &str, wrapper: &str) -> Result<()> {
    let command = yaml["apps"][app]["command"]
        .as_str()
        .with_context(|| format!("meta/snap.yaml: apps.{app}.command is missing"))?
        .to_string();
    yaml["apps"][app]["command"] = format!("{wrapper} {command}").into();
    Ok(())
}

/// Writes an executable script at `rel` under `root`.
fn write_script(root: &Path, rel: &str, text: &str) -> Result<()> {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().context("script path")?)?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_revisions_count_up() {
        let installed = [
            "hello_1.snap",
            "hello_x2.snap",
            "core_x9.snap",
            "hello_x10.snap",
        ]
        .map(String::from);
        assert_eq!(next_local(&installed, "hello"), 11);
        assert_eq!(next_local(&installed, "other"), 1);
    }
}
