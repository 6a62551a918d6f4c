//! snapsmith builds immutable, Ubuntu Core-style OS images and proves they boot and roll back.
//!
//! The pipeline flows one way: **load → resolve → plan → execute → verify → boot**.
//! - [`assertion`]: signed model assertions, keys, trust chain (load).
//! - [`gadget`]: gadget.yaml schema, validation and layout, no I/O (load).
//! - [`snap`]: reading and packing `.snap` files (load).
//! - [`seed`]: which snap fills which model entry, and the seed tree (resolve).
//! - [`plan`]: the [`plan::ImagePlan`], pure data with absolute offsets (plan).
//! - [`build`]: runs the pipeline for `snapsmith build`: staging, writing, manifest (execute).
//! - [`disk`], [`fs`]: partition tables and filesystems written in place (execute).
//! - [`inspect`]: reads an image back: table, filesystems, seed (verify).
//! - [`kernel`]: kernel snaps from Debian kernel packages, with snapsmith's initramfs.
//! - [`example`]: the example device (snaps, assertions, TEST-ONLY keyring, image), defined once.
//! - [`boot`]: grubenv, grub.cfg and the try/commit state machine.
//! - [`qemu`], [`runtime`]: booting images and what runs inside them (boot).
//! - [`exec`]: the only place that spawns processes; [`units`], [`repro`]: sizes and derived ids.
//! - [`window`], [`interrupt`]: byte windows in an image file and Ctrl-C handling, shared by the
//!   writers and readers above.
//!
//! The top-level modules import one way (tests/architecture.rs reads every `crate::` path and
//! fails on a cycle or a forbidden edge): `cli` and `example` at the top; `build`, `qemu` and
//! `runtime` below them; `seed`, `gadget`, `disk`, `fs`, `inspect`, `kernel`, `snap` in the
//! middle; `boot`, `plan`, `assertion` pure; `exec`, `window`, `interrupt`, `units`, `repro`
//! the leaves. The in-image runtime is its own binary, `snapsmith-init` (src/bin/), linking
//! only `runtime` and the pure modules it uses. Functions stay under 60 lines (clippy's
//! `too_many_lines`, threshold in clippy.toml) and files under 500.
#![warn(clippy::too_many_lines)]

pub mod assertion;
pub mod boot;
pub mod build;
pub mod cli;
pub mod disk;
pub mod example;
pub mod exec;
pub mod fs;
pub mod gadget;
pub mod inspect;
pub mod interrupt;
pub mod kernel;
pub mod parallel;
pub mod plan;
pub mod qemu;
pub mod repro;
pub mod runtime;
pub mod seed;
pub mod snap;
pub mod units;
pub mod window;
