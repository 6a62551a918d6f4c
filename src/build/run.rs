//! The `build` command end to end: load, resolve, plan, execute, with progress on stderr.

use super::{
    Assembled, BootAssets, LoadedModel, OutputOptions, Reporter, StageTime, assemble, choose_label,
    execute, gadget_of,
};
use crate::disk::{self, WriteOptions};
use crate::gadget::content::Trees;
use crate::gadget::{self, PlanOptions, Ruleset};
use crate::plan::ImagePlan;
use crate::seed::{self, SeedSnap};
use crate::snap::{SnapFile, SnapType};
use crate::units::SectorSize;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;

/// Everything `snapsmith build` was asked to do.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub model: PathBuf,
    pub snaps: Vec<PathBuf>,
    pub snaps_dir: Option<PathBuf>,
    pub assertions: Vec<PathBuf>,
    pub trusted: Vec<PathBuf>,
    pub out_dir: PathBuf,
    pub image_size: Option<u64>,
    pub sector_size: SectorSize,
    pub label: Option<String>,
    /// More recovery systems on the seed besides the current one (`label`), same model and
    /// snaps.
    pub extra_systems: Vec<String>,
    pub dry_run: bool,
    pub keep_failed: bool,
    /// The images' output format.
    pub format: super::format::OutputFormat,
    /// Seconds since the epoch stamped on files and filesystems, and the default label's date
    /// (the CLI passes `SOURCE_DATE_EPOCH`, or the current time when it is unset).
    pub build_time: i64,
}

/// What a build did (or, with `--dry-run`, would do).
#[derive(Debug)]
pub struct Outcome {
    pub assembled: Assembled,
    /// Final paths: images, then manifest.json; empty for a dry run.
    pub written: Vec<PathBuf>,
    /// The wall time of each stage, in order.
    pub timings: Vec<StageTime>,
}

/// Runs a build: nothing is written before the plan is complete and valid, and nothing remains
/// at an output path when it fails.
pub fn run(req: &BuildRequest, reporter: &Reporter) -> Result<Outcome> {
    let build_time = req.build_time;
    reporter.timed("load");
    reporter.stage("verifying the model and assertions");
    let model = super::load::load_model(req)?;
    reporter.stage("reading snaps");
    let candidates = super::load_candidates(&req.snaps, req.snaps_dir.as_deref(), reporter)?;
    reporter.timed("resolve");
    reporter.stage("resolving snaps against the model");
    let snaps = seed::resolve(&model.spec, &candidates, &model.asserted).with_context(|| {
        format!(
            "model {}/{} (grade {})",
            model.id.brand, model.id.model, model.id.grade
        )
    })?;
    let label = choose_label(req.label.as_deref(), build_time)?;
    let systems = super::choose_systems(&label, &req.extra_systems)?;
    reporter.timed("plan");
    reporter.stage("laying out the gadget");
    let unpacked = Unpacked::new(&snaps)?;
    let (plan, gadget) = gadget_plan(req, &model, &unpacked)?;
    super::load::refuse_interfaces(&snaps, &gadget)?;
    reporter.stage("preparing the boot files");
    let boot_assets: BootAssets = super::boot_assets::for_build(&super::boot_assets::BootInputs {
        gadget: &gadget,
        plan: &plan,
        snaps: &snaps,
        label: &label,
        systems: &systems,
        model: &model.id,
        gadget_dir: Some(&unpacked.gadget),
    })?;
    let mut assembled = assemble(&model, snaps, plan, &systems, &boot_assets)?;
    gadget::bridge::check_plan_fit(&assembled.plan)
        .context("the seed and the run system do not fit the gadget's partitions")?;
    let checked = disk::check(&assembled.plan).context("the image plan is not valid")?;
    if req.dry_run {
        return Ok(Outcome {
            assembled,
            written: Vec::new(),
            timings: reporter.take_timings(),
        });
    }
    let out = OutputOptions {
        out_dir: &req.out_dir,
        keep_failed: req.keep_failed,
        write: WriteOptions {
            build_time,
            progress: reporter,
        },
        format: req.format,
    };
    let written = execute(checked, &mut assembled.manifest, &out)?;
    let timings = reporter.take_timings();
    reporter.stage("done");
    Ok(Outcome {
        assembled,
        written,
        timings,
    })
}

/// The gadget (and, when its content refers to `$kernel:`, the kernel) unpacked for content.
struct Unpacked {
    _dir: tempfile::TempDir,
    gadget_snap: PathBuf,
    gadget: PathBuf,
    kernel: Option<PathBuf>,
}

impl Unpacked {
    fn new(snaps: &[SeedSnap]) -> Result<Unpacked> {
        let dir = tempfile::Builder::new()
            .prefix("snapsmith-build-")
            .tempdir()
            .context("creating a temporary directory")?;
        let g = gadget_of(snaps)?;
        let gadget = dir.path().join("gadget");
        let yaml = super::unpack_gadget(g, &gadget)?;
        let kernel = match snaps.iter().find(|s| s.snap_type == SnapType::Kernel) {
            Some(k) if contains(&yaml, b"$kernel:") => {
                let root = dir.path().join("kernel");
                SnapFile::open(&k.path)?.extract_to(&root)?;
                Some(root)
            }
            _ => None,
        };
        Ok(Unpacked {
            _dir: dir,
            gadget_snap: g.path.clone(),
            gadget,
            kernel,
        })
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The gadget's plan, and the parsed gadget (its bootloader and kernel arguments).
fn gadget_plan(
    req: &BuildRequest,
    model: &LoadedModel,
    u: &Unpacked,
) -> Result<(ImagePlan, gadget::Gadget)> {
    let loaded = gadget::load(&u.gadget_snap, Ruleset::Uc20)?;
    let opts = PlanOptions {
        sector_size: req.sector_size.bytes(),
        image_size: req.image_size,
        ruleset: Ruleset::Uc20,
        id_seed: format!("{}/{}", model.id.brand, model.id.model).into_bytes(),
    };
    let trees = Trees {
        gadget: &u.gadget,
        kernel: u.kernel.as_deref(),
    };
    let plan = gadget::image_plan(&loaded, trees, &opts)?;
    Ok((plan, loaded.gadget))
}

#[derive(Serialize)]
struct PlanJson<'a> {
    model: &'a super::ManifestModel,
    label: &'a str,
    snaps: &'a [super::ManifestSnap],
    plan: &'a ImagePlan,
}

/// A JSON output with the stage timings after its own fields.
#[derive(Serialize)]
struct Timed<'a, T> {
    #[serde(flatten)]
    output: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    timings: Option<&'a [StageTime]>,
}

/// The JSON output of `build`: the plan with `--dry-run`, else the manifest; with `timings`
/// the outcome's stage timings are added as `timings`.
pub fn outcome_json(o: &Outcome, dry_run: bool, timings: bool) -> Result<String> {
    let timings = timings.then_some(o.timings.as_slice());
    let a = &o.assembled;
    let json = if dry_run {
        let output = PlanJson {
            model: &a.manifest.model,
            label: &a.label,
            snaps: &a.manifest.snaps,
            plan: &a.plan,
        };
        serde_json::to_string_pretty(&Timed { output, timings })?
    } else {
        let output = &a.manifest;
        serde_json::to_string_pretty(&Timed { output, timings })?
    };
    Ok(json + "\n")
}

impl disk::Progress for Reporter {
    fn volume(&self, name: &str, bytes: u64) {
        self.bytes(&format!("writing {name}.img"), bytes);
    }
    fn step(&self, what: &str) {
        Reporter::step(self, what);
    }
    fn advance(&self, bytes: u64) {
        Reporter::advance(self, bytes);
    }
    fn timed(&self, part: &str) {
        Reporter::timed(self, part);
    }
    fn took(&self, part: &str, seconds: f64) {
        Reporter::took(self, part, seconds);
    }
}
