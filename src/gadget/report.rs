//! The layout as people and programs read it: a text table, and the stable JSON schema of
//! `snapsmith gadget layout --json` (documented in docs/gadget.md; change it only additively).

use super::layout::Layout;
use super::schema::fs_kind_str;
use crate::plan::Schema;
use crate::units::human;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct LayoutReport {
    pub volumes: Vec<VolumeReport>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct VolumeReport {
    pub name: String,
    pub schema: String,
    pub bootloader: Option<String>,
    pub sector_size: u64,
    pub size: u64,
    pub structures: Vec<StructureReport>,
}

#[derive(Debug, Serialize)]
pub struct StructureReport {
    pub index: usize,
    pub name: Option<String>,
    pub role: Option<String>,
    #[serde(rename = "type")]
    pub type_: String,
    pub filesystem: Option<String>,
    pub label: Option<String>,
    pub offset: u64,
    pub size: u64,
}

impl LayoutReport {
    pub fn new(layout: &Layout) -> LayoutReport {
        let volumes = layout
            .volumes
            .iter()
            .map(|v| VolumeReport {
                name: v.name.clone(),
                schema: match v.schema {
                    Schema::Gpt => "gpt".into(),
                    Schema::Mbr => "mbr".into(),
                },
                bootloader: v.bootloader.map(|b| b.as_str().to_string()),
                sector_size: v.sector_size,
                size: v.size,
                structures: v
                    .structures
                    .iter()
                    .map(|p| StructureReport {
                        index: p.structure.index,
                        name: p.structure.name.clone(),
                        role: p.structure.role.map(|r| r.as_str().to_string()),
                        type_: p.structure.type_.text(),
                        filesystem: p.structure.filesystem.map(|f| fs_kind_str(f).to_string()),
                        label: p.structure.label.clone(),
                        offset: p.offset,
                        size: p.structure.size,
                    })
                    .collect(),
            })
            .collect();
        LayoutReport { volumes }
    }

    /// A table per volume.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for v in &self.volumes {
            let loader = v
                .bootloader
                .as_deref()
                .map(|b| format!(", bootloader {b}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "volume {} ({}{loader}, {}-byte sectors, size {} = {})",
                v.name,
                v.schema,
                v.sector_size,
                v.size,
                human(v.size)
            );
            let _ = writeln!(
                out,
                "  {:>5}  {:<20} {:<18} {:<41} {:<8} {:<12} {:>12} {:>12}",
                "INDEX", "NAME", "ROLE", "TYPE", "FS", "LABEL", "OFFSET", "SIZE"
            );
            let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            for s in &v.structures {
                let _ = writeln!(
                    out,
                    "  {:>5}  {:<20} {:<18} {:<41} {:<8} {:<12} {:>12} {:>12}",
                    s.index,
                    dash(&s.name),
                    dash(&s.role),
                    s.type_,
                    dash(&s.filesystem),
                    dash(&s.label),
                    s.offset,
                    s.size
                );
            }
        }
        out
    }
}
