//! Apps on the device: in run mode, before the run marker, PID 1 mounts every installed app
//! snap at `/snap/<name>/<rev>` (`layout`), prepares snapd's data dirs on ubuntu-data, runs
//! the `install` hook of a snap installed for the first time, and forks the `supervise`
//! process, which starts the daemons (confined by `confine` unless devmode) and keeps them
//! running; [`stop`] ends them cleanly before a reboot or poweroff. Nothing here fails the
//! boot: a snap that cannot run gets an `app error` marker naming the reason and is left as it
//! was. docs/apps.md has the markers and the layout.

mod confine;
mod layout;
mod policy;
mod spawn;
mod supervise;
mod uids;

use super::shared::{MARKER, WRITABLE, console, read_modeenv};
use crate::boot::modeenv::Modeenv;
use crate::snap::apps::{self as snap_apps, Confinement, InstallMode, SnapApps};
use crate::snap::{SnapInfo, SnapType};
use anyhow::{Context, Result, bail};
use spawn::AppContext;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicI32, Ordering};

/// The supervisor's pid, for [`stop`]; 0 when none runs.
static SUPERVISOR: AtomicI32 = AtomicI32::new(0);

fn marker(line: &str) {
    console(&format!("{MARKER} app {line}"));
}

/// Starts the daemons of every installed app snap and returns once they are started (run
/// mode, PID 1, before the run marker). Problems are reported as markers, never as errors.
pub fn start() {
    match prepare() {
        Ok(units) if units.is_empty() => {}
        Ok(units) => match fork_supervisor(units) {
            Ok(pid) => SUPERVISOR.store(pid, Ordering::SeqCst),
            Err(err) => marker(&format!("error supervisor: {err:#}")),
        },
        Err(err) => marker(&format!("error {err:#}")),
    }
}

/// Stops the daemons (SIGTERM to the supervisor, which stops them in reverse order with their
/// stop-timeouts) and waits for it; a no-op when none runs.
pub fn stop() {
    let pid = SUPERVISOR.swap(0, Ordering::SeqCst);
    if pid <= 0 {
        return;
    }
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        while libc::waitpid(pid, std::ptr::null_mut(), 0) < 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
    }
}

/// Mounts and prepares every app snap; returns the services to supervise in start order.
fn prepare() -> Result<Vec<supervise::Unit>> {
    let snaps_dir = Path::new(WRITABLE).join(crate::seed::DATA_SNAPS_DIR);
    let env = read_modeenv(&Path::new(WRITABLE).join(crate::seed::MODEENV_PATH))?;
    let mut files: Vec<String> = std::fs::read_dir(&snaps_dir)
        .with_context(|| format!("listing {}", snaps_dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    files.sort();
    let candidates = layout::choose_active(&files, &env, |name| {
        layout::read_current(&layout::data_root(name))
    });
    let mut units = Vec::new();
    let mut mounted = false;
    for (name, revision, file) in candidates {
        if !mounted {
            layout::prepare_mounts()?;
            mounted = true;
        }
        let installed = layout::Installed {
            name: name.clone(),
            revision,
            file: snaps_dir.join(file),
        };
        match prepare_snap(&installed, &env, &files, &snaps_dir) {
            Ok(mut more) => units.append(&mut more),
            Err(err) => marker(&format!("error {name}: {err:#}")),
        }
    }
    Ok(units)
}

/// Mounts one snap; for an app snap, prepares its data and hooks and returns its services.
fn prepare_snap(
    snap: &layout::Installed,
    env: &Modeenv,
    files: &[String],
    snaps_dir: &Path,
) -> Result<Vec<supervise::Unit>> {
    let root = layout::mount_app(snap)?;
    let yaml_path = root.join("meta/snap.yaml");
    let yaml =
        std::fs::read(&yaml_path).with_context(|| format!("reading {}", yaml_path.display()))?;
    let info = SnapInfo::parse(&yaml).with_context(|| format!("{}", yaml_path.display()))?;
    if info.snap_type != SnapType::App {
        layout::unmount_app(snap);
        return Ok(Vec::new());
    }
    let apps = snap_apps::parse(&yaml, &hook_files(&root))
        .with_context(|| format!("{}", yaml_path.display()))?;
    if apps.confinement == Confinement::Classic {
        bail!("classic confinement needs a classic system, which Ubuntu Core is not");
    }
    let base_root = match apps.confinement {
        Confinement::Strict => mount_base(
            apps.base.as_deref().unwrap_or("core"),
            env,
            files,
            snaps_dir,
        )?,
        _ => "/".to_string(),
    };
    let uid = uids::uid_for(&snap.name)?;
    let first = layout::prepare_data(&snap.name, &snap.revision, uid)?;
    let ctx = Rc::new(AppContext {
        snap: snap.name.clone(),
        version: apps.version.clone(),
        revision: snap.revision.clone(),
        confinement: apps.confinement,
        uid,
        base_root,
    });
    if apps.confinement == Confinement::Devmode {
        marker(&format!(
            "unconfined {} rev={} confinement=devmode",
            ctx.snap, ctx.revision
        ));
    }
    if first && apps.has_hook("install") && !supervise::run_hook(&ctx, "install") {
        let _ = std::fs::remove_dir_all(layout::data_root(&snap.name));
        bail!("the install hook failed: services not started, data removed");
    }
    Ok(services(&apps, first, &ctx))
}

/// The services to start: all, except on first install those with `install-mode: disable`.
fn services(apps: &SnapApps, first: bool, ctx: &Rc<AppContext>) -> Vec<supervise::Unit> {
    apps.services
        .iter()
        .filter(|s| !(first && s.install_mode == InstallMode::Disable))
        .map(|s| supervise::Unit::new(Rc::clone(ctx), s.clone()))
        .collect()
}

/// File names under the mounted snap's `meta/hooks/`.
fn hook_files(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join("meta/hooks"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Mounts the base snap `name` at /snap/<name>/<rev> (the booted revision when it is the
/// running base) and returns that path.
fn mount_base(name: &str, env: &Modeenv, files: &[String], snaps_dir: &Path) -> Result<String> {
    let booted = layout::split_file_name(&env.base).filter(|(n, _)| *n == name);
    let (file, rev) = match booted {
        Some((_, rev)) => (env.base.clone(), rev.to_string()),
        None => {
            let found = files
                .iter()
                .filter_map(|f| layout::split_file_name(f).map(|(n, r)| (f, n, r)))
                .rfind(|(_, n, _)| *n == name)
                .with_context(|| format!("its base {name:?} is not installed"))?;
            (found.0.clone(), found.2.to_string())
        }
    };
    let at: PathBuf = Path::new(layout::SNAP_MOUNTS).join(name).join(&rev);
    if !at.join("meta").is_dir() {
        layout::mount_app(&layout::Installed {
            name: name.to_string(),
            revision: rev,
            file: snaps_dir.join(file),
        })?;
    }
    Ok(at.to_string_lossy().into_owned())
}

/// Forks the supervisor and waits until it has started every unit.
fn fork_supervisor(units: Vec<supervise::Unit>) -> Result<i32> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("creating a pipe");
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: besides this thread PID 1 has at most the watchdog's feeder, which takes no lock
    // the child uses, so the child may go on running Rust code.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(std::io::Error::last_os_error()).context("forking the supervisor"),
        0 => {
            drop(read);
            // SAFETY: makes this process the reaper of what its daemons fork.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
            supervise::run(units, write)
        }
        pid => {
            drop(write);
            // EOF: the supervisor closed its end once every unit was started (or it died).
            let mut byte = [0u8; 1];
            let _ = std::io::Read::read(&mut std::fs::File::from(read), &mut byte);
            Ok(pid)
        }
    }
}
