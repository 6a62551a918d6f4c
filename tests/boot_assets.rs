//! The boot files `snapsmith build` puts on the example image, read back with mtools (no VM):
//! GRUB and the seed config on ubuntu-seed, the run config, its grubenv and the kernel's
//! assets on ubuntu-boot; byte-identical images from identical inputs (GRUB's image included);
//! and gadget kernel arguments that a GRUB script cannot carry are refused. Also the host
//! tools' view of the pieces: GRUB's parser accepts both configs, grub-mkimage is deterministic.

mod support;

use serde_json::Value;
use snapsmith::boot::Grubenv;
use std::path::Path;
use support::build::{Kit, TOOLS, build};

fn manifest(out: &Path) -> Value {
    support::fixtures::read_json(&out.join("manifest.json"))
}

fn offset(m: &Value, name: &str) -> u64 {
    support::fixtures::entry(&m["partitions"], "name", name)["offset"]
        .as_u64()
        .unwrap()
}

/// A file's bytes from the vfat partition `name` of the image in `out`.
fn read(out: &Path, name: &str, path: &str) -> Vec<u8> {
    let at = format!(
        "{}@@{}",
        out.join("pc.img").display(),
        offset(&manifest(out), name)
    );
    snapsmith::exec::Cmd::new("mcopy")
        .args(["-n", "-i", &at, &format!("::/{path}"), "-"])
        .output()
        .unwrap()
        .stdout
}

fn ready() -> bool {
    support::have_tools(TOOLS) && support::have_tools(&["grub-mkimage"])
}

#[test]
fn grub_files_and_kernel_assets_land_on_seed_and_boot() {
    if !ready() {
        return;
    }
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    build(&kit.snaps(), &out)
        .args(["--label", "dev"])
        .assert()
        .success();
    let efi = read(&out, "ubuntu-seed", "EFI/boot/bootx64.efi");
    assert!(efi.starts_with(b"MZ") && efi.len() > 100_000, "GRUB image");
    let seed_cfg = String::from_utf8(read(&out, "ubuntu-seed", "EFI/ubuntu/grub.cfg")).unwrap();
    assert!(seed_cfg.contains("configfile ($boot)/EFI/ubuntu/grub.cfg"));
    let seed_env = Grubenv::decode(&read(&out, "ubuntu-seed", "EFI/ubuntu/grubenv")).unwrap();
    assert_eq!(seed_env.get("snapd_recovery_mode"), Some("run"));
    assert_eq!(seed_env.get("snapd_recovery_system"), Some("dev"));

    let run_cfg = String::from_utf8(read(&out, "ubuntu-boot", "EFI/ubuntu/grub.cfg")).unwrap();
    // The boot disk's identity, as sfdisk reads it from the image, lowercase (as GRUB's probe
    // prints it).
    let table: serde_json::Value = serde_json::from_slice(
        &snapsmith::exec::Cmd::new("sfdisk")
            .arg("--json")
            .arg(out.join("pc.img"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let table = &table["partitiontable"];
    let uuid = |name: &str| {
        let parts = table["partitions"].as_array().unwrap();
        let p = parts.iter().find(|p| p["name"] == name).unwrap();
        p["uuid"].as_str().unwrap().to_lowercase()
    };
    let identity = format!(
        "snapsmith.mode=run snapsmith.kernel=$1 snapsmith.disk={} snapsmith.seed-uuid={} \
         snapsmith.boot-uuid={} snapsmith.save-uuid={} snapsmith.data-uuid={}\n",
        table["id"].as_str().unwrap().to_lowercase(),
        uuid("ubuntu-seed"),
        uuid("ubuntu-boot"),
        uuid("ubuntu-save"),
        uuid("ubuntu-data"),
    );
    assert!(run_cfg.contains(&identity), "{identity} not in {run_cfg}");
    assert!(run_cfg.contains(&format!("= \"{}\" ]", uuid("ubuntu-boot"))));
    assert!(seed_cfg.contains(&format!("= \"{}\" ]", uuid("ubuntu-boot"))));
    assert!(
        !run_cfg.contains("snapsmith.base"),
        "the modeenv names the base"
    );
    let env = Grubenv::decode(&read(&out, "ubuntu-boot", "EFI/ubuntu/grubenv")).unwrap();
    let vars: Vec<_> = env.iter().collect();
    assert_eq!(
        vars,
        [
            ("kernel_status", ""),
            ("snap_kernel", "pc-kernel_x1.snap"),
            ("snap_try_kernel", "")
        ]
    );
    // The second copy is the same block.
    assert_eq!(
        read(&out, "ubuntu-boot", "EFI/ubuntu/grubenv2"),
        read(&out, "ubuntu-boot", "EFI/ubuntu/grubenv")
    );
    assert!(run_cfg.contains("set snap_kernel=\"pc-kernel_x1.snap\"\n"));
    // The kit's kernel snap is a unified kernel.efi: it is extracted byte for byte.
    let snap = snapsmith::snap::SnapFile::open(&kit.kernel).unwrap();
    assert_eq!(
        read(
            &out,
            "ubuntu-boot",
            "EFI/ubuntu/pc-kernel_x1.snap/kernel.efi"
        ),
        snap.read_file("kernel.efi").unwrap()
    );
}

#[test]
fn identical_inputs_give_identical_images() {
    if !ready() {
        return;
    }
    let kit = Kit::new();
    let (a, b) = (kit.dir.path().join("a"), kit.dir.path().join("b"));
    for out in [&a, &b] {
        build(&kit.snaps(), out).assert().success();
    }
    let hash = |out: &Path| {
        let size = std::fs::metadata(out.join("pc.img")).unwrap().len();
        snapsmith::build::sha256_window(&out.join("pc.img"), 0, size).unwrap()
    };
    assert_eq!(hash(&a), hash(&b));
}

#[test]
fn unusable_kernel_arguments_and_kernels_are_refused() {
    if !ready() {
        return;
    }
    let kit = Kit::new();
    let snap_yaml = std::fs::read(support::repo().join("gadgets/pc/meta/snap.yaml")).unwrap();
    let yaml = std::fs::read(support::repo().join("gadgets/pc/meta/gadget.yaml")).unwrap();
    let gadget = kit.repack(
        "pc-extra",
        &[
            ("meta/snap.yaml", &snap_yaml),
            ("meta/gadget.yaml", &yaml),
            ("cmdline.extra", b"quiet it's\n"),
        ],
    );
    let out = kit.dir.path().join("out");
    let err = build(&[&gadget, &kit.kernel, &kit.base, &kit.hello], &out)
        .assert()
        .failure()
        .code(1);
    let stderr = String::from_utf8_lossy(&err.get_output().stderr).into_owned();
    assert!(stderr.contains("cmdline.extra"), "{stderr}");
    assert!(stderr.contains("kernel argument \"it's\""), "{stderr}");
    assert!(
        support::build::nothing_in(&out),
        "a failed build left output"
    );

    let kernel = kit.repack(
        "pc-kernel-empty",
        &[(
            "meta/snap.yaml",
            b"name: pc-kernel\nversion: '6.1'\ntype: kernel\n",
        )],
    );
    let err = build(&[&kit.gadget, &kernel, &kit.base, &kit.hello], &out)
        .assert()
        .failure()
        .code(1);
    let stderr = String::from_utf8_lossy(&err.get_output().stderr).into_owned();
    assert!(
        stderr.contains("has neither vmlinuz with initrd.img nor kernel.efi"),
        "{stderr}"
    );
}

/// GRUB's own parser accepts both configs (grub-script-check, from grub-common).
#[test]
fn grub_parses_both_configs() {
    use snapsmith::boot::grubcfg::{RunConfig, SeedConfig, run_config, seed_config};
    if !support::have_tools(&["grub-script-check"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let identity = snapsmith::boot::diskid::BootDisk {
        ids: snapsmith::boot::diskid::DiskIds {
            disk: "d0000000-0000-4000-8000-000000000000".into(),
            seed: "a0000000-0000-4000-8000-000000000001".into(),
            boot: "b0000000-0000-4000-8000-000000000002".into(),
            save: Some("e0000000-0000-4000-8000-000000000003".into()),
            data: "c0000000-0000-4000-8000-000000000004".into(),
        },
        boot_number: 2,
    };
    for disk in [None, Some(identity)] {
        let run = run_config(&RunConfig {
            extra_args: vec!["quiet".into()],
            legacy_base: Some("core_1.snap".into()),
            disk: disk.clone(),
            default_kernel: Some("pc-kernel_1.snap".into()),
        })
        .unwrap();
        let seed = seed_config(&SeedConfig {
            label: "dev".into(),
            systems: vec!["dev".into(), "spare".into()],
            extra_args: vec![],
            disk,
        })
        .unwrap();
        for (name, text) in [("run.cfg", run), ("seed.cfg", seed)] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            snapsmith::exec::Cmd::new("grub-script-check")
                .arg(&path)
                .run()
                .unwrap();
        }
    }
}

#[test]
fn grub_image_is_a_deterministic_pe_file() {
    if !support::have_tools(&["grub-mkimage"]) {
        return;
    }
    if !Path::new("/usr/lib/grub/x86_64-efi/linux.mod").is_file() {
        support::skip_or_fail("GRUB's x86_64-efi modules are not installed");
        return;
    }
    let a = snapsmith::build::grub_efi::grub_x64_image().unwrap();
    let b = snapsmith::build::grub_efi::grub_x64_image().unwrap();
    assert!(a.starts_with(b"MZ"), "not a PE image");
    assert!(a.len() > 100_000, "suspiciously small: {} bytes", a.len());
    assert!(a == b, "two grub-mkimage runs gave different bytes");
}
