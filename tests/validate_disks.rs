//! The update disk the validator attaches: a GPT disk whose vfat partition named
//! `snapsmith-update` (of its own type) holds the snap files byte for byte with their
//! assertions beside them (read back through fatfs and checked by sfdisk and fsck.vfat); and for an image of grade `signed`, the updates
//! the validator derives are asserted with the key from the keyring that signed the image's
//! snaps, or the scenarios that need them fail saying which key is missing (no VM is booted).

mod support;

use snapsmith::exec::Cmd;
use snapsmith::qemu::disks;
use std::io::Read;

const MIB: u64 = 1024 * 1024;

#[test]
fn update_disk_holds_snaps_and_their_assertions() {
    if !support::have_tools(&["sfdisk", "fsck.vfat"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Content that is not a multiple of any cluster size and spans many clusters.
    let bytes: Vec<u8> = (0..3_000_123u32).map(|i| (i * 7 % 251) as u8).collect();
    let snap = support::build::pack(
        dir.path(),
        "thing_2",
        &[
            ("meta/snap.yaml", b"name: thing\nversion: '2'\ntype: base\n"),
            ("blob", &bytes),
        ],
    );
    // The snap's assertions, as `snapsmith snap assert` prints them.
    let key = snapsmith::assertion::PrivateKey::from_seed([5; 32]);
    let request = snapsmith::snap::SnapAssertRequest {
        snap_id: "thing-id",
        revision: 2,
        publisher: None,
        timestamp: "2026-01-01T00:00:00Z",
    };
    let signed = snapsmith::snap::snap_assertions(&snap, &request, &key, "root").unwrap();
    let assertions = dir.path().join("thing.assertions");
    std::fs::write(&assertions, snapsmith::assertion::encode_stream(&signed)).unwrap();
    let disk = disks::write_update_disk_with(
        dir.path(),
        "update",
        std::slice::from_ref(&snap),
        &[assertions],
    )
    .unwrap();
    let table = Cmd::new("sfdisk")
        .arg("--dump")
        .arg(&disk)
        .run_string()
        .unwrap();
    assert!(table.contains("name=\"snapsmith-update\""), "{table}");
    let own_type = snapsmith::build::update_disk::UPDATE_TYPE.to_string();
    assert!(table.to_lowercase().contains(&own_type), "{table}");
    let file = std::fs::File::open(&disk).unwrap();
    let size = file.metadata().unwrap().len() - 2 * MIB;
    let window = snapsmith::window::Window::new(&file, MIB, size);
    let fs = fatfs::FileSystem::new(window, fatfs::FsOptions::new()).unwrap();
    let read = |name: &str| {
        let mut out = Vec::new();
        fs.root_dir()
            .open_file(name)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    assert_eq!(read("thing_2.snap"), std::fs::read(&snap).unwrap());
    // Paired with the snap by digest, under the snap's stem.
    let beside = snapsmith::assertion::decode_stream(&read("thing_2.assert")).unwrap();
    assert_eq!(beside, signed);
    // Nothing but the snap and its assertions: no manifest, no commands.
    let names: Vec<String> = fs
        .root_dir()
        .iter()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["thing_2.snap", "thing_2.assert"]);
    // fsck.vfat on the partition's bytes.
    let part = dir.path().join("part.img");
    let all = std::fs::read(&disk).unwrap();
    let start = usize::try_from(MIB).unwrap();
    std::fs::write(&part, &all[start..start + usize::try_from(size).unwrap()]).unwrap();
    Cmd::new("fsck.vfat").arg("-n").arg(&part).run().unwrap();
}

/// The example model as grade `signed` with snap ids, signed with the test brand key.
fn signed_model(dir: &std::path::Path, keys: &snapsmith::assertion::Keyring) -> std::path::PathBuf {
    let mut headers: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(
        &std::fs::read(support::repo().join("models/dev-amd64.json")).unwrap(),
    )
    .unwrap();
    headers.insert("grade".into(), "signed".into());
    // The build kit has no snapd snap: leave the example's snapd entry out.
    let snaps = headers["snaps"].as_array_mut().unwrap();
    snaps.retain(|s| s["type"] != "snapd");
    for snap in snaps {
        let id = snap_id(snap["name"].as_str().unwrap());
        snap.as_object_mut().unwrap().insert("id".into(), id.into());
    }
    let (_, brand) = keys.load("dev-brand").unwrap();
    let model = snapsmith::assertion::sign("model", &headers, &[], &brand, "dev").unwrap();
    let path = dir.join("signed.model");
    std::fs::write(&path, model.encode()).unwrap();
    path
}

/// The test store id of snap `name`: its letters and digits, padded to 32 characters.
fn snap_id(name: &str) -> String {
    format!("{:0<32}", name.replace('-', ""))
}

/// A grade-signed image of the build kit, its snaps asserted with the test root key as
/// `snapsmith snap assert` does (the kernel at revision 12); `None` when tools are missing.
fn signed_image() -> Option<(support::build::Kit, std::path::PathBuf)> {
    if !support::have_tools(support::build::TOOLS) {
        return None;
    }
    let kit = support::build::Kit::new();
    let keys = snapsmith::assertion::Keyring::open(&support::repo().join("models/test-keys"));
    let dir = kit.dir.path();
    let model = signed_model(dir, &keys);
    let (root_info, root) = keys.load("dev-root").unwrap();
    let mut build = support::build::build_model(&model, &kit.snaps(), &dir.join("out"));
    for (i, snap) in kit.snaps().into_iter().enumerate() {
        let name = snapsmith::snap::SnapFile::open(snap)
            .unwrap()
            .info()
            .name
            .clone();
        let request = snapsmith::snap::SnapAssertRequest {
            snap_id: &snap_id(&name),
            revision: 11 + i as u64,
            publisher: None,
            timestamp: "2026-01-01T00:00:00+00:00",
        };
        let signed =
            snapsmith::snap::snap_assertions(snap, &request, &root, &root_info.account_id).unwrap();
        let path = dir.join(format!("{name}.assert"));
        std::fs::write(&path, snapsmith::assertion::encode_stream(&signed)).unwrap();
        build.arg("--assertions").arg(path);
    }
    build.assert().success();
    let image = dir.join("out/pc.img");
    Some((kit, image))
}

#[test]
fn derived_updates_of_a_signed_image_are_asserted_with_the_keyring_key() {
    use snapsmith::qemu::{derive, scenario::UpdateKind, signing};
    let Some((_kit, image)) = signed_image() else {
        return;
    };
    let info = derive::read_image(&image).unwrap();
    let (offset, size) = info.seed.unwrap();
    let seed = signing::read_seed_signing(&image, offset, size)
        .unwrap()
        .unwrap();
    assert_eq!(seed.grade, "signed");
    let work = tempfile::tempdir().unwrap();
    let snap = derive::derive_update(UpdateKind::GoodKernel, &info, work.path())
        .unwrap()
        .unwrap();
    let keys = snapsmith::assertion::Keyring::open(&support::repo().join("models/test-keys"));
    let (root_info, root) = keys.load("dev-root").unwrap();

    let path = signing::assert_update(&snap, UpdateKind::GoodKernel, &seed, Some(&keys))
        .unwrap()
        .unwrap();
    assert_eq!(path, snap.with_extension("assert"));
    let stream = snapsmith::assertion::decode_stream(&std::fs::read(&path).unwrap()).unwrap();
    let types: Vec<&str> = stream.iter().map(|a| a.type_name()).collect();
    assert_eq!(types, ["snap-declaration", "snap-revision"]);
    for a in &stream {
        assert_eq!(a.sign_key_id(), root_info.key_id);
        root.public()
            .verify(a.signed_content(), a.signature())
            .unwrap();
    }
    let revision = snapsmith::assertion::SnapRevision::from_assertion(&stream[1]).unwrap();
    assert_eq!(
        revision.snap_sha3_384,
        snapsmith::snap::digest(&snap).unwrap().sha3_384
    );
    assert_eq!(
        (revision.snap_id, revision.snap_revision),
        (snap_id("pc-kernel"), 13)
    );

    // Without the signing key (a keyring without it, or none) the update cannot be asserted.
    let other = tempfile::tempdir().unwrap();
    for keyring in [
        Some(snapsmith::assertion::Keyring::open(other.path())),
        None,
    ] {
        let err = signing::assert_update(&snap, UpdateKind::GoodKernel, &seed, keyring.as_ref())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("needs the signing key {}", root_info.key_id)
        );
    }
}

#[test]
fn a_scenario_without_its_signing_key_fails_saying_so() {
    let Some((kit, image)) = signed_image() else {
        return;
    };
    let key_id = snapsmith::assertion::Keyring::open(&support::repo().join("models/test-keys"))
        .load("dev-root")
        .unwrap()
        .0
        .key_id;
    let empty = tempfile::tempdir().unwrap();
    // No keyring/ beside the image, then a keyring without the key.
    for keyring in [None, Some(empty.path())] {
        let mut cmd = support::snapsmith();
        cmd.arg("validate")
            .arg(&image)
            .args(["--scenario", "good-kernel-update", "--work"])
            .arg(kit.dir.path().join("work"));
        if let Some(dir) = keyring {
            cmd.arg("--keyring").arg(dir);
        }
        let out = cmd.assert().code(1);
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(stdout.contains("FAIL good-kernel-update"), "{stdout}");
        assert!(
            stdout.contains(&format!("reason: needs the signing key {key_id}")),
            "{stdout}"
        );
    }
}
