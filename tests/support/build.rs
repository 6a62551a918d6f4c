//! Shared by the build tests: small snaps made with `snap pack` for the example model, the
//! build command line, and readers for what lands on the image.
#![allow(dead_code)]

#[allow(unused_imports)] // for the tests that glob-import this module
pub use super::{extract, run};
use super::{repo, snapsmith};
use snapsmith::snap::{self, PackOptions};
use std::path::{Path, PathBuf};

/// `snapsmith example --kernel-deb DEB -O OUT`, with no SOURCE_DATE_EPOCH from the caller.
pub fn example(deb: &Path, out: &Path) -> assert_cmd::Command {
    let mut cmd = snapsmith();
    cmd.env_remove("SOURCE_DATE_EPOCH")
        .arg("example")
        .arg("--kernel-deb")
        .arg(deb)
        .arg("-O")
        .arg(out);
    cmd
}

/// Tools the image checks use.
pub const TOOLS: &[&str] = &["sfdisk", "fsck.vfat", "e2fsck", "debugfs", "mcopy", "mdir"];

/// 2026-01-01T00:00:00Z: the example model's timestamp, so its key is valid.
pub const EPOCH: &str = "1767225600";

/// Snap files for the example model (pc, pc-kernel, core, hello) in a temporary directory.
pub struct Kit {
    pub dir: tempfile::TempDir,
    pub gadget: PathBuf,
    pub kernel: PathBuf,
    pub base: PathBuf,
    pub hello: PathBuf,
}

/// Writes `files` under `root` and packs it into `<dir>/<name>.snap`.
pub fn pack(dir: &Path, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let root = dir.join(format!("{name}-tree"));
    for (path, bytes) in files {
        super::fixtures::write_file(&root, path, bytes);
    }
    let out = dir.join(format!("{name}.snap"));
    snap::pack_dir(&root, &out, &PackOptions::default()).unwrap();
    out
}

impl Kit {
    pub fn new() -> Kit {
        let dir = tempfile::tempdir().unwrap();
        let gadget_src = repo().join("gadgets/pc/meta");
        let gadget_yaml = std::fs::read(gadget_src.join("gadget.yaml")).unwrap();
        let gadget_snap_yaml = std::fs::read(gadget_src.join("snap.yaml")).unwrap();
        let gadget = pack(
            dir.path(),
            "pc",
            &[
                ("meta/snap.yaml", &gadget_snap_yaml),
                ("meta/gadget.yaml", &gadget_yaml),
            ],
        );
        let kernel = pack(
            dir.path(),
            "pc-kernel",
            &[
                (
                    "meta/snap.yaml",
                    b"name: pc-kernel\nversion: '6.1'\ntype: kernel\narchitectures: [amd64]\n",
                ),
                ("kernel.efi", &[0x4d, 0x5a, 1, 2, 3]),
            ],
        );
        let base = pack(
            dir.path(),
            "core",
            &[
                ("meta/snap.yaml", b"name: core\nversion: '1'\ntype: base\n"),
                ("etc/os-release", b"ID=snapsmith\n"),
            ],
        );
        let hello = pack(
            dir.path(),
            "hello",
            &[
                (
                    "meta/snap.yaml",
                    b"name: hello\nversion: '1.0'\nbase: core\napps:\n  hello:\n    \
command: bin/hello\n    daemon: simple\n",
                ),
                ("bin/hello", b"#!/bin/sh\necho hello\n"),
            ],
        );
        Kit {
            dir,
            gadget,
            kernel,
            base,
            hello,
        }
    }

    pub fn snaps(&self) -> Vec<&Path> {
        vec![&self.gadget, &self.kernel, &self.base, &self.hello]
    }

    /// Replaces one of the snaps with a tree of our own.
    pub fn repack(&self, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        pack(self.dir.path(), name, files)
    }
}

/// The example model as grade `dangerous` (models/ holds the grade `signed` one), so these
/// tests can build from unasserted snaps.
pub const DANGEROUS_MODEL: &str = "tests/fixtures/models/dev-amd64-dangerous.model";

/// `snapsmith build` of the example model (grade dangerous) with `snaps`, writing into `out`.
pub fn build(snaps: &[&Path], out: &Path) -> assert_cmd::Command {
    build_model(&repo().join(DANGEROUS_MODEL), snaps, out)
}

/// `snapsmith build` of `model` (signed by the example brand) with `snaps`, writing into `out`.
pub fn build_model(model: &Path, snaps: &[&Path], out: &Path) -> assert_cmd::Command {
    let mut cmd = snapsmith();
    cmd.env("SOURCE_DATE_EPOCH", EPOCH)
        .arg("build")
        .arg(model)
        .arg("--assertions")
        .arg(repo().join("models/dev-brand.assert"))
        .arg("--trusted")
        .arg(repo().join("models/dev-root.assert"))
        .arg("-O")
        .arg(out);
    for s in snaps {
        cmd.arg("--snap").arg(s);
    }
    cmd
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// True when `dir` is missing or holds nothing (not even a staging directory).
pub fn nothing_in(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Err(_) => true,
        Ok(mut entries) => entries.next().is_none(),
    }
}
