//! Reading a seed back from an image: the recovery systems on ubuntu-seed (each system's model:
//! brand, model, grade), the snaps they carry and which mode and system the seed's grubenv
//! boots next, for `snapsmith inspect`.

use crate::assertion::{self, Model};
use crate::window::Window;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fs::File;
use std::io::Read;

/// The seed on an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    /// Snap files under `snaps/` (asserted, shared by all systems).
    pub snaps: Vec<String>,
    pub systems: Vec<SystemReport>,
    /// What the seed's grubenv (`EFI/ubuntu/grubenv`) makes the next boot do, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_boot: Option<NextBoot>,
}

/// `snapd_recovery_mode` and `snapd_recovery_system` of the seed's grubenv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextBoot {
    /// `run` (or empty: run) or `recover`.
    pub mode: String,
    /// The recovery system recover mode boots.
    pub system: String,
}

/// One recovery system, `systems/<label>/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemReport {
    pub label: String,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub grade: Option<String>,
    /// Why the system's model could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Snap files under `systems/<label>/snaps/` (unasserted or extra).
    pub snaps: Vec<String>,
}

/// Reads the seed of the vfat filesystem at `offset`; `None` when it holds no `systems/`.
pub fn read_seed(file: &File, offset: u64, size: u64) -> Result<Option<SeedReport>> {
    let fs = fatfs::FileSystem::new(Window::new(file, offset, size), fatfs::FsOptions::new())
        .context("opening the seed's FAT filesystem")?;
    let root = fs.root_dir();
    let Ok(systems_dir) = root.open_dir("systems") else {
        return Ok(None);
    };
    let mut systems = Vec::new();
    for entry in systems_dir.iter() {
        let entry = entry.context("listing /systems")?;
        let label = entry.file_name();
        if !entry.is_dir() || label == "." || label == ".." {
            continue;
        }
        let dir = entry.to_dir();
        let mut report = SystemReport {
            label,
            brand: None,
            model: None,
            grade: None,
            problem: None,
            snaps: names(&dir, "snaps"),
        };
        // An inspector reports a damaged seed instead of refusing to show the image.
        match read_model(&dir) {
            Ok(model) => {
                report.grade = serde_json::to_value(model.grade)?
                    .as_str()
                    .map(str::to_string);
                report.brand = Some(model.brand_id);
                report.model = Some(model.model);
            }
            Err(e) => report.problem = Some(format!("{e:#}")),
        }
        systems.push(report);
    }
    systems.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(Some(SeedReport {
        snaps: names(&root, "snaps"),
        systems,
        next_boot: next_boot(&root),
    }))
}

fn next_boot<T: fatfs::ReadWriteSeek>(root: &fatfs::Dir<T>) -> Option<NextBoot> {
    let mut bytes = Vec::new();
    root.open_file("EFI/ubuntu/grubenv")
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    let env = crate::boot::grubenv::Grubenv::decode(&bytes).ok()?;
    Some(NextBoot {
        mode: env
            .get("snapd_recovery_mode")
            .unwrap_or_default()
            .to_string(),
        system: env
            .get("snapd_recovery_system")
            .unwrap_or_default()
            .to_string(),
    })
}

fn read_model<T: fatfs::ReadWriteSeek>(dir: &fatfs::Dir<T>) -> Result<Model> {
    let mut text = Vec::new();
    dir.open_file("model")
        .context("no model file")?
        .read_to_end(&mut text)?;
    let a = assertion::decode(&text).context("decoding the model")?;
    Ok(Model::from_assertion(&a)?)
}

/// Sorted file names in `dir/sub` (none when it is missing).
fn names<T: fatfs::ReadWriteSeek>(dir: &fatfs::Dir<T>, sub: &str) -> Vec<String> {
    let Ok(d) = dir.open_dir(sub) else {
        return Vec::new();
    };
    let mut out: Vec<String> = d
        .iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.is_file())
        .map(|e| e.file_name())
        .collect();
    out.sort();
    out
}
