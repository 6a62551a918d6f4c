//! `snapsmith validate`: boots an image through its scenarios and reports. The image is read
//! ([`derive::read_image`]), the scenarios are planned ([`planner`], pure), the updates they
//! need are derived from the image's own snaps ([`derive`](mod@derive)), the boots run from a
//! queue with `jobs` VMs busy ([`queue`]) and what they showed is judged into the report
//! ([`judge`]).
//! Images with a bootloader on their ESP boot through OVMF and GRUB; images without one boot
//! their current kernel directly (kernel updates then cannot be tried, and scenarios that need
//! GRUB fail saying so). Two VMs at a time is the fastest setting measured on 2-core TCG hosts.

use super::derive::{self, ImageInfo};
use super::hostcheck::{self, CheckKind};
use super::judge;
use super::planner;
use super::queue::{self, Bench, BootSource, Update};
use super::scenario::{Scenario, UpdateKind};
use super::signing::{self, SignError};
use super::spec::Accel;
use crate::assertion::Keyring;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use judge::{MarkerReport, Report, ScenarioReport, render};
pub use planner::BootPath;

/// How to validate.
#[derive(Debug, Clone)]
pub struct Request {
    pub image: PathBuf,
    pub scenarios: Vec<Scenario>,
    /// Where overlays, update disks and serial logs go (logs are kept).
    pub work: PathBuf,
    /// Scenarios run at the same time.
    pub jobs: usize,
    pub accel: Accel,
    /// Guest memory; `None` keeps [`super::VmSpec::new`]'s.
    pub memory_mib: Option<u32>,
    /// Where the serial log goes when there is one scenario; `None` puts it in `work`.
    pub serial_log: Option<PathBuf>,
    /// The keyring with the key that signed the image's snaps, for asserting derived updates
    /// of images whose grade is not `dangerous`.
    pub keyring: Option<PathBuf>,
}

/// Runs the scenarios; a failing scenario is a report entry, not an error.
pub fn validate(req: &Request) -> Result<Report> {
    validate_streaming(req, &|_| {})
}

/// [`validate`], handing every serial line to `on_line` as it comes.
pub fn validate_streaming(req: &Request, on_line: &(dyn Fn(&str) + Sync)) -> Result<Report> {
    let started = Instant::now();
    std::fs::create_dir_all(&req.work)
        .with_context(|| format!("creating {}", req.work.display()))?;
    let image = std::path::absolute(&req.image)
        .with_context(|| format!("resolving {}", req.image.display()))?;
    super::host::tools()?;
    derive::forget_installed(&req.work)?;
    let info = image_info(req, &image)?;
    let mut plan = planner::plan(&req.scenarios, &info)?;
    install_crashing_app(&mut plan.boots, &info, &req.work)?;
    let copies = req.jobs.clamp(1, plan.boots.len().max(1));
    super::host::preflight(plan.boot, &image, &req.work, copies)?;
    let source = match (&plan.boot, &plan.direct_append) {
        (BootPath::DirectKernel, Some(append)) => {
            let (vmlinuz, initrd) = direct_kernel_files(&info, &req.work)?;
            BootSource::Direct {
                vmlinuz,
                initrd,
                append: append.clone(),
            }
        }
        _ => BootSource::Firmware,
    };
    let updates = derive_updates(&plan.derive, &info, req)?;
    let bench = Bench {
        image: image.clone(),
        source,
        accel: req.accel,
        work: req.work.clone(),
        memory_mib: req.memory_mib,
        serial_log: req.serial_log.clone().filter(|_| req.scenarios.len() == 1),
        updates,
        on_line,
    };
    let runs = queue::run_all(&bench, &plan.boots, req.jobs);
    let scenarios: Vec<ScenarioReport> = judge::merge(
        plan.boots
            .iter()
            .zip(runs)
            .map(|(boot, run)| judge::judge(boot, run))
            .collect(),
    );
    Ok(Report {
        image,
        accel: req.accel.name(),
        boot: plan.boot,
        passed: scenarios.iter().all(|r| r.passed),
        host_failure: scenarios.iter().any(|r| r.host_failure),
        total: started.elapsed().as_secs_f64(),
        scenarios,
    })
}

/// What the scenarios need to know of the image: [`derive::read_image`], plus the seed's
/// grubenv when a scenario checks the seed, and the app the app updates derive from when a
/// scenario updates an app.
fn image_info(req: &Request, image: &Path) -> Result<ImageInfo> {
    let mut info = derive::read_image(image)?;
    let checks_seed = req
        .scenarios
        .iter()
        .any(|s| s.host_checks.contains(&CheckKind::SeedUnchanged));
    if checks_seed {
        info.seed_grubenv = hostcheck::image_seed_grubenv(image)
            .with_context(|| format!("{}: reading the seed's grubenv", image.display()))?;
    }
    let updates_app = req
        .scenarios
        .iter()
        .any(|s| s.update.snap_type() == Some(crate::snap::SnapType::App));
    if updates_app {
        // An image without an app daemon is the reason of those scenarios (their update
        // cannot be derived), not an error of the run.
        info.daemon_app = derive::apps::daemon_app(&info, &req.work)
            .ok()
            .map(|(file, _, _)| file);
    }
    Ok(info)
}

/// Derives each update once and, for a signed grade, asserts it with the key from the keyring
/// that signed the image's own snap; a missing key is the reason of the scenarios that need
/// the update, not an error of the run.
fn derive_updates(
    kinds: &[UpdateKind],
    info: &ImageInfo,
    req: &Request,
) -> Result<BTreeMap<UpdateKind, Result<Update, String>>> {
    let seed = match info.seed {
        Some((offset, size)) => signing::read_seed_signing(&info.path, offset, size)?,
        None => None,
    };
    let keyring = req.keyring.as_deref().map(Keyring::open);
    let mut updates = BTreeMap::new();
    for kind in kinds {
        let Some(snap) = derive::derive_update(*kind, info, &req.work)? else {
            continue;
        };
        let assertions = match &seed {
            Some(seed) => signing::assert_update(&snap, *kind, seed, keyring.as_ref()),
            None => Ok(None),
        };
        let update = match assertions {
            Ok(assertions) => Ok(Update { snap, assertions }),
            Err(err @ SignError::NeedsKey(_)) => Err(err.to_string()),
            Err(SignError::Other(err)) => return Err(err),
        };
        updates.insert(*kind, update);
    }
    Ok(updates)
}

/// Derives, once, the app revision that fails its first start for the boots that install it,
/// and adds it to their data files and expected snaps; an image without an app daemon is the
/// reason of those boots, not an error of the run.
fn install_crashing_app(
    boots: &mut [planner::PlannedBoot],
    info: &ImageInfo,
    work: &Path,
) -> Result<()> {
    if !boots.iter().any(|b| b.crashing_app) {
        return Ok(());
    }
    let derived = match derive::apps::derive_crashing_app(info, work) {
        Ok(app) => Ok((
            app.file_name,
            std::fs::read(&app.snap).with_context(|| format!("reading {}", app.snap.display()))?,
        )),
        Err(e) => Err(format!("{e:#}")),
    };
    for boot in boots.iter_mut().filter(|b| b.crashing_app) {
        match &derived {
            Ok((file, bytes)) => {
                let path = format!("{}/{file}", crate::seed::DATA_SNAPS_DIR);
                boot.data.insert(path, bytes.clone());
                boot.expect.snaps.insert(file.clone());
            }
            Err(why) => {
                boot.refused.get_or_insert_with(|| why.clone());
            }
        }
    }
    Ok(())
}

/// The current kernel snap's vmlinuz and initrd.img, for direct kernel boot.
fn direct_kernel_files(info: &ImageInfo, work: &Path) -> Result<(PathBuf, PathBuf)> {
    let kernel = info.kernel()?;
    let snap_path = derive::installed_snap(info, kernel, work)?;
    let snap = crate::snap::SnapFile::open(&snap_path)?;
    let mut out = Vec::new();
    for name in ["vmlinuz", "initrd.img"] {
        let path = work.join(format!("direct-{name}"));
        std::fs::write(&path, snap.read_file(name)?)
            .with_context(|| format!("writing {}", path.display()))?;
        out.push(path);
    }
    Ok((out.remove(0), out.remove(0)))
}
