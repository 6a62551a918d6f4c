//! Each refusal of `snapsmith build` names the snap and the rule, exits 1 and leaves no image;
//! and a grade `signed` model builds from snaps asserted with `snapsmith snap assert`.

mod support;

use support::Succeeds;

use predicates::prelude::*;
use predicates::str::contains;
use std::path::{Path, PathBuf};
use support::build::*;
use support::fixtures::vfat_file;
use support::{repo, snapsmith};

/// Runs a build that must fail with `message`, then checks nothing was left in the output dir.
fn refused(snaps: &[&Path], out: &Path, message: &str) {
    build(snaps, out).assert().code(1).stderr(contains(message));
    assert!(
        nothing_in(out),
        "a refused build left files in {}",
        out.display()
    );
}

#[test]
fn missing_required_snap() {
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    refused(
        &[&kit.gadget, &kit.kernel, &kit.base],
        &out,
        "snap \"hello\" is required by the model but no snap file was given for it",
    );
}

#[test]
fn wrong_type() {
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    let app = kit.repack(
        "kernel-as-app",
        &[(
            "meta/snap.yaml",
            b"name: pc-kernel\nversion: '1'\napps:\n  k:\n    command: k\n",
        )],
    );
    refused(
        &[&kit.gadget, &app, &kit.base, &kit.hello],
        &out,
        "type app in meta/snap.yaml, but the model says kernel",
    );
}

#[test]
fn wrong_architecture() {
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    let arm = kit.repack(
        "hello-arm",
        &[(
            "meta/snap.yaml",
            b"name: hello\nversion: '1'\nbase: core\narchitectures: [arm64]\n",
        )],
    );
    refused(
        &[&kit.gadget, &kit.kernel, &kit.base, &arm],
        &out,
        "snap \"hello\"",
    );
    build(&[&kit.gadget, &kit.kernel, &kit.base, &arm], &out)
        .assert()
        .code(1)
        .stderr(contains(
            "is built for arm64, not for the model's architecture amd64",
        ));
}

#[test]
fn base_not_in_image() {
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    let other = kit.repack(
        "hello-core24",
        &[(
            "meta/snap.yaml",
            b"name: hello\nversion: '1'\nbase: core24\n",
        )],
    );
    refused(
        &[&kit.gadget, &kit.kernel, &kit.base, &other],
        &out,
        "snap \"hello\"",
    );
    build(&[&kit.gadget, &kit.kernel, &kit.base, &other], &out)
        .assert()
        .code(1)
        .stderr(contains("needs base \"core24\", which is not in the image"));
}

#[test]
fn untrusted_model() {
    let kit = Kit::new();
    let out = kit.dir.path().join("out");
    let mut cmd = snapsmith();
    cmd.arg("build")
        .arg(repo().join("models/dev-amd64.model"))
        .arg("--assertions")
        .arg(repo().join("models/dev-brand.assert"))
        .arg("-O")
        .arg(&out);
    for s in kit.snaps() {
        cmd.arg("--snap").arg(s);
    }
    cmd.assert().code(1).stderr(contains("verifying the model"));
    assert!(nothing_in(&out));
}

/// A grade-signed variant of the example model with snap ids, signed with the test brand key.
fn signed_model(dir: &Path) -> PathBuf {
    signed_model_with(dir, r#""grade": "signed""#)
}

/// The same model with `grade` (and any other header) given as JSON members.
fn signed_model_with(dir: &Path, grade: &str) -> PathBuf {
    let json = r#"{
        "type": "model", "series": "16", "authority-id": "dev", "brand-id": "dev",
        "model": "dev-signed", "architecture": "amd64", "base": "core", GRADE,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "snaps": [
            {"name": "pc", "id": "pcid0000000000000000000000000000", "type": "gadget", "default-channel": "latest/stable"},
            {"name": "pc-kernel", "id": "kernelid000000000000000000000000", "type": "kernel", "default-channel": "latest/stable"},
            {"name": "core", "id": "coreid00000000000000000000000000", "type": "base", "default-channel": "latest/stable"},
            {"name": "hello", "id": "helloid0000000000000000000000000", "type": "app", "default-channel": "latest/stable"}
        ]
    }"#;
    let headers = dir.join("signed.json");
    std::fs::write(&headers, json.replace("GRADE", grade)).unwrap();
    let signed = snapsmith()
        .args(["sign", "--keyring"])
        .arg(repo().join("models/test-keys"))
        .args(["--key", "dev-brand"])
        .arg(&headers)
        .ok_stdout();
    let model = dir.join("dev-signed.model");
    std::fs::write(&model, signed).unwrap();
    model
}

/// `snapsmith snap assert` output for a snap file.
fn assert_snap(dir: &Path, snap: &Path, id: &str, revision: u32) -> PathBuf {
    let out = snapsmith()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(["snap", "assert"])
        .arg(snap)
        .args(["--keyring"])
        .arg(repo().join("models/test-keys"))
        .args(["--key", "dev-root", "--snap-id", id, "--revision"])
        .arg(revision.to_string())
        .ok_stdout();
    let path = dir.join(format!("{id}-{revision}.assert"));
    std::fs::write(&path, out).unwrap();
    path
}

fn signed_build(
    model: &Path,
    snaps: &[&Path],
    assertions: &[PathBuf],
    out: &Path,
) -> assert_cmd::Command {
    let mut cmd = build_model(model, snaps, out);
    for a in assertions {
        cmd.arg("--assertions").arg(a);
    }
    cmd
}

#[test]
fn signed_grade_needs_assertions_and_refuses_extras() {
    let kit = Kit::new();
    let dir = kit.dir.path();
    let model = signed_model(dir);
    let assertions: Vec<PathBuf> = [
        (&kit.gadget, "pcid0000000000000000000000000000", 11),
        (&kit.kernel, "kernelid000000000000000000000000", 12),
        (&kit.base, "coreid00000000000000000000000000", 13),
        (&kit.hello, "helloid0000000000000000000000000", 14),
    ]
    .iter()
    .map(|(snap, id, rev)| assert_snap(dir, snap, id, *rev))
    .collect();

    let out = dir.join("out");
    signed_build(&model, &kit.snaps(), &assertions[..3], &out)
        .assert()
        .code(1)
        .stderr(contains("snap \"hello\" ("))
        .stderr(contains(
            "grade signed needs a snap-declaration and snap-revision for it",
        ));
    assert!(nothing_in(&out));

    // A file asserted under the model's snap-id for hello, but named otherwise.
    let hullo = kit.repack(
        "hullo",
        &[("meta/snap.yaml", b"name: hullo\nversion: '1'\nbase: core\n")],
    );
    let mut renamed = assertions[..3].to_vec();
    renamed.push(assert_snap(
        dir,
        &hullo,
        "helloid0000000000000000000000000",
        15,
    ));
    signed_build(
        &model,
        &[&kit.gadget, &kit.kernel, &kit.base, &hullo],
        &renamed,
        &out,
    )
    .assert()
    .code(1)
    .stderr(contains(
        "the model lists snap-id helloid0000000000000000000000000 under the name \"hello\"",
    ))
    .stderr(contains("but the file is snap \"hullo\""));
    assert!(nothing_in(&out));

    let extra = kit.repack(
        "extra",
        &[("meta/snap.yaml", b"name: extra\nversion: '1'\nbase: core\n")],
    );
    let mut with_extra = kit.snaps();
    with_extra.push(&extra);
    signed_build(&model, &with_extra, &assertions, &out)
        .assert()
        .code(1)
        .stderr(contains("snap \"extra\""))
        .stderr(contains("extra snaps are allowed only in grade dangerous"));
    assert!(nothing_in(&out));

    let json = signed_build(&model, &kit.snaps(), &assertions, &out)
        .args(["--dry-run", "--json"])
        .ok_stdout();
    let plan: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let hello = support::fixtures::entry(&plan["snaps"], "name", "hello");
    assert_eq!(hello["revision"], "14");
    assert_eq!(hello["snap-id"], "helloid0000000000000000000000000");
    assert_eq!(hello["seed-path"], "snaps/hello_14.snap");
    assert!(nothing_in(&out));

    if !support::have_tools(TOOLS) {
        return;
    }
    signed_build(&model, &kit.snaps(), &assertions, &out)
        .args(["--label", "signed"])
        .assert()
        .success();
    let manifest: serde_json::Value = support::fixtures::read_json(&out.join("manifest.json"));
    let seed = support::fixtures::entry(&manifest["partitions"], "role", "system-seed");
    let at = format!("{}@@{}", out.join("pc.img").display(), seed["offset"]);
    let snaps = run("mdir", &["-b", "-i", &at, "::/snaps"]);
    assert!(
        snaps.contains("hello_14.snap") && snaps.contains("pc_11.snap"),
        "{snaps}"
    );
    let system = run("mdir", &["-b", "-i", &at, "::/systems/signed"]);
    assert!(!system.contains("options.yaml"), "{system}");
    let text = vfat_file(
        &out.join("pc.img"),
        seed["offset"].as_u64().unwrap(),
        "/systems/signed/assertions/snaps",
    );
    let text = String::from_utf8(text).unwrap();
    assert_eq!(text.matches("type: snap-revision").count(), 4, "{text}");
    assert!(text.contains("snap-revision: 14"), "{text}");
}

/// A snap-revision asserted for other bytes than the file's (same name, same snap-id) does
/// not vouch for the file: the build names the file's digest and size and writes nothing.
#[test]
fn signed_grade_refuses_a_revision_of_other_bytes() {
    let kit = Kit::new();
    let dir = kit.dir.path();
    let model = signed_model(dir);
    let mut assertions: Vec<PathBuf> = [
        (&kit.gadget, "pcid0000000000000000000000000000", 11),
        (&kit.kernel, "kernelid000000000000000000000000", 12),
        (&kit.base, "coreid00000000000000000000000000", 13),
    ]
    .iter()
    .map(|(snap, id, rev)| assert_snap(dir, snap, id, *rev))
    .collect();
    assertions.push(assert_snap(
        dir,
        &kit.hello,
        "helloid0000000000000000000000000",
        14,
    ));
    let changed = kit.repack(
        "hello-changed",
        &[
            (
                "meta/snap.yaml",
                b"name: hello\nversion: '1.0'\nbase: core\n",
            ),
            ("bin/other", b"not the asserted bytes"),
        ],
    );
    let digest = snapsmith::snap::digest(&changed).unwrap();
    let out = dir.join("out");
    signed_build(
        &model,
        &[&kit.gadget, &kit.kernel, &kit.base, &changed],
        &assertions,
        &out,
    )
    .assert()
    .code(1)
    .stderr(contains("snap \"hello\" ("))
    .stderr(contains(format!(
        "none matches its sha3-384 {} and size {}",
        digest.sha3_384, digest.size
    )));
    assert!(nothing_in(&out));
}

#[test]
fn snaps_dir_and_duplicates() {
    let kit = Kit::new();
    let snaps = kit.dir.path().join("snaps");
    std::fs::create_dir(&snaps).unwrap();
    for s in kit.snaps() {
        std::fs::copy(s, snaps.join(s.file_name().unwrap())).unwrap();
    }
    let out = kit.dir.path().join("out");
    let mut cmd = build(&[], &out);
    cmd.arg("--snaps-dir").arg(&snaps).arg("--dry-run");
    cmd.assert().success().stdout(contains("hello"));
    let mut cmd = build(&[&kit.hello], &out);
    cmd.arg("--snaps-dir").arg(&snaps);
    cmd.assert()
        .code(1)
        .stderr(contains("two snap files are named \"hello\""));
    assert!(nothing_in(&out));
}

type WriterRule = (
    &'static str,
    &'static str,
    &'static str,
    Extra,
    &'static str,
);
/// A file of `n` bytes added to the gadget snap.
type Extra = Option<(&'static str, usize)>;

/// Writer-side rules as gadget.yaml edits: (case, text replaced, replacement, extra file of
/// `n` bytes in the gadget snap, expected message).
const WRITER_RULES: &[WriterRule] = &[
    (
        "fat-geometry",
        "        filesystem: vfat\n        type: 83,0FC63DAF-8483-4772-8E79-3D69D8477DE4\n        size: 192M\n",
        "        filesystem: vfat-32\n        type: 83,0FC63DAF-8483-4772-8E79-3D69D8477DE4\n        size: 32M\n",
        None,
        "vfat-32 needs at least 33 MiB",
    ),
    (
        "fat-label",
        "        role: system-boot\n",
        "        role: system-boot\n        filesystem-label: much-too-long\n",
        None,
        "longer than 11 bytes",
    ),
    (
        "mbr-blob",
        "    structure:\n",
        "    structure:\n      - name: mbr\n        role: mbr\n        type: mbr\n        size: 447\n        content:\n          - image: mbr.img\n",
        Some(("mbr.img", 447)),
        "more than the 446 bytes",
    ),
    (
        "raw-image-size",
        "    structure:\n",
        "    structure:\n      - name: blob\n        type: bare\n        size: 1M\n        content:\n          - image: blob.img\n",
        Some(("blob.img", 2 << 20)),
        "\"blob.img\" (2097152 bytes at offset 0) does not fit",
    ),
    (
        "table-overlap",
        "    structure:\n",
        "    structure:\n      - name: early\n        type: bare\n        offset: 4096\n        size: 4096\n",
        None,
        "overlaps the GPT header",
    ),
    (
        "offset-write",
        "        size: 256M\n",
        "        size: 256M\n        offset-write: 1000\n",
        None,
        "would clobber the partition table",
    ),
];

/// A writer-side rule: `build --dry-run` and `build` refuse the edited gadget alike, with the
/// same error, exit 1 and nothing written. Some rules are met first by the gadget's own
/// validation (label length, mbr size, raw image size, table overlap, offset-writes); the FAT
/// geometry is the writer's alone (`disk::check`), which `--dry-run` used to skip.
fn refused_alike(case: &str) {
    let &(_, from, to, extra, message) = WRITER_RULES
        .iter()
        .find(|c| c.0 == case)
        .expect("a known case");
    let kit = Kit::new();
    let yaml = std::fs::read_to_string(repo().join("gadgets/pc/meta/gadget.yaml")).unwrap();
    let edited = yaml.replacen(from, to, 1);
    assert_ne!(edited, yaml, "{case}: the edit changed nothing");
    let snap_yaml = std::fs::read(repo().join("gadgets/pc/meta/snap.yaml")).unwrap();
    let blob = vec![0x55u8; extra.map_or(0, |e| e.1)];
    let mut files: Vec<(&str, &[u8])> = vec![
        ("meta/snap.yaml", &snap_yaml),
        ("meta/gadget.yaml", edited.as_bytes()),
    ];
    if let Some((name, _)) = extra {
        files.push((name, &blob));
    }
    let gadget = kit.repack(&format!("pc-{case}"), &files);
    let snaps = [gadget.as_path(), &kit.kernel, &kit.base, &kit.hello];
    let out = kit.dir.path().join("out");
    let errors = |dry_run: bool| {
        let mut cmd = build(&snaps, &out);
        if dry_run {
            cmd.arg("--dry-run");
        }
        let output = cmd
            .assert()
            .code(1)
            .stderr(contains(message))
            .get_output()
            .clone();
        assert!(nothing_in(&out), "{case}: dry run {dry_run} left files");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let lines: Vec<_> = stderr
            .lines()
            .filter(|l| !l.starts_with("snapsmith: "))
            .collect();
        lines.join("\n")
    };
    assert_eq!(errors(true), errors(false), "{case}");
}

#[test]
fn dry_run_refuses_like_build_fat_geometry() {
    refused_alike("fat-geometry");
}

#[test]
fn dry_run_refuses_like_build_fat_label_length() {
    refused_alike("fat-label");
}

#[test]
fn dry_run_refuses_like_build_mbr_blob() {
    refused_alike("mbr-blob");
}

#[test]
fn dry_run_refuses_like_build_raw_image_size() {
    refused_alike("raw-image-size");
}

#[test]
fn dry_run_refuses_like_build_structure_over_the_table() {
    refused_alike("table-overlap");
}

#[test]
fn dry_run_refuses_like_build_offset_write_into_the_table() {
    refused_alike("offset-write");
}

#[test]
fn models_that_need_encryption_are_refused() {
    let kit = Kit::new();
    let cases = [
        (r#""grade": "secured""#, "grade"),
        (
            r#""grade": "signed", "storage-safety": "encrypted""#,
            "storage-safety",
        ),
    ];
    for (grade, field) in cases {
        let dir = tempfile::tempdir().unwrap();
        let model = signed_model_with(dir.path(), grade);
        let out = dir.path().join("out");
        build_model(&model, &kit.snaps(), &out)
            .assert()
            .failure()
            .code(1)
            .stderr(contains(format!("header \"{field}\"")).and(contains("does not write yet")));
        assert!(nothing_in(&out), "{field}: output left behind");
    }
}
