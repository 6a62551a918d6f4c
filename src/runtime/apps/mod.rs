//! Apps on the device: in run mode, before the run marker, PID 1 mounts every installed app
//! snap at `/snap/<name>/<rev>` (`layout`), prepares snapd's data dirs on ubuntu-data, runs
//! the `install` hook of a snap installed for the first time, and forks one `supervise` process
//! per snap, which starts its daemons (confined by `confine` unless devmode) and keeps them
//! running; [`stop`] ends them cleanly before a reboot or poweroff. An app update is refreshed
//! at once and reverted by itself when it fails ([`refresh`]). Nothing here fails the boot: a
//! snap that cannot run gets an `app error` marker naming the reason and is left as it was.
//! docs/apps.md has the markers, the layout and the refresh state machine.

mod confine;
mod layout;
mod policy;
mod refresh;
mod spawn;
mod supervise;
mod uids;

pub use refresh::refresh;

use super::shared::{MARKER, WRITABLE, console, read_modeenv};
use crate::boot::modeenv::Modeenv;
use crate::snap::apps::{self as snap_apps, Confinement, InstallMode, SnapApps};
use crate::snap::{SnapInfo, SnapType};
use anyhow::{Context, Result, bail};
use spawn::AppContext;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

/// The running supervisors, one per snap with services, in start order: (snap, pid).
static SUPERVISORS: Mutex<Vec<(String, i32)>> = Mutex::new(Vec::new());

fn marker(line: &str) {
    console(&format!("{MARKER} app {line}"));
}

/// Starts the daemons of every installed app snap and returns once they are started (run
/// mode, PID 1, before the run marker). Problems are reported as markers, never as errors.
pub fn start() {
    match prepare() {
        Ok(prepared) => {
            for snap in prepared {
                if let Err(err) = supervise_snap(snap.units, None) {
                    marker(&format!("error supervisor: {err:#}"));
                }
            }
        }
        Err(err) => marker(&format!("error {err:#}")),
    }
}

/// Stops the daemons, snap by snap in reverse start order (SIGTERM to each supervisor, which
/// stops its services in reverse order with their stop-timeouts), and waits for them.
pub fn stop() {
    let running = std::mem::take(&mut *supervisors());
    for (_, pid) in running.into_iter().rev() {
        stop_pid(pid);
    }
}

/// Stops the daemons of snap `name`; a no-op when none runs.
fn stop_snap(name: &str) {
    let pids: Vec<i32> = {
        let mut all = supervisors();
        let (mine, rest) = all.drain(..).partition(|(n, _)| n == name);
        *all = rest;
        mine.into_iter().map(|(_, pid)| pid).collect()
    };
    for pid in pids {
        stop_pid(pid);
    }
}

fn supervisors() -> std::sync::MutexGuard<'static, Vec<(String, i32)>> {
    SUPERVISORS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn stop_pid(pid: i32) {
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        while libc::waitpid(pid, std::ptr::null_mut(), 0) < 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
    }
}

/// The revision the `current` link of snap `name` names on ubuntu-data, if any.
pub fn active_revision(name: &str) -> Option<String> {
    layout::read_current(&layout::data_root(name))
}

/// What the agent knows of the installed snaps: the boot state, the snap files, their dir.
struct Installed {
    env: Modeenv,
    files: Vec<String>,
    snaps_dir: PathBuf,
}

impl Installed {
    fn read() -> Result<Installed> {
        let snaps_dir = Path::new(WRITABLE).join(crate::seed::DATA_SNAPS_DIR);
        let env = read_modeenv(&Path::new(WRITABLE).join(crate::seed::MODEENV_PATH))?;
        let mut files: Vec<String> = std::fs::read_dir(&snaps_dir)
            .with_context(|| format!("listing {}", snaps_dir.display()))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|f| !f.starts_with('.'))
            .collect();
        files.sort();
        Ok(Installed {
            env,
            files,
            snaps_dir,
        })
    }

    fn snap(&self, name: &str, revision: &str) -> layout::Installed {
        layout::Installed {
            name: name.to_string(),
            revision: revision.to_string(),
            file: self.snaps_dir.join(format!("{name}_{revision}.snap")),
        }
    }
}

/// An app snap ready to run: its context, its apps and hooks, the services to start.
struct Prepared {
    ctx: Rc<AppContext>,
    apps: SnapApps,
    units: Vec<supervise::Unit>,
}

/// Mounts and prepares every app snap (first putting back what an interrupted refresh left);
/// returns them in start order.
fn prepare() -> Result<Vec<Prepared>> {
    refresh::undo_interrupted();
    let installed = Installed::read()?;
    let candidates = layout::choose_active(&installed.files, &installed.env, |name| {
        layout::read_current(&layout::data_root(name))
    });
    let mut prepared = Vec::new();
    for (name, revision, _) in candidates {
        layout::prepare_mounts_once()?;
        match prepare_snap(&installed.snap(&name, &revision), &installed) {
            Ok(Some(snap)) => prepared.push(snap),
            Ok(None) => {}
            Err(err) => marker(&format!("error {name}: {err:#}")),
        }
    }
    Ok(prepared)
}

/// Mounts one snap (unless mounted) and links it `current`; for an app snap, prepares its
/// data (linked `current` too) and hooks and returns it; `None` for another type.
fn prepare_snap(snap: &layout::Installed, installed: &Installed) -> Result<Option<Prepared>> {
    let root = layout::mount_app(snap)?;
    let yaml_path = root.join("meta/snap.yaml");
    let yaml =
        std::fs::read(&yaml_path).with_context(|| format!("reading {}", yaml_path.display()))?;
    let info = SnapInfo::parse(&yaml).with_context(|| format!("{}", yaml_path.display()))?;
    if info.snap_type != SnapType::App {
        layout::unmount_app(snap);
        return Ok(None);
    }
    let apps = snap_apps::parse(&yaml, &hook_files(&root))
        .with_context(|| format!("{}", yaml_path.display()))?;
    if apps.confinement == Confinement::Classic {
        bail!("classic confinement needs a classic system, which Ubuntu Core is not");
    }
    let base_root = match apps.confinement {
        Confinement::Strict => mount_base(apps.base.as_deref().unwrap_or("core"), installed)?,
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
    let units = services(&apps, first, &ctx);
    Ok(Some(Prepared { ctx, apps, units }))
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
fn mount_base(name: &str, installed: &Installed) -> Result<String> {
    let env = &installed.env;
    let booted = layout::split_file_name(&env.base).filter(|(n, _)| *n == name);
    let (file, rev) = match booted {
        Some((_, rev)) => (env.base.clone(), rev.to_string()),
        None => {
            let found = installed
                .files
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
            file: installed.snaps_dir.join(file),
        })?;
    }
    Ok(at.to_string_lossy().into_owned())
}

/// Forks a supervisor for one snap's `units` (none for an empty list), records it for [`stop`]
/// and waits until it has started every unit; with `report`, the supervisor writes one byte
/// there for each failed exit of a unit (see [`supervise::run`]).
fn supervise_snap(units: Vec<supervise::Unit>, report: Option<OwnedFd>) -> Result<()> {
    let Some(name) = units.first().map(|u| u.ctx.snap.clone()) else {
        return Ok(());
    };
    let pid = fork_supervisor(units, report)?;
    supervisors().push((name, pid));
    Ok(())
}

/// A pipe, both ends close-on-exec: (read, write).
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("creating a pipe");
    }
    // SAFETY: both descriptors were just created and are owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Forks the supervisor and waits until it has started every unit.
fn fork_supervisor(units: Vec<supervise::Unit>, report: Option<OwnedFd>) -> Result<i32> {
    let (read, write) = pipe()?;
    // SAFETY: besides this thread PID 1 has at most the watchdog's feeder, which takes no lock
    // the child uses, so the child may go on running Rust code.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(std::io::Error::last_os_error()).context("forking the supervisor"),
        0 => {
            drop(read);
            // SAFETY: makes this process the reaper of what its daemons fork.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
            supervise::run(units, write, report)
        }
        pid => {
            drop(write);
            drop(report);
            // EOF: the supervisor closed its end once every unit was started (or it died).
            let mut byte = [0u8; 1];
            let _ = std::io::Read::read(&mut std::fs::File::from(read), &mut byte);
            Ok(pid)
        }
    }
}
