//! `snapsmith validate IMAGE [--scenario NAME|FILE]... [--report FILE] [--junit FILE]
//! [--artifacts DIR] [--json]`: boots the image through validation scenarios (all built-in ones
//! by default) and reports per scenario pass/fail, each marker's time since QEMU started, the
//! host checks' verdicts on the scenario's disk and the serial log. Exit 0 only when every
//! scenario passed, 1 when one failed, 3 when the host could not run them (docs/validate.md).
//! `snapsmith validate --list` prints the built-in scenarios. `--seed` and `--cut` choose the
//! cuts of `power-cut`.

use crate::qemu::junit;
use crate::qemu::powercut;
use crate::qemu::scenario::Scenario;
use crate::qemu::validate::{self, Request};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The disk image to boot (never modified: each scenario runs on a copy of its own)
    #[arg(required_unless_present = "list")]
    image: Option<PathBuf>,
    /// Print the built-in scenarios, one name a line with its description, and exit
    #[arg(long, conflicts_with_all = ["scenarios", "report", "junit"])]
    list: bool,
    /// A built-in scenario (`--list` names them) or a scenario file (docs/validate.md);
    /// repeatable. Default: all built-in ones
    #[arg(long = "scenario", value_name = "NAME|FILE")]
    scenarios: Vec<String>,
    /// Also write the report as JSON to this file
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Also write the report as JUnit XML (one testcase per scenario) to this file
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also copy every boot's serial log, the QEMU command lines and the reports (JSON, JUnit)
    /// into this directory, one folder per scenario
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// Print the report as JSON instead of text
    #[arg(long)]
    json: bool,
    /// Scenarios run at the same time
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// `power-cut`: choose its cuts from this seed instead of the scenario file's
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// `power-cut`: make only this cut (a point of the scenario and the seconds after its
    /// marker, as the report's `rerun` names it); repeatable
    #[arg(long = "cut", value_name = "POINT:DELAY")]
    cuts: Vec<String>,
    /// Directory for serial logs and per-scenario disks (default: a new one under $TMPDIR)
    #[arg(long, value_name = "DIR")]
    work: Option<PathBuf>,
    /// Keyring (as `snapsmith key --keyring`) with the key that signed the image's snaps, to
    /// assert the updates derived for a model of grade signed or secured (default: `keyring/`
    /// beside the image, when it exists)
    #[arg(long, value_name = "DIR")]
    keyring: Option<PathBuf>,
}

pub fn run(args: ValidateArgs) -> Result<()> {
    if args.list {
        for s in Scenario::builtin() {
            let own = if s.default_set { "" } else { NOT_DEFAULT };
            println!("{}\t{}{own}", s.name, s.description);
        }
        return Ok(());
    }
    let Some(image) = args.image.clone() else {
        bail!("validate needs an image (or --list)");
    };
    if !image.is_file() {
        bail!("{}: no such image file", image.display());
    }
    let mut scenarios = if args.scenarios.is_empty() {
        Scenario::default_set()
    } else {
        args.scenarios
            .iter()
            .map(|s| Scenario::load(s))
            .collect::<Result<Vec<_>>>()?
    };
    choose_cuts(&mut scenarios, &args)?;
    let work = match args.work.clone() {
        Some(dir) => dir,
        None => tempfile::Builder::new()
            .prefix("snapsmith-validate-")
            .tempdir()
            .context("creating a work directory")?
            .keep(),
    };
    let keyring = args.keyring.clone().or_else(|| {
        let beside = image.parent()?.join("keyring");
        beside.is_dir().then_some(beside)
    });
    let request = Request {
        image,
        scenarios,
        work,
        jobs: args.jobs,
        accel: crate::qemu::detect(),
        memory_mib: None,
        serial_log: None,
        keyring,
    };
    let report = validate::validate(&request)?;
    write_outputs(&args, &report)?;
    let failed = report.scenarios.iter().filter(|s| !s.passed).count();
    if report.host_failure {
        return Err(crate::qemu::host::HostFailure(format!(
            "{failed} of {} scenarios could not run on this host",
            report.scenarios.len()
        ))
        .into());
    }
    if !report.passed {
        bail!("{failed} of {} scenarios failed", report.scenarios.len());
    }
    Ok(())
}

/// What `--list` adds to a scenario outside the default set.
pub const NOT_DEFAULT: &str = " (not in the default set: run it by name)";

/// `--seed` and `--cut` applied to the power-cut scenarios among `scenarios`.
fn choose_cuts(scenarios: &mut [Scenario], args: &ValidateArgs) -> Result<()> {
    if args.seed.is_none() && args.cuts.is_empty() {
        return Ok(());
    }
    let mut any = false;
    for section in scenarios.iter_mut().filter_map(|s| s.power_cut.as_mut()) {
        any = true;
        if let Some(seed) = args.seed {
            section.seed = seed;
        }
        for text in &args.cuts {
            section
                .only
                .push(powercut::parse_cut(text).map_err(anyhow::Error::msg)?);
        }
        section.check().map_err(anyhow::Error::msg)?;
    }
    if !any {
        bail!("--seed and --cut need a power-cut scenario (--scenario power-cut)");
    }
    Ok(())
}

/// The report files the arguments ask for, and the report on stdout.
fn write_outputs(args: &ValidateArgs, report: &validate::Report) -> Result<()> {
    let json = serde_json::to_string_pretty(report)? + "\n";
    let junit = junit_report(report);
    if let Some(path) = &args.report {
        crate::qemu::artifacts::put(path, json.as_bytes())?;
    }
    if let Some(path) = &args.junit {
        crate::qemu::artifacts::put(path, junit.as_bytes())?;
    }
    if let Some(dir) = &args.artifacts {
        crate::qemu::artifacts::write(dir, report, &json, &junit)?;
    }
    if args.json {
        print!("{json}");
    } else {
        print!("{}", validate::render(report));
    }
    Ok(())
}

/// One JUnit testcase per scenario: its time, its reason when it failed, its serial log.
fn junit_report(report: &validate::Report) -> String {
    let cases: Vec<junit::Case> = report
        .scenarios
        .iter()
        .map(|s| junit::Case {
            name: s.name.clone(),
            seconds: s.total,
            failure: (!s.passed).then(|| s.reason.clone().unwrap_or_else(|| "failed".into())),
            log: (!s.serial_log.as_os_str().is_empty()).then(|| s.serial_log.display().to_string()),
        })
        .collect();
    junit::render("snapsmith validate", &cases)
}
