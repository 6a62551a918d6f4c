//! Validation scenarios as data (qemu/scenarios/*.yaml, built in; or a file): which update the
//! validator derives from the image's own snaps and puts on the update disk, which data files
//! the harness writes onto ubuntu-data before boot (and sets in the seed's grubenv, or
//! destroys), the console markers to wait for in order (each with a timeout), the expected
//! end, and the host checks that read the disk afterwards. Markers may use `{kernel}`,
//! `{base}` (the image's current snaps), `{system}` (the recovery system's label) and
//! `{new_kernel}`, `{new_base}` (the file names the agent gives the staged update).

use super::hostcheck::CheckKind;
use super::powercut::PowerCut;
pub use super::update_kind::UpdateKind;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Default wait for one marker: TCG boots take 10-30 s, several VMs may share the host.
pub const DEFAULT_STEP_TIMEOUT: f64 = 120.0;

/// Damage the harness does to the scenario's disk before boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Damage {
    /// ubuntu-data's primary ext4 superblock is overwritten with zeros: the filesystem is lost.
    DataSuperblock,
    /// One byte of the seed's gadget snap file (`snaps/<gadget>_<rev>.snap`) is flipped: its
    /// digest no longer matches its snap-revision.
    SeedSnap,
    /// Every kernel image (`vmlinuz`, `kernel.efi`) on ubuntu-boot is deleted: GRUB finds no
    /// run-mode kernel to boot.
    BootKernels,
    /// ubuntu-boot's first grubenv copy (`EFI/ubuntu/grubenv`) is overwritten with garbage of
    /// its size: GRUB and the agent must fall back to the second copy.
    BootGrubenv,
}

/// How the VM must end after the last marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// QEMU exits by itself with status 0 (the agent powered off).
    Poweroff,
    /// The last marker is enough; the VM is stopped.
    Running,
}

/// One thing to wait for or do: exactly one of `marker`, `event`, `reset-after-hang`, `reset`
/// and `host-check`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Step {
    /// A console line containing this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// A QMP event of this name, such as `WATCHDOG` (the guest's watchdog fired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The guest hangs: this many seconds pass without a `snapsmith:` line, then the harness
    /// resets the machine through QMP, standing in for the watchdog a real board's firmware
    /// arms before the kernel runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_after_hang: Option<f64>,
    /// The harness resets the machine now through QMP (a person pressing reset, as one leaves
    /// recover mode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// The harness pauses the VM (QMP `stop`, which drains its I/O), runs this host check on
    /// the disk as it is at this point, and lets the VM go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_check: Option<CheckKind>,
    /// Console texts that must not appear between the previous step and this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    /// Seconds, counted from the previous step.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
}

/// What a [`Step`] waits for or does.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    Marker(String),
    Event(String),
    /// Seconds of silence, then a reset.
    HangThenReset(f64),
    /// A reset now.
    Reset,
    /// A host check with the VM paused.
    HostCheck(CheckKind),
}

impl Step {
    /// A step that waits for a console marker.
    pub fn marker(marker: &str, timeout: f64) -> Step {
        Step {
            marker: Some(marker.to_string()),
            event: None,
            reset_after_hang: None,
            reset: false,
            absent: Vec::new(),
            host_check: None,
            timeout,
        }
    }

    /// What the step waits for, or why it is not one thing.
    pub fn wait(&self) -> Result<Wait, String> {
        let set = [
            self.marker.is_some(),
            self.event.is_some(),
            self.reset_after_hang.is_some(),
            self.reset,
            self.host_check.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err(
                "a step has exactly one of marker, event, reset-after-hang, reset and host-check"
                    .into(),
            );
        }
        Ok(match (&self.marker, &self.event, self.reset_after_hang) {
            (Some(m), _, _) => Wait::Marker(m.clone()),
            (_, Some(e), _) => Wait::Event(e.clone()),
            (_, _, Some(secs)) if secs.is_finite() && secs > 0.0 => Wait::HangThenReset(secs),
            (_, _, Some(_)) => {
                return Err("reset-after-hang must be a positive number of seconds".into());
            }
            _ => match self.host_check {
                Some(kind) => Wait::HostCheck(kind),
                None => Wait::Reset,
            },
        })
    }

    /// How the step reads in reports.
    pub fn label(&self) -> String {
        match self.wait() {
            Ok(Wait::Marker(m)) => m,
            Ok(Wait::Event(e)) => format!("QMP event {e}"),
            Ok(Wait::HangThenReset(s)) => format!("hang for {s} s, then reset through QMP"),
            Ok(Wait::Reset) => "reset through QMP".to_string(),
            Ok(Wait::HostCheck(k)) => format!("host check {} with the VM paused", k.name()),
            Err(e) => e,
        }
    }
}

fn default_timeout() -> f64 {
    DEFAULT_STEP_TIMEOUT
}

/// Which revision the host checks expect to find booted after the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Revision {
    /// The image's own.
    #[default]
    Current,
    /// The scenario's update.
    New,
}

/// What the host checks expect on the disk after the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Expect {
    /// The kernel grubenv and modeenv must name.
    #[serde(default)]
    pub kernel: Revision,
    /// The base the modeenv must name.
    #[serde(default)]
    pub base: Revision,
    /// The update's snap file is among the installed snaps (it was staged).
    #[serde(default)]
    pub staged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub update: UpdateKind,
    /// Kernel updates are tried by GRUB: the image must boot through firmware and GRUB.
    #[serde(default)]
    pub needs_bootloader: bool,
    /// Kernel panics and `snapsmith: error` lines are part of the scenario (else they fail it).
    #[serde(default)]
    pub tolerate_failures: bool,
    /// With `tolerate-failures`: the tolerated panics and error lines after which the scenario
    /// fails all the same (each one rebooted the guest); none means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<usize>,
    /// Data files the harness writes under system-data/ on ubuntu-data before boot; the
    /// `data-files` host check reads them back afterwards.
    #[serde(default)]
    pub write: BTreeMap<String, String>,
    /// Values the harness sets in the seed's grubenv before boot (`snapd_recovery_mode:
    /// recover` asks for recover mode, as a person at the GRUB console would).
    #[serde(default)]
    pub seed_env: BTreeMap<String, String>,
    /// What the harness destroys on the disk before boot.
    #[serde(default)]
    pub damage: Vec<Damage>,
    /// A rogue disk ([`super::rogue`]) is attached writable, before the boot disk.
    #[serde(default)]
    pub rogue_disk: bool,
    /// The harness installs on ubuntu-data a derived revision of the image's first app snap
    /// with a daemon, whose daemon fails its first start ([`super::derive::apps`]).
    #[serde(default)]
    pub crashing_app: bool,
    /// Paths under system-data/ the harness opens to all before boot (after `write`), and
    /// what ubuntu-data must hold afterwards (the `data-after` host check).
    #[serde(default)]
    pub open: Vec<String>,
    #[serde(default)]
    pub after: super::hostcheck::After,
    pub steps: Vec<Step>,
    pub outcome: Outcome,
    /// What the host reads on the scenario's disk after its VM stopped; the scenario passes
    /// only when every one of them passes too.
    #[serde(default)]
    pub host_checks: Vec<CheckKind>,
    /// What those checks expect.
    #[serde(default)]
    pub expect: Expect,
    /// Console error patterns the scenario causes on purpose (names from
    /// [`super::console::ERROR_PATTERNS`]); any other one fails it.
    #[serde(default)]
    pub expect_console: Vec<String>,
    /// Cuts the power at points of an update (see [`super::powercut`]); each cut is a boot of
    /// its own, and `steps` are what the device must show once the power is back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_cut: Option<PowerCut>,
    /// Runs when no scenario is named (`false`: only by name, as `power-cut`).
    #[serde(default = "yes")]
    pub default_set: bool,
}

fn yes() -> bool {
    true
}

/// A built-in scenario: its name and `qemu/scenarios/<name>.yaml`.
macro_rules! builtin {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../qemu/scenarios/", $name, ".yaml")),
        )
    };
}

const BUILTIN: &[(&str, &str)] = &[
    builtin!("first-boot"),
    builtin!("good-kernel-update"),
    builtin!("bad-kernel-rollback"),
    builtin!("rollback-sticks"),
    builtin!("bad-base-rollback"),
    builtin!("good-base-update"),
    builtin!("kernel-unloadable"),
    builtin!("kernel-hang"),
    builtin!("hang-before-commit"),
    builtin!("forged-update"),
    builtin!("app-daemons"),
    builtin!("app-confinement"),
    builtin!("app-update-good"),
    builtin!("app-update-revert"),
    builtin!("recover-on-request"),
    builtin!("recover-by-command"),
    builtin!("recover-unknown-system"),
    builtin!("recover-when-data-lost"),
    builtin!("recover-when-boot-lost"),
    builtin!("recover-refuses-bad-seed"),
    builtin!("rogue-disk"),
    builtin!("grubenv-corrupt"),
    builtin!("power-cut"),
];

impl Scenario {
    /// Parses scenario YAML; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario> {
        let s: Scenario =
            serde_yaml::from_str(text).with_context(|| format!("scenario {origin}"))?;
        if s.steps.is_empty() {
            bail!("scenario {origin}: steps: at least one marker is needed");
        }
        let known: Vec<&str> = super::console::ERROR_PATTERNS
            .iter()
            .map(|(_, n)| *n)
            .collect();
        if let Some(bad) = s
            .expect_console
            .iter()
            .find(|p| !known.contains(&p.as_str()))
        {
            bail!(
                "scenario {origin}: expect-console: unknown pattern {bad:?} (known: {})",
                known.join(", ")
            );
        }
        if let Some(Err(why)) = s.power_cut.as_ref().map(PowerCut::check) {
            bail!("scenario {origin}: {why}");
        }
        for (i, step) in s.steps.iter().enumerate() {
            if let Err(why) = step.wait() {
                bail!("scenario {origin}: steps[{i}]: {why}");
            }
            if !(step.timeout.is_finite() && step.timeout > 0.0) {
                bail!(
                    "scenario {origin}: steps[{i}] ({}): timeout must be a positive number of \
                     seconds",
                    step.label()
                );
            }
        }
        Ok(s)
    }

    /// The built-in scenarios, in catalogue order.
    pub fn builtin() -> Vec<Scenario> {
        BUILTIN
            .iter()
            // Built-in files are checked by the unit test below.
            .filter_map(|(name, text)| Scenario::parse(text, name).ok())
            .collect()
    }

    /// The scenarios run when none is named: the built-in ones of the default set.
    pub fn default_set() -> Vec<Scenario> {
        Scenario::builtin()
            .into_iter()
            .filter(|s| s.default_set)
            .collect()
    }

    /// A built-in scenario by name, or a scenario file by path.
    pub fn load(name_or_file: &str) -> Result<Scenario> {
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_file) {
            return Scenario::parse(text, name);
        }
        let path = Path::new(name_or_file);
        if !path.exists() {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            bail!(
                "no scenario named {name_or_file} and no such file (built in: {})",
                names.join(", ")
            );
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Scenario::parse(&text, &path.display().to_string())
    }
}

/// Replaces `{key}` placeholders in a marker.
pub fn expand(marker: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = marker.to_string();
    for (key, value) in vars {
        out = out.replace(&format!("{{{key}}}"), value);
    }
    out
}

#[cfg(test)]
#[path = "scenario_tests.rs"]
mod tests;
