//! `snapsmith build` of the example model with small snaps made by `snap pack`, checked with
//! sfdisk, fsck.vfat, e2fsck, mtools, debugfs and openssl.

mod support;

use support::Succeeds;

use serde_json::Value;
use std::path::Path;
use support::build::*;
use support::fixtures::{sfdisk_table, vfat_file};

fn manifest(out: &Path) -> Value {
    support::fixtures::read_json(&out.join("manifest.json"))
}

fn partition<'a>(m: &'a Value, name: &str) -> &'a Value {
    support::fixtures::entry(&m["partitions"], "name", name)
}

fn offset_size(p: &Value) -> (u64, u64) {
    (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap())
}

#[test]
fn example_model_builds_a_preinstalled_image() {
    if !support::have_tools(TOOLS) || !support::have_tools(&["openssl"]) {
        return;
    }
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    let stdout = build(&kit.snaps(), &out)
        .args(["--label", "dev"])
        .ok_stdout();
    let stdout = String::from_utf8(stdout).unwrap();
    assert!(
        stdout.contains("pc.img") && stdout.contains("manifest.json"),
        "{stdout}"
    );
    assert_eq!(
        support::build::names_in(&out),
        ["manifest.json", "pc.img", "pc.img.bmap"],
        "no staging left behind"
    );
    let image = out.join("pc.img");

    let table = sfdisk_table(&image);
    let parts: Vec<_> = table["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        parts,
        ["ubuntu-seed", "ubuntu-boot", "ubuntu-save", "ubuntu-data"]
    );

    let m = manifest(&out);
    assert_eq!(m["model"]["brand"], "dev");
    assert_eq!(m["model"]["model"], "dev-amd64");
    assert_eq!(m["model"]["grade"], "dangerous");
    assert_eq!(m["label"], "dev");
    let snaps: Vec<_> = m["snaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["revision"].as_str().unwrap().to_string(),
                s["seed-path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(snaps.contains(&(
        "hello".into(),
        "x1".into(),
        "systems/dev/snaps/hello_1.0.snap".into()
    )));
    assert!(
        !snaps.iter().any(|s| s.0 == "snapd"),
        "no snapd snap is added"
    );
    let hello = support::fixtures::entry(&m["snaps"], "name", "hello");
    let digest = snapsmith::snap::digest(&kit.hello).unwrap();
    assert_eq!(hello["sha3-384"], digest.sha3_384.as_str());

    let work = tempfile::tempdir().unwrap();
    check_seed(&image, partition(&m, "ubuntu-seed"), &kit, work.path());
    check_boot(&image, partition(&m, "ubuntu-boot"), work.path());
    check_data(&image, partition(&m, "ubuntu-data"), &kit, work.path());
    let save = work.path().join("save.img");
    let (o, s) = offset_size(partition(&m, "ubuntu-save"));
    extract(&image, o, s, &save);
    run("e2fsck", &["-fn", save.to_str().unwrap()]);

    let report = support::snapsmith()
        .args(["inspect", "--json"])
        .arg(&image)
        .ok_stdout();
    let report: Value = serde_json::from_slice(&report).unwrap();
    let system = &report["seed"]["systems"][0];
    assert_eq!(system["label"], "dev");
    assert_eq!(
        report["seed"]["next_boot"],
        serde_json::json!({"mode": "run", "system": "dev"}),
        "the seed's grubenv boots run mode next"
    );
    assert_eq!(system["brand"], "dev");
    assert_eq!(system["model"], "dev-amd64");
    assert_eq!(system["grade"], "dangerous");
    assert_eq!(
        system["snaps"],
        serde_json::json!([
            "core_1.snap",
            "hello_1.0.snap",
            "pc-kernel_6.1.snap",
            "pc_1.0.snap"
        ])
    );

    for p in m["partitions"].as_array().unwrap() {
        let (o, s) = offset_size(p);
        let part = work.path().join("part");
        extract(&image, o, s, &part);
        let (bytes, digest) = mapped_sha256(&part);
        assert_eq!(p["mapped-bytes"].as_u64().unwrap(), bytes, "{}", p["name"]);
        assert_eq!(
            p["mapped-sha256"].as_str().unwrap(),
            digest,
            "{}",
            p["name"]
        );
    }
}

/// A partition's `mapped-bytes` and `mapped-sha256` as docs/image-layout.md defines them,
/// computed here independently from its bytes.
fn mapped_sha256(part: &Path) -> (u64, String) {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(part).unwrap();
    // (first block, block count, digest of the bytes) of each run of non-zero blocks.
    let mut ranges: Vec<(u64, u64, Sha256)> = Vec::new();
    let mut mapped = 0;
    for (i, block) in bytes.chunks(4096).enumerate() {
        let i = u64::try_from(i).unwrap();
        if block.iter().all(|b| *b == 0) {
            continue;
        }
        mapped += u64::try_from(block.len()).unwrap();
        match ranges.last_mut() {
            Some((first, count, hasher)) if *first + *count == i => {
                *count += 1;
                hasher.update(block);
            }
            _ => ranges.push((i, 1, Sha256::new_with_prefix(block))),
        }
    }
    let mut all = Sha256::new();
    for (first, count, hasher) in ranges {
        all.update(first.to_be_bytes());
        all.update(count.to_be_bytes());
        all.update(hasher.finalize());
    }
    let hex = all.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (mapped, hex)
}

fn check_seed(image: &Path, p: &Value, kit: &Kit, work: &Path) {
    let (offset, size) = offset_size(p);
    let part = work.join("seed.img");
    extract(image, offset, size, &part);
    run("fsck.vfat", &["-n", part.to_str().unwrap()]);
    let at = format!("{}@@{offset}", image.display());
    let system = run("mdir", &["-b", "-i", &at, "::/systems/dev"]);
    for want in ["model", "assertions", "snaps", "options.yaml"] {
        assert!(system.contains(want), "{want} missing from {system}");
    }
    let get = |inside: &str| vfat_file(image, offset, inside);
    let model = std::fs::read(support::repo().join(DANGEROUS_MODEL)).unwrap();
    assert_eq!(
        String::from_utf8(get("::/systems/dev/model"))
            .unwrap()
            .trim_end(),
        String::from_utf8(model).unwrap().trim_end()
    );
    let model_etc = String::from_utf8(get("::/systems/dev/assertions/model-etc")).unwrap();
    assert!(model_etc.contains("type: account-key"), "{model_etc}");
    assert_eq!(
        get("::/systems/dev/snaps/hello_1.0.snap"),
        std::fs::read(&kit.hello).unwrap()
    );
    assert_eq!(
        get("::/systems/dev/snaps/pc-kernel_6.1.snap"),
        std::fs::read(&kit.kernel).unwrap()
    );
    let options = String::from_utf8(get("::/systems/dev/options.yaml")).unwrap();
    assert!(options.contains("unasserted: core_1.snap"), "{options}");
}

fn check_boot(image: &Path, p: &Value, work: &Path) {
    let (offset, size) = offset_size(p);
    let part = work.join("boot.img");
    extract(image, offset, size, &part);
    run("fsck.vfat", &["-n", part.to_str().unwrap()]);
    let at = format!("{}@@{offset}", image.display());
    let listing = run("mdir", &["-b", "-i", &at, "::/device"]);
    assert!(listing.contains("model"), "{listing}");
}

fn check_data(image: &Path, p: &Value, kit: &Kit, work: &Path) {
    let (offset, size) = offset_size(p);
    let part = work.join("data.img");
    extract(image, offset, size, &part);
    run("e2fsck", &["-fn", part.to_str().unwrap()]);
    let dev = part.to_str().unwrap();
    let modeenv = run(
        "debugfs",
        &["-R", "cat /system-data/var/lib/snapd/modeenv", dev],
    );
    for want in [
        "mode=run\n",
        "recovery_system=dev\n",
        "base=core_x1.snap\n",
        "gadget=pc_x1.snap\n",
        "current_kernels=pc-kernel_x1.snap\n",
        "model=dev/dev-amd64\n",
        "grade=dangerous\n",
    ] {
        assert!(modeenv.contains(want), "{want:?} missing from {modeenv}");
    }
    assert!(!modeenv.contains("try_base"), "{modeenv}");
    let listing = run(
        "debugfs",
        &["-R", "ls -l /system-data/var/lib/snapd/snaps", dev],
    );
    for want in [
        "core_x1.snap",
        "pc_x1.snap",
        "pc-kernel_x1.snap",
        "hello_x1.snap",
    ] {
        assert!(listing.contains(want), "{want} missing from {listing}");
    }
    let out = work.join("hello.snap");
    let dump = format!(
        "dump /system-data/var/lib/snapd/snaps/hello_x1.snap {}",
        out.display()
    );
    run("debugfs", &["-R", &dump, dev]);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&kit.hello).unwrap()
    );
}

#[test]
fn same_inputs_give_the_same_image() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let kit = Kit::new();
    let (a, b) = (kit.dir.path().join("a"), kit.dir.path().join("b"));
    build(&kit.snaps(), &a).assert().success();
    build(&kit.snaps(), &b).assert().success();
    assert_eq!(
        std::fs::read(a.join("manifest.json")).unwrap(),
        std::fs::read(b.join("manifest.json")).unwrap()
    );
    let same = std::fs::read(a.join("pc.img")).unwrap() == std::fs::read(b.join("pc.img")).unwrap();
    assert!(same, "pc.img differs between two builds of the same inputs");
    // The label defaults to the build date from SOURCE_DATE_EPOCH.
    assert_eq!(manifest(&a)["label"], "20260101");
}

#[test]
fn one_snap_option_takes_several_files() {
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    let mut cmd = build(&[], &out);
    cmd.arg("--snap").args(kit.snaps()).arg("--dry-run");
    let text = cmd.assert().success().get_output().stdout.clone();
    let text = String::from_utf8(text).unwrap();
    for name in ["pc", "pc-kernel", "core", "hello"] {
        assert!(text.contains(&format!("  {name} ")), "{name}: {text}");
    }
    assert!(nothing_in(&out));
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    let text = build(&kit.snaps(), &out).arg("--dry-run").ok_stdout();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("ubuntu-data") && text.contains("system-data"),
        "{text}"
    );
    assert!(text.contains("hello"), "{text}");
    assert!(text.contains(" bytes, gpt, 512-byte sectors"), "{text}");
    assert!(nothing_in(&out), "a dry run wrote into {}", out.display());
    let json = build(&kit.snaps(), &out)
        .args(["--dry-run", "--json"])
        .ok_stdout();
    let v: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["plan"]["volumes"][0]["name"], "pc");
    assert_eq!(v["model"]["model"], "dev-amd64");
    assert!(nothing_in(&out));
}

#[test]
fn timings_name_every_stage_in_text_and_json() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    let run = |args: &[&str]| {
        let stdout = build(&kit.snaps(), &out)
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(stdout).unwrap()
    };
    let text = run(&["--timings"]);
    for stage in [
        "load",
        "digest",
        "plan",
        "pc.img ubuntu-seed",
        "manifest",
        "total",
    ] {
        let line = |l: &str| l.trim_start().starts_with(&format!("{stage} "));
        assert!(text.lines().any(line), "{stage}: {text}");
    }
    let v: Value = serde_json::from_str(&run(&["--timings", "--json"])).unwrap();
    let stages: Vec<&str> = v["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages[..3], ["load", "digest", "resolve"], "{stages:?}");
    assert!(stages.contains(&"pc.img ubuntu-data"), "{stages:?}");
    assert!(v["timings"][0]["seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        v["model"]["model"], "dev-amd64",
        "the manifest is still there"
    );
    // Timings are a report: manifest.json does not carry them, and --json without --timings
    // prints exactly manifest.json.
    assert!(manifest(&out).get("timings").is_none());
    let plain = run(&["--json"]);
    assert_eq!(
        plain,
        std::fs::read_to_string(out.join("manifest.json")).unwrap()
    );
    let plan: Value = serde_json::from_str(&run(&["--timings", "--json", "--dry-run"])).unwrap();
    assert_eq!(plan["timings"][0]["stage"], "load");
}

/// Starts `snapsmith build` of the kit into `out` in the background.
fn spawn_build(kit: &Kit, out: &Path) -> std::process::Child {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("snapsmith"));
    cmd.env("SOURCE_DATE_EPOCH", EPOCH)
        .arg("build")
        .arg(support::repo().join(DANGEROUS_MODEL))
        .arg("--assertions")
        .arg(support::repo().join("models/dev-brand.assert"))
        .arg("--trusted")
        .arg(support::repo().join("models/dev-root.assert"))
        .arg("-O")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for s in kit.snaps() {
        cmd.arg("--snap").arg(s);
    }
    cmd.spawn().unwrap()
}

#[test]
fn interrupted_build_leaves_nothing() {
    let kit = Kit::new();
    let mut interrupted = 0;
    for (i, delay_ms) in [20u64, 60, 120, 200, 600, 1200, 2000].iter().enumerate() {
        let out = kit.dir.path().join(format!("out{i}"));
        let mut child = spawn_build(&kit, &out);
        std::thread::sleep(std::time::Duration::from_millis(*delay_ms));
        let pid = i32::try_from(child.id()).unwrap();
        // SAFETY: signals our own child process.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let status = child.wait().unwrap();
        if status.success() {
            continue;
        }
        interrupted += 1;
        eprintln!("interrupted after {delay_ms} ms: {status}");
        assert!(
            nothing_in(&out),
            "an interrupted build left files in {}",
            out.display()
        );
    }
    assert!(interrupted > 0, "no build could be interrupted");
}

/// Staging directories in `dir`.
fn staging_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|r| r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()))
        .into_iter()
        .flatten()
        .filter(|n| n.starts_with(".snapsmith-build-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_killed_builds_staging_folder_is_removed_by_the_next_build() {
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    // SIGKILL as soon as the staging folder exists: nothing can clean up after that.
    let mut child = spawn_build(&kit, &out);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while staging_dirs(&out).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no staging folder");
        assert!(child.try_wait().unwrap().is_none(), "the build ended early");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stale = staging_dirs(&out);
    assert_eq!(stale.len(), 1, "{stale:?}");
    build(&kit.snaps(), &out).assert().success();
    assert!(staging_dirs(&out).is_empty(), "{:?}", staging_dirs(&out));
    assert!(out.join("pc.img").exists());
}

#[test]
fn gadget_content_lands_beside_the_seed() {
    if !support::have_tools(TOOLS) {
        return;
    }
    let kit = Kit::new();
    let yaml = std::fs::read_to_string(support::repo().join("gadgets/pc/meta/gadget.yaml"))
        .unwrap()
        .replace(
            "        size: 256M\n",
            "        size: 256M\n        content:\n          - source: boot/\n            target: EFI/boot/\n",
        );
    assert!(yaml.contains("target: EFI/boot/"));
    let snap_yaml = std::fs::read(support::repo().join("gadgets/pc/meta/snap.yaml")).unwrap();
    let gadget = kit.repack(
        "pc-content",
        &[
            ("meta/snap.yaml", &snap_yaml),
            ("meta/gadget.yaml", yaml.as_bytes()),
            ("boot/bootx64.efi", b"MZ not really an EFI binary"),
        ],
    );
    let out = kit.dir.path().join("out");
    build(&[&gadget, &kit.kernel, &kit.base, &kit.hello], &out)
        .args(["--label", "dev"])
        .assert()
        .success();
    let seed = partition(&manifest(&out), "ubuntu-seed").clone();
    let at = format!("{}@@{}", out.join("pc.img").display(), seed["offset"]);
    let root = run("mdir", &["-b", "-/", "-i", &at, "::/"]);
    assert!(root.contains("EFI/boot/bootx64.efi"), "{root}");
    assert!(root.contains("systems/dev/model"), "{root}");
}
