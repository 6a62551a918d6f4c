//! `snapsmith validate` on a preinstalled image from `snapsmith build` (Debian kernel snap,
//! busybox base): scenarios boot on overlays and the image is left untouched. The image has
//! no bootloader on its ESP, so validate boots its current kernel directly; the base scenarios
//! run for real, and a kernel scenario fails saying it needs GRUB.

mod build_common;
mod common;
mod vm_support;

use build_common::*;
use snapsmith::snap::{self, PackOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A busybox base named `core` (the example model's base) with a passing health check.
fn base_snap(dir: &Path) -> PathBuf {
    let root = dir.join("core-tree");
    for sub in [
        "bin",
        "dev",
        "proc",
        "sys",
        "run",
        "writable",
        "snapsmith",
        "meta",
    ] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let health = root.join("snapsmith/health");
    std::fs::write(&health, "#!/bin/busybox sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&health, PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        root.join("meta/snap.yaml"),
        "name: core\nversion: '1'\ntype: base\n",
    )
    .unwrap();
    let out = dir.join("core.snap");
    snap::pack_dir(&root, &out, &PackOptions::default()).unwrap();
    out
}

fn sha(path: &Path) -> String {
    run("sha256sum", &[path.to_str().unwrap()])
}

#[test]
fn validate_runs_base_scenarios_on_a_built_image() {
    let test = "validate_runs_base_scenarios_on_a_built_image";
    let Some(deb) = vm_support::ready(test) else {
        return;
    };
    if !common::have_tools(test, &["debugfs", "qemu-img", "sha256sum"]) {
        return;
    }
    let kit = Kit::new();
    let dir = kit.dir.path();
    let kernel = dir.join("pc-kernel.snap");
    common::snapsmith()
        .args(["kernel-snap", "--deb"])
        .arg(&deb)
        .arg("-o")
        .arg(&kernel)
        .assert()
        .success();
    let base = base_snap(dir);
    let out = dir.join("out");
    build(&[&kit.gadget, &kernel, &base, &kit.hello], &out)
        .assert()
        .success();
    let image = out.join("pc.img");
    let before = sha(&image);
    let report_path = dir.join("report.json");
    let work = dir.join("work");
    let output = common::snapsmith()
        .arg("validate")
        .arg(&image)
        .args([
            "--scenario",
            "first-boot",
            "--scenario",
            "bad-base-rollback",
        ])
        .arg("--report")
        .arg(&report_path)
        .arg("--work")
        .arg(&work)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{text}{stderr}");
    assert!(output.status.success(), "{text}{stderr}");
    assert!(text.contains("PASS first-boot"), "{text}");
    assert!(text.contains("PASS bad-base-rollback"), "{text}");
    assert!(
        text.contains("snapsmith: rollback base=core_x2.snap running=core_x1.snap"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["boot"], "direct-kernel");
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2);
    for s in scenarios {
        assert!(Path::new(s["serial_log"].as_str().unwrap()).is_file());
        // Every marker came, in order.
        let times: Vec<f64> = s["markers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["at"].as_f64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    }
    assert_eq!(sha(&image), before, "validate must not modify the image");

    // A kernel scenario needs GRUB on the image: it fails, naming why, and the exit code is 1.
    let output = common::snapsmith()
        .arg("validate")
        .arg(&image)
        .args(["--scenario", "good-kernel-update", "--json", "--work"])
        .arg(&work)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], false);
    let reason = report["scenarios"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("needs GRUB"), "{reason}");
}

#[test]
fn validate_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.img");
    let out = common::snapsmith()
        .arg("validate")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.img: no such image file"));
    let image = dir.path().join("x.img");
    std::fs::write(&image, vec![0u8; 4096]).unwrap();
    let out = common::snapsmith()
        .arg("validate")
        .arg(&image)
        .args(["--scenario", "sideways"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no scenario named sideways"), "{err}");
}
