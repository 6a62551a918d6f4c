//! The human-readable form of an [`ImageReport`] (the JSON form is its serde serialisation).

use super::{ImageReport, PartitionReport, TableKind};
use crate::units::human;
use std::fmt::Write;

/// A table of partitions, then the files of each vfat filesystem.
pub fn render(report: &ImageReport) -> String {
    let mut out = String::new();
    let path = report.path.display();
    let size = human(report.size);
    let Some(table) = &report.table else {
        let _ = writeln!(out, "{path}: {size}, no partition table");
        return out;
    };
    let kind = match table.kind {
        TableKind::Gpt => "GPT",
        TableKind::Mbr => "MBR",
    };
    let _ = writeln!(
        out,
        "{path}: {size}, {kind}, {}-byte sectors, disk id {}",
        table.sector_size, table.disk_id
    );
    let _ = writeln!(
        out,
        "{:>3}  {:<16} {:<36} {:>12} {:>10}  filesystem",
        "#", "name", "type", "offset", "size"
    );
    for p in &report.partitions {
        let _ = writeln!(out, "{}", partition_line(p));
    }
    if let Some(seed) = &report.seed {
        render_seed(&mut out, seed);
    }
    for p in &report.partitions {
        let Some(files) = p.filesystem.as_ref().and_then(|f| f.files.as_ref()) else {
            continue;
        };
        let _ = writeln!(out, "\npartition {} files:", p.number);
        for f in files {
            if f.directory {
                let _ = writeln!(out, "  {}/", f.path);
            } else {
                let _ = writeln!(out, "  {} ({} bytes)", f.path, f.size);
            }
        }
    }
    out
}

/// One row of the partition table.
fn partition_line(p: &PartitionReport) -> String {
    let name = p
        .name
        .as_deref()
        .unwrap_or(if p.bootable { "(boot)" } else { "-" });
    let fs = match &p.filesystem {
        None => "-".to_string(),
        Some(fs) => {
            let mut text = fs.kind.clone();
            if let Some(v) = &fs.variant {
                let _ = write!(text, " ({v})");
            }
            if let Some(l) = &fs.label {
                let _ = write!(text, " label {l:?}");
            }
            if let Some(u) = &fs.uuid {
                let _ = write!(text, " id {u}");
            }
            text
        }
    };
    format!(
        "{:>3}  {:<16} {:<36} {:>12} {:>10}  {fs}",
        p.number,
        name,
        p.type_id,
        p.offset,
        human(p.size)
    )
}

/// The recovery systems and their snaps.
fn render_seed(out: &mut String, seed: &crate::seed::SeedReport) {
    let _ = writeln!(out, "\nseed:");
    if let Some(next) = &seed.next_boot {
        let mode = if next.mode.is_empty() {
            "run"
        } else {
            &next.mode
        };
        let _ = writeln!(
            out,
            "  next boot: {mode} mode, recovery system {} (EFI/ubuntu/grubenv)",
            next.system
        );
    }
    for s in &seed.systems {
        match (&s.brand, &s.model, &s.grade, &s.problem) {
            (Some(b), Some(m), Some(g), _) => {
                let _ = writeln!(out, "  system {}: model {b}/{m} (grade {g})", s.label);
            }
            (_, _, _, problem) => {
                let why = problem.as_deref().unwrap_or("unknown model");
                let _ = writeln!(out, "  system {}: {why}", s.label);
            }
        }
        for snap in &s.snaps {
            let _ = writeln!(out, "    systems/{}/snaps/{snap}", s.label);
        }
    }
    for snap in &seed.snaps {
        let _ = writeln!(out, "  snaps/{snap}");
    }
}
