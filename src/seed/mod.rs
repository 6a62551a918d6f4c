//! Seeding: which snap fills which model entry ([`resolve()`], pure), and the file trees the
//! image's partitions receive from that choice: the recovery system on ubuntu-seed, the
//! installed run system on ubuntu-data, and the run-mode boot files on ubuntu-boot.

mod resolve;

pub use resolve::{
    AssertedRevision, Candidate, Grade, ModelSnap, ModelSpec, ResolveError, Revision, SeedSnap,
    resolve,
};
