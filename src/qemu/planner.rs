//! The validate planner, pure: the scenarios and what was read from the image become the boots
//! to run ([`PlannedBoot`]: the disks each one needs, the markers it expects in order with
//! their timeouts, how it must end) and the updates to derive once for all of them.

use super::derive::ImageInfo;
use super::hostcheck::{self, CheckKind};
use super::powercut::{Chosen, Phase, PowerCut};
use super::scenario::{Damage, Expect, Outcome, Revision, Scenario, UpdateKind, Wait, expand};
use crate::boot::update;
use crate::snap::SnapType;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// How the image is booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootPath {
    /// OVMF -> GRUB on the image's ESP.
    Firmware,
    /// QEMU loads the current kernel snap's vmlinuz and initrd.img.
    DirectKernel,
}

/// A console marker to wait for.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// How the step reads in reports (the marker, with its placeholders filled in).
    pub marker: String,
    /// What to wait for, placeholders filled in.
    pub wait: Wait,
    /// Seconds, counted from the previous marker.
    pub timeout: f64,
    /// Console texts that must not appear since the previous step, placeholders filled in.
    pub absent: Vec<String>,
}

/// The update disk of a boot: the derived update it holds (the snap and its assertions).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateDisk {
    pub update: UpdateKind,
}

/// One boot of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBoot {
    pub name: String,
    /// `None`: the image boots alone.
    pub update_disk: Option<UpdateDisk>,
    pub expected: Vec<Expected>,
    /// Kernel panics and error lines on the way do not fail the boot.
    pub tolerate_failures: bool,
    /// With `tolerate_failures`: the failures after which the boot fails all the same.
    pub max_failures: Option<usize>,
    pub outcome: Outcome,
    /// Why the boot cannot run on this image (it then fails without a VM).
    pub refused: Option<String>,
    /// Files the harness writes onto ubuntu-data before the boot (paths on the filesystem).
    pub data: BTreeMap<String, Vec<u8>>,
    /// Values the harness sets in the seed's grubenv before the boot.
    pub seed_env: BTreeMap<String, String>,
    /// What the harness destroys on the disk before the boot.
    pub damage: Vec<Damage>,
    /// A rogue disk is attached before the boot disk.
    pub rogue_disk: bool,
    /// Paths on ubuntu-data the harness opens to all before the boot.
    pub open: Vec<String>,
    /// A derived app revision that fails its first start is installed before the boot (its
    /// file is added to `data` and to the expected snaps once derived).
    pub crashing_app: bool,
    /// The host checks to run on the disk after the VM stopped, and what they expect.
    pub host_checks: Vec<CheckKind>,
    pub expect: hostcheck::Expected,
    /// Console error patterns the scenario causes on purpose.
    pub expect_console: Vec<String>,
    /// A boot of the `power-cut` scenario: the power goes before `expected` (which then is
    /// what must follow once it is back).
    pub cut: Option<CutBoot>,
}

/// Where a boot of `power-cut` loses its power, and what the host may find afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct CutBoot {
    /// The cut's number in the run.
    pub index: usize,
    /// The point's name and phase.
    pub point: String,
    pub phase: Phase,
    /// The console marker the delay counts from, placeholders filled in.
    pub after: String,
    /// Seconds from QEMU's start to wait for `after`.
    pub timeout: f64,
    /// Seconds after `after` when the power goes.
    pub delay: f64,
    /// The seed the cuts were chosen from.
    pub seed: u64,
    /// The good outcomes: the host checks must pass for one of them.
    pub good: Vec<hostcheck::Expected>,
}

impl PlannedBoot {
    /// The boot's directory under the work directory (a cut's has its number).
    pub fn dir_name(&self) -> String {
        match &self.cut {
            Some(cut) => format!("{}-{:02}", self.name, cut.index + 1),
            None => self.name.clone(),
        }
    }
}

/// What a validate run does.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub boot: BootPath,
    /// The kernel command line of a direct kernel boot.
    pub direct_append: Option<String>,
    /// The updates to derive from the image's snaps, each once.
    pub derive: Vec<UpdateKind>,
    pub boots: Vec<PlannedBoot>,
}

/// Plans the scenarios for the image described by `info`.
pub fn plan(scenarios: &[Scenario], info: &ImageInfo) -> Result<Plan> {
    let boot = if info.has_bootloader {
        BootPath::Firmware
    } else {
        BootPath::DirectKernel
    };
    let direct_append = match boot {
        BootPath::Firmware => None,
        BootPath::DirectKernel => Some(format!(
            "console=ttyS0 panic=-1 snapsmith.mode=run snapsmith.kernel={}",
            info.kernel()?
        )),
    };
    let mut boots: Vec<PlannedBoot> = Vec::new();
    for s in scenarios {
        match &s.power_cut {
            Some(cuts) => {
                for chosen in cuts.choose() {
                    boots.push(plan_cut(s, cuts, chosen, boot, info)?);
                }
            }
            None => {
                let vars = placeholders(info, s.update.revision_step())?;
                boots.push(plan_boot(s, s.update, boot, &vars, info));
            }
        }
    }
    let mut derive: Vec<UpdateKind> = boots
        .iter()
        .filter_map(|b| b.update_disk.as_ref().map(|d| d.update))
        .filter(|k| *k != UpdateKind::None)
        .collect();
    derive.sort();
    derive.dedup();
    Ok(Plan {
        boot,
        direct_append,
        derive,
        boots,
    })
}

/// One cut of a `power-cut` scenario: a boot with its point's update.
fn plan_cut(
    s: &Scenario,
    cuts: &PowerCut,
    chosen: Chosen,
    boot: BootPath,
    info: &ImageInfo,
) -> Result<PlannedBoot> {
    let point = &cuts.points[chosen.point];
    let vars = placeholders(info, point.update.revision_step())?;
    let mut planned = plan_boot(s, point.update, boot, &vars, info);
    let good: Vec<hostcheck::Expected> = point
        .good
        .iter()
        .map(|e| disk_expectations(s, point.update, e, &vars, info))
        .collect();
    planned.expect = good.first().cloned().unwrap_or_default();
    planned.cut = Some(CutBoot {
        index: chosen.index,
        point: point.name.clone(),
        phase: point.phase,
        after: expand(&point.after, &vars),
        timeout: point.timeout,
        delay: chosen.delay,
        seed: cuts.seed,
        good,
    });
    Ok(planned)
}

fn plan_boot(
    s: &Scenario,
    update: UpdateKind,
    boot: BootPath,
    vars: &BTreeMap<&str, String>,
    info: &ImageInfo,
) -> PlannedBoot {
    // A scenario that leaves the VM running and gives the agent nothing to do boots the image
    // alone, as a PC would.
    let needs_disk = update != UpdateKind::None || s.outcome == Outcome::Poweroff;
    // The scenario's data files are written by the harness before boot (`data`), and the
    // harness powers the VM off with its power button: nothing on the update disk but snaps.
    let update_disk = needs_disk.then_some(UpdateDisk { update });
    let refused = (s.needs_bootloader && boot != BootPath::Firmware).then(|| {
        "needs GRUB, but the image's ESP has no EFI/BOOT/BOOTX64.EFI (booted without a \
         bootloader, kernel updates cannot be tried)"
            .to_string()
    });
    let refused = refused.or_else(|| {
        (update == UpdateKind::Forged && info.modeenv.grade == "dangerous").then(|| {
            "needs an image of grade signed: a dangerous model accepts unasserted updates"
                .to_string()
        })
    });
    let refused = refused.or_else(|| {
        (s.damage.contains(&Damage::SeedSnap) && info.modeenv.grade == "dangerous").then(|| {
            "needs an image of grade signed: a dangerous seed may hold unasserted snaps".to_string()
        })
    });
    PlannedBoot {
        name: s.name.clone(),
        update_disk,
        expected: s
            .steps
            .iter()
            .map(|st| Expected {
                marker: expand(&st.label(), vars),
                wait: match st.wait() {
                    Ok(Wait::Marker(m)) => Wait::Marker(expand(&m, vars)),
                    // Parsing checked that every step is one thing.
                    Ok(other) => other,
                    Err(why) => Wait::Marker(why),
                },
                timeout: st.timeout,
                absent: st.absent.iter().map(|a| expand(a, vars)).collect(),
            })
            .collect(),
        tolerate_failures: s.tolerate_failures,
        max_failures: s.max_failures,
        outcome: s.outcome,
        refused,
        data: data_files(s),
        seed_env: s.seed_env.clone(),
        damage: s.damage.clone(),
        rogue_disk: s.rogue_disk,
        open: s.open.iter().map(|p| format!("system-data/{p}")).collect(),
        crashing_app: s.crashing_app,
        host_checks: s.host_checks.clone(),
        expect: disk_expectations(s, update, &s.expect, vars, info),
        expect_console: s.expect_console.clone(),
        cut: None,
    }
}

/// The scenario's data files as paths on ubuntu-data (the agent's `write:` is relative to
/// `system-data/`).
fn data_files(s: &Scenario) -> BTreeMap<String, Vec<u8>> {
    s.write
        .iter()
        .map(|(rel, text)| (format!("system-data/{rel}"), text.clone().into_bytes()))
        .collect()
}

/// What the host checks expect after the scenario, with its revisions resolved to files.
fn disk_expectations(
    s: &Scenario,
    update: UpdateKind,
    expect: &Expect,
    vars: &BTreeMap<&str, String>,
    info: &ImageInfo,
) -> hostcheck::Expected {
    let pick = |rev: Revision, current: &str, new: &str| match rev {
        Revision::Current => vars[current].clone(),
        Revision::New => vars[new].clone(),
    };
    let mut snaps: std::collections::BTreeSet<String> = info.installed.iter().cloned().collect();
    let staged = match update.snap_type() {
        Some(SnapType::Kernel) => vars.get("new_kernel"),
        // The reverted revisions of BadApps are removed again.
        Some(SnapType::App) if update == UpdateKind::GoodApp => vars.get("new_app"),
        Some(SnapType::App) => None,
        Some(_) => vars.get("new_base"),
        None => None,
    };
    if let Some(file) = staged.filter(|_| expect.staged) {
        snaps.insert(file.clone());
    }
    hostcheck::Expected {
        kernel: pick(expect.kernel, "kernel", "new_kernel"),
        base: pick(expect.base, "base", "new_base"),
        snaps,
        data_files: data_files(s),
        seed_grubenv: info.seed_grubenv.clone(),
        data_digest: None,
        rogue: None,
        after: s.after.under("system-data/").expanded(vars),
    }
}

/// `{kernel}`, `{base}`, `{new_kernel}`, `{new_base}`, `{system}` for the image, the new ones for an update
/// `step` revisions ahead of the image's.
fn placeholders(info: &ImageInfo, step: u64) -> Result<BTreeMap<&'static str, String>> {
    let mut vars = BTreeMap::new();
    let kernel = info.kernel()?.to_string();
    let name_of = |file: &str| {
        file.rsplit_once('_')
            .map_or(file.to_string(), |(n, _)| n.to_string())
    };
    // Derived updates of a dangerous image are unasserted (the next local revision); of any
    // other, asserted `step` revisions after the installed one (see signing::assert_update).
    let next = |file: &str| {
        let name = name_of(file);
        let asserted = (info.modeenv.grade != "dangerous")
            .then(|| update::revision_of(file, &name).map(|r| r + step))
            .flatten();
        update::update_file(&name, asserted, &info.installed)
    };
    vars.insert("new_kernel", next(&kernel));
    vars.insert("new_base", next(&info.modeenv.base));
    if let Some(app) = &info.daemon_app {
        app_placeholders(&mut vars, info, app);
    }
    vars.insert("kernel", kernel);
    vars.insert("base", info.modeenv.base.clone());
    vars.insert("system", info.modeenv.recovery_system.clone());
    Ok(vars)
}

/// `{app}` (the installed file), `{app_name}`, `{app_rev}`, and the revisions of the derived
/// app updates: `{new_app}`/`{new_app_rev}` (the good one), `{sick_app_rev}` and
/// `{crash_app_rev}` (the two of BadApps, taken in that order).
fn app_placeholders(vars: &mut BTreeMap<&'static str, String>, info: &ImageInfo, app: &str) {
    let Some((name, rev)) = app.strip_suffix(".snap").and_then(|s| s.rsplit_once('_')) else {
        return;
    };
    let dangerous = info.modeenv.grade == "dangerous";
    // Each scenario has one update disk: the good revision, or BadApps's two, which the
    // device numbers one after the other when they are unasserted.
    let next = |step: u64, installed: &mut Vec<String>| {
        let asserted = (!dangerous)
            .then(|| update::revision_of(app, name).map(|r| r + step))
            .flatten();
        let file = update::update_file(name, asserted, installed);
        installed.push(file.clone());
        file
    };
    let rev_of = |file: &str| {
        file.strip_suffix(".snap")
            .and_then(|s| s.rsplit_once('_'))
            .map_or(String::new(), |(_, r)| r.to_string())
    };
    let good = next(1, &mut info.installed.clone());
    let mut installed = info.installed.clone();
    let sick = next(super::update_kind::SICK_APP_STEP, &mut installed);
    let crash = next(super::update_kind::CRASH_APP_STEP, &mut installed);
    vars.insert("new_app_rev", rev_of(&good));
    vars.insert("new_app", good);
    vars.insert("sick_app_rev", rev_of(&sick));
    vars.insert("crash_app_rev", rev_of(&crash));
    vars.insert("app_name", name.to_string());
    vars.insert("app_rev", rev.to_string());
    vars.insert("app", app.to_string());
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
