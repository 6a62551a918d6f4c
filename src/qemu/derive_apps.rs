//! App revisions the harness derives from an image's own app snaps (for the `app-daemons`
//! scenario): a new local revision of the first app snap with a daemon, whose daemon fails its
//! first start, so the device's supervisor has to restart it. The daemon's `command` is
//! prefixed by a wrapper (`bin/snapsmith-crash-once`, a busybox script: the example's bases
//! are busybox) that exits 1 once, leaving `$SNAP_DATA/.first-start-failed`, and otherwise
//! execs the original command. Its `restart-delay` is `RESTART_DELAY` (3 s), so that the restart
//! comes after the run marker and the agent's idle marker, in an order a scenario can wait for.
//! The harness installs the result beside the original on ubuntu-data; with no `current` link
//! yet, the device activates the newest revision.

use super::ImageInfo;
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

/// Derives the crash-on-first-start revision of the image's first app snap with a daemon.
pub fn derive_crashing_app(info: &ImageInfo, work: &Path) -> Result<DerivedApp> {
    let env = &info.modeenv;
    let system =
        |f: &str| f == env.base || f == env.gadget || env.current_kernels.iter().any(|k| k == f);
    for file in info.installed.iter().filter(|f| !system(f)) {
        let original = super::installed_snap(info, file, work)?;
        let snap = SnapFile::open(&original)?;
        let Some(app) = snap.info().daemons().first().map(|s| (*s).to_string()) else {
            continue;
        };
        let name = snap.info().name.clone();
        let file_name = format!("{name}_x{}.snap", next_local(&info.installed, &name));
        let out = work.join(&file_name);
        crash_first_start(&original, &app, &out)?;
        return Ok(DerivedApp {
            snap: out,
            file_name,
            daemon: format!("{name}.{app}"),
        });
    }
    bail!(
        "{}: no installed app snap has a daemon to derive a failing revision from",
        info.path.display()
    )
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
    let file = SnapFile::open(snap)?;
    let tree = tempfile::tempdir().context("creating a directory for the app's tree")?;
    let root = tree.path().join("tree");
    file.extract_to(&root)?;
    let yaml_path = root.join("meta/snap.yaml");
    let text = std::fs::read_to_string(&yaml_path)
        .with_context(|| format!("reading {}", yaml_path.display()))?;
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(&text).context("meta/snap.yaml")?;
    let command = yaml["apps"][app]["command"]
        .as_str()
        .with_context(|| format!("meta/snap.yaml: apps.{app}.command is missing"))?
        .to_string();
    yaml["apps"][app]["command"] = format!("{WRAPPER} {command}").into();
    yaml["apps"][app]["restart-delay"] = RESTART_DELAY.into();
    let version = yaml["version"]
        .as_str()
        .map_or_else(|| format!("{:?}", yaml["version"]), str::to_string);
    yaml["version"] = format!("{version}+crash").into();
    std::fs::write(&yaml_path, serde_yaml::to_string(&yaml)?)
        .with_context(|| format!("writing {}", yaml_path.display()))?;
    let wrapper = root.join(WRAPPER);
    std::fs::create_dir_all(wrapper.parent().context("wrapper path")?)?;
    std::fs::write(&wrapper, WRAPPER_SCRIPT)?;
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let options = PackOptions {
        compression: Compression::Gzip,
        mtime: 0,
    };
    crate::snap::pack_dir(&root, out, &options)
        .with_context(|| format!("repacking {} with a failing first start", snap.display()))?;
    Ok(())
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
