//! Seeding: which snap fills which model entry ([`resolve()`], pure), and the file trees the
//! image's partitions receive from that choice: the recovery system on ubuntu-seed, the
//! installed run system on ubuntu-data, and the run-mode boot files on ubuntu-boot.

mod inspect;
mod layout;
mod place;
mod resolve;
mod tree;

pub use crate::boot::label::{default_label, validate_label};
pub use crate::boot::modeenv::Modeenv;
pub use inspect::{NextBoot, SeedReport, SystemReport, read_seed};
pub use layout::{
    DATA_SNAPS_DIR, MODEENV_PATH, ModelId, SeedAssertions, boot_tree, data_tree, initial_modeenv,
    save_tree, seed_file_name, seed_path, seed_systems_tree, seed_tree,
};
pub use place::{ROLE_BOOT, ROLE_DATA, ROLE_SAVE, ROLE_SEED, RoleTrees, place};
pub use resolve::{
    AssertedRevision, Candidate, Grade, ModelSnap, ModelSpec, ResolveError, Revision, SeedSnap,
    resolve,
};
pub use tree::{Tree, merge_into};
