//! The one support module of the integration tests: the CLI under test, the corpus,
//! prerequisites and running tools (here); fixture files and read-backs ([`fixtures`]); snap
//! kits and builds ([`build`]); volume plans and image checks ([`disk`]); VM boots ([`vm`]).
//!
//! Heavy or tool-dependent tests call [`prerequisites`]: outside CI a missing prerequisite skips
//! the test with a message; under CI (`CI=true`) or with `SNAPSMITH_REQUIRE_ALL=1` it fails the
//! test loudly, so CI can never pass by skipping.
#![allow(dead_code)]

pub mod build;
pub mod disk;
pub mod fixtures;
pub mod rng;
pub mod snapd;
pub mod vm;

use std::path::{Path, PathBuf};

/// True when missing prerequisites must fail tests instead of skipping them.
pub fn strict() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| v == "true" || v == "1");
    set("CI") || set("SNAPSMITH_REQUIRE_ALL")
}

/// Skips (returns false) or panics when something a test needs is missing.
pub fn skip_or_fail(why: &str) -> bool {
    let test = current_test();
    if strict() {
        panic!("{test}: prerequisite missing under CI: {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
    false
}

/// True when every tool is on PATH (or /usr/sbin, /sbin); see [`skip_or_fail`] otherwise,
/// naming the running test.
pub fn have_tools(tools: &[&str]) -> bool {
    for tool in tools {
        if snapsmith::exec::which(tool).is_none() {
            return skip_or_fail(&format!("tool `{tool}` not installed (run scripts/setup)"));
        }
    }
    true
}

/// The running test's name (libtest names each test's thread after it).
pub fn current_test() -> String {
    let thread = std::thread::current();
    let name = thread.name().filter(|name| *name != "main");
    name.unwrap_or("this run").to_string()
}

/// The real-world corpus (`SNAPSMITH_CORPUS`), or `None` when the test should be skipped.
pub fn corpus() -> Option<PathBuf> {
    env_path("SNAPSMITH_CORPUS", Path::is_dir, "is not a directory", "")
}

/// The `snapsmith` binary built for this test run.
pub fn snapsmith() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("snapsmith").expect("snapsmith binary")
}

/// The repository root (for models/, gadgets/, qemu/).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Debian kernel package (`SNAPSMITH_KERNEL_DEB`, set by scripts/test from
/// scripts/kernel-deb), or `None` when the test should be skipped.
pub fn kernel_deb() -> Option<PathBuf> {
    let hint = " (see scripts/kernel-deb)";
    env_path("SNAPSMITH_KERNEL_DEB", Path::is_file, "is not a file", hint)
}

/// The path in environment variable `var`, which must pass `valid` (panics saying `invalid`
/// otherwise); `None` when unset and the test should be skipped.
fn env_path(var: &str, valid: fn(&Path) -> bool, invalid: &str, hint: &str) -> Option<PathBuf> {
    let Some(path) = std::env::var_os(var).map(PathBuf::from) else {
        skip_or_fail(&format!("{var} is not set{hint}"));
        return None;
    };
    assert!(valid(&path), "{var}={} {invalid}", path.display());
    Some(path)
}

/// Runs a tool and returns stdout; panics with the tool's error otherwise.
pub fn run(program: &str, args: &[&str]) -> String {
    snapsmith::exec::Cmd::new(program)
        .args(args)
        .run_string()
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// `sha256sum FILE`'s line for `path`.
pub fn sha256(path: &Path) -> String {
    run("sha256sum", &[path.to_str().unwrap()])
}

/// Copies `len` bytes at `offset` of `image` into a file of their own.
pub fn extract(image: &Path, offset: u64, len: u64, to: &Path) {
    use std::io::{Read, Seek, SeekFrom};
    let mut src = std::fs::File::open(image).unwrap();
    src.seek(SeekFrom::Start(offset)).unwrap();
    let mut dst = std::fs::File::create(to).unwrap();
    std::io::copy(&mut src.take(len), &mut dst).unwrap();
}

/// Runs a command that must succeed and hands back its stdout.
pub trait Succeeds {
    /// Asserts success (showing the output when not) and returns stdout.
    fn ok_stdout(&mut self) -> Vec<u8>;
}

impl Succeeds for assert_cmd::Command {
    fn ok_stdout(&mut self) -> Vec<u8> {
        self.assert().success().get_output().stdout.clone()
    }
}
