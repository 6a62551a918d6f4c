//! Placing the seed and run-system trees into the gadget's [`ImagePlan`], by structure role.
//!
//! The gadget decides where ubuntu-seed, ubuntu-boot, ubuntu-save and ubuntu-data are; this
//! module adds the files that belong on each to the filesystem the gadget layer planned there,
//! next to the gadget's own content.

use super::tree::{Tree, merge_into};
use crate::plan::{ImagePlan, StructureContent, StructurePlan};
use anyhow::{Context, Result, bail};

pub const ROLE_SEED: &str = "system-seed";
pub const ROLE_BOOT: &str = "system-boot";
pub const ROLE_SAVE: &str = "system-save";
pub const ROLE_DATA: &str = "system-data";

/// The trees of a preinstalled image, by role. `None` leaves a role alone.
#[derive(Debug, Clone, Default)]
pub struct RoleTrees {
    pub seed: Tree,
    pub boot: Option<Tree>,
    pub save: Option<Tree>,
    pub data: Option<Tree>,
}

/// Adds each tree to the filesystem of the structure with its role. ubuntu-seed is required;
/// ubuntu-boot and ubuntu-data are required when their trees are given (a preinstalled image);
/// ubuntu-save is filled when the gadget has one.
pub fn place(plan: &mut ImagePlan, trees: &RoleTrees) -> Result<()> {
    let required = [
        (ROLE_SEED, Some(&trees.seed)),
        (ROLE_BOOT, trees.boot.as_ref()),
        (ROLE_DATA, trees.data.as_ref()),
    ];
    for (role, tree) in required {
        let Some(tree) = tree else { continue };
        let s = find_role(plan, role)?.with_context(|| {
            format!(
                "the gadget has no structure with role {role}, which a preinstalled image needs"
            )
        })?;
        add(s, tree, role)?;
    }
    if let Some(tree) = &trees.save
        && let Some(s) = find_role(plan, ROLE_SAVE)?
    {
        add(s, tree, ROLE_SAVE)?;
    }
    Ok(())
}

fn add(s: &mut StructurePlan, tree: &Tree, role: &str) -> Result<()> {
    let name = s.name.clone();
    let StructureContent::Filesystem(fs) = &mut s.content else {
        bail!("structure {name} (role {role}) has no filesystem to hold files");
    };
    merge_into(
        fs,
        tree.entries(),
        &format!("structure {name} (role {role})"),
    )
}

/// The structure with `role`; two of them (on any volume) are an error.
fn find_role<'a>(plan: &'a mut ImagePlan, role: &str) -> Result<Option<&'a mut StructurePlan>> {
    let mut found = plan
        .volumes
        .iter_mut()
        .flat_map(|v| v.structures.iter_mut())
        .filter(|s| s.role.as_deref() == Some(role));
    let first = found.next();
    if found.next().is_some() {
        bail!("the gadget has more than one structure with role {role}");
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::*;
    use uuid::Uuid;

    fn structure(name: &str, role: Option<&str>, fs: bool) -> StructurePlan {
        StructurePlan {
            index: 0,
            name: name.into(),
            role: role.map(str::to_string),
            offset: 0,
            size: 0,
            partition: None,
            content: if fs {
                StructureContent::Filesystem(FilesystemPlan {
                    kind: FsKind::Ext4,
                    label: Some(name.into()),
                    uuid: Uuid::nil(),
                    hash_seed: Uuid::nil(),
                    files: vec![],
                })
            } else {
                StructureContent::Empty
            },
        }
    }

    fn plan(structures: Vec<StructurePlan>) -> ImagePlan {
        ImagePlan {
            volumes: vec![VolumePlan {
                name: "pc".into(),
                schema: Schema::Gpt,
                sector_size: crate::units::SectorSize::B512,
                size: 0,
                disk_id: DiskId::Gpt(Uuid::nil()),
                structures,
                offset_writes: vec![],
            }],
        }
    }

    fn files(p: &ImagePlan, i: usize) -> Vec<String> {
        match &p.volumes[0].structures[i].content {
            StructureContent::Filesystem(fs) => fs.files.iter().map(|e| e.path.clone()).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn trees_land_on_their_roles() {
        let mut p = plan(vec![
            structure("ubuntu-seed", Some(ROLE_SEED), true),
            structure("ubuntu-boot", Some(ROLE_BOOT), true),
            structure("ubuntu-data", Some(ROLE_DATA), true),
        ]);
        let mut trees = RoleTrees::default();
        trees.seed.dir("snaps").unwrap();
        let mut data = Tree::new();
        data.dir("system-data").unwrap();
        trees.data = Some(data);
        trees.boot = Some(Tree::new());
        trees.save = Some(Tree::new());
        place(&mut p, &trees).unwrap();
        assert_eq!(files(&p, 0), ["snaps"]);
        assert_eq!(files(&p, 2), ["system-data"]);
    }

    #[test]
    fn missing_or_unfit_roles_are_refused() {
        let mut p = plan(vec![structure("ubuntu-seed", Some(ROLE_SEED), true)]);
        let trees = RoleTrees {
            data: Some(Tree::new()),
            ..RoleTrees::default()
        };
        let err = place(&mut p, &trees).unwrap_err().to_string();
        assert!(err.contains("no structure with role system-data"), "{err}");
        let mut p = plan(vec![structure("seed", Some(ROLE_SEED), false)]);
        let err = place(&mut p, &RoleTrees::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no filesystem"), "{err}");
    }
}
