//! gadget.yaml rules from spec §3, one case each: the refused gadget and the words of the error
//! (volume, structure, field), and the accepted variants next to them.

use snapsmith::gadget::{self, Gadget, Role, Ruleset};

const SEED: &str = "      - name: ubuntu-seed\n        role: system-seed\n        type: C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n        filesystem: vfat\n        size: 8M\n";
const DATA: &str = "      - name: ubuntu-data\n        role: system-data\n        type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4\n        filesystem: ext4\n        size: 8M\n";
const SAVE: &str = "      - name: ubuntu-save\n        role: system-save\n        type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4\n        filesystem: ext4\n        size: 4M\n";

fn volume(name: &str, extra: &str, structures: &str) -> String {
    format!("volumes:\n  {name}:\n{extra}    structure:\n{structures}")
}

fn pc(structures: &str) -> String {
    volume("pc", "    bootloader: grub\n", structures)
}

fn refused(yaml: &str, ruleset: Ruleset, needle: &str) {
    match Gadget::parse(yaml, ruleset).and_then(|g| gadget::layout(&g, 512).map(|_| g)) {
        Ok(_) => panic!("accepted, expected {needle:?}:\n{yaml}"),
        Err(e) => assert!(e.to_string().contains(needle), "{needle:?} not in {e}"),
    }
}

fn accepted(yaml: &str, ruleset: Ruleset) -> Gadget {
    let g = Gadget::parse(yaml, ruleset).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    gadget::layout(&g, 512).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    g
}

#[test]
fn volume_level_rules() {
    refused(
        &volume("-pc", "    bootloader: grub\n", DATA),
        Ruleset::Unknown,
        "volume -pc: invalid volume name",
    );
    refused(
        &volume("v", "    bootloader: grub\n", DATA),
        Ruleset::Unknown,
        "volume v: invalid volume name: use two or more letters",
    );
    refused(
        &volume("pc", "    bootloader: barebox\n", DATA),
        Ruleset::Unknown,
        "volume pc: bootloader: unknown bootloader \"barebox\"",
    );
    refused(
        &volume("pc", "", DATA),
        Ruleset::Unknown,
        "bootloader: no volume declares a bootloader",
    );
    refused(
        &volume("pc", "    bootloader: grub\n    partial: [sizes]\n", DATA),
        Ruleset::Unknown,
        "volume pc: partial: unknown partial property \"sizes\"",
    );
    refused(
        &volume("pc", "    bootloader: grub\n    id: 1234\n", DATA),
        Ruleset::Unknown,
        "volume pc: id:",
    );
    refused(
        &volume("pc", "    bootloader: grub\n    schema: dos\n", DATA),
        Ruleset::Unknown,
        "volume pc: schema: unknown schema \"dos\"",
    );
    refused(
        "volumes: {}\n",
        Ruleset::Unknown,
        "volumes: no volumes defined",
    );
    let twice = format!("{}{}", pc(DATA), pc(DATA).replace("volumes:\n", ""));
    refused(&twice, Ruleset::Unknown, "volume pc: defined twice");
    accepted(
        &volume(
            "pc",
            "    bootloader: grub\n    id: 2E59D969-52AB-430B-88AC-F83873519F6F\n    partial: [size, structure]\n",
            DATA,
        ),
        Ruleset::Unknown,
    );
}

#[test]
fn structure_field_rules() {
    let data = |from: &str, to: &str| pc(&DATA.replace(from, to));
    refused(
        &data("role: system-data", "role: system-stuff"),
        Ruleset::Unknown,
        "structure ubuntu-data: role: unknown role \"system-stuff\"",
    );
    refused(
        &data("filesystem: ext4", "filesystem: btrfs"),
        Ruleset::Unknown,
        "structure ubuntu-data: filesystem: unknown filesystem \"btrfs\"",
    );
    refused(
        &data("size: 8M", "size: 0"),
        Ruleset::Unknown,
        "structure ubuntu-data: size: must be greater than zero",
    );
    refused(
        &data("size: 8M", "size: 8M\n        min-size: 9M"),
        Ruleset::Unknown,
        "min-size: 9437184 is larger than size 8388608",
    );
    refused(
        &data("        size: 8M\n", ""),
        Ruleset::Unknown,
        "structure ubuntu-data: size: missing",
    );
    refused(
        &data("        type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4\n", ""),
        Ruleset::Unknown,
        "structure ubuntu-data: type: missing",
    );
    refused(
        &data("type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4", "type: bare"),
        Ruleset::Unknown,
        "filesystem: a bare structure cannot have a filesystem",
    );
    refused(
        &data("filesystem: ext4", "filesystem-label: x"),
        Ruleset::Unknown,
        "filesystem-label: set on a structure without a filesystem",
    );
    refused(
        &data(
            "size: 8M",
            "size: 8M\n        filesystem-label: much-too-long-ext4-label",
        ),
        Ruleset::Unknown,
        "longer than 16 bytes",
    );
    refused(
        &data("size: 8M", "size: 8M\n        id: nope"),
        Ruleset::Unknown,
        "structure ubuntu-data: id: \"nope\" is not a GUID",
    );
    refused(
        &data("size: 8M", "size: 8M\n        offset-write: 5G"),
        Ruleset::Unknown,
        "offset-write: \"5G\" is beyond 4G",
    );
    refused(
        &data("size: 8M", "size: 8M\n        offset-write: nothere+92"),
        Ruleset::Unknown,
        "offset-write: no structure named \"nothere\"",
    );
    refused(
        &data(
            "size: 8M",
            "size: 8M\n        update:\n          preserve: [a, a]",
        ),
        Ruleset::Unknown,
        "update.preserve: duplicate path \"a\"",
    );
    refused(
        &data(
            "size: 8M",
            "size: 8M\n        content:\n          - image: x.img",
        ),
        Ruleset::Unknown,
        "content[0].image: image, offset and size are for structures without a filesystem",
    );
    refused(
        &data(
            "size: 8M",
            "size: 8M\n        content:\n          - source: x",
        ),
        Ruleset::Unknown,
        "content[0].target: missing",
    );
    let unnamed = pc(&DATA.replace("name: ubuntu-data\n        role", "role"));
    refused(
        &unnamed.replace("size: 8M", "size: 1K"),
        Ruleset::Unknown,
        "structure #0: size: invalid size \"1K\"",
    );
    // min-size alone gives the size.
    let g = accepted(&data("size: 8M", "min-size: 8M"), Ruleset::Unknown);
    assert_eq!(g.volumes[0].structures[0].size, 8 << 20);
}

#[test]
fn names_labels_and_roles_are_unique() {
    let two = format!(
        "{DATA}{}",
        DATA.replace("        role: system-data\n", "")
            .replace("size: 8M", "size: 8M\n        filesystem-label: other")
    );
    refused(
        &pc(&two),
        Ruleset::Unknown,
        "structure ubuntu-data: name: duplicate name \"ubuntu-data\"",
    );
    let vfat = |name: &str, label: &str| {
        format!(
            "      - name: {name}\n        type: 0FC63DAF-8483-4772-8E79-3D69D8477DE4\n        filesystem: vfat\n        filesystem-label: {label}\n        size: 8M\n"
        )
    };
    refused(
        &pc(&format!("{}{}", vfat("a", "BOOT"), vfat("b", "boot"))),
        Ruleset::Unknown,
        "structure b: filesystem-label: \"boot\" is also the label of structure a",
    );
    refused(
        &pc(&format!(
            "{SEED}{}",
            SEED.replace("name: ubuntu-seed", "name: s2")
                .replace("role: system-seed", "role: system-seed-null")
        )),
        Ruleset::Unknown,
        "system-seed and system-seed-null cannot both be used",
    );
    let id = "        id: 2E59D969-52AB-430B-88AC-F83873519F6F\n";
    let other = SAVE.replace(
        "name: ubuntu-save\n        role: system-save",
        "name: other",
    );
    refused(
        &pc(&format!("{DATA}{id}{other}{id}")),
        Ruleset::Unknown,
        "structure other: id: duplicate id 2e59d969-52ab-430b-88ac-f83873519f6f (also structure #0)",
    );
    refused(
        &pc(&vfat("a", "ubuntu-seed")),
        Ruleset::Unknown,
        "structure a: filesystem-label: \"ubuntu-seed\" is reserved",
    );
    // Roles are unique across volumes too.
    let yaml = format!(
        "{}{}",
        pc(DATA),
        volume("other", "", "").replace("volumes:\n", "")
            + &DATA.replace("name: ubuntu-data", "name: d2")
    );
    refused(
        &yaml,
        Ruleset::Unknown,
        "volume other: structure d2: role: duplicate role system-data (already used in volume pc)",
    );
}

#[test]
fn mbr_structure_and_schema_rules() {
    let mbr = "      - name: mbr\n        type: mbr\n        size: 440\n";
    let g = accepted(&pc(&format!("{mbr}{DATA}")), Ruleset::Unknown);
    assert_eq!(
        g.volumes[0].structures[0].role,
        Some(Role::Mbr),
        "type mbr implies role mbr"
    );
    refused(
        &pc(&format!("{DATA}{mbr}")),
        Ruleset::Unknown,
        "structure mbr: offset: the mbr structure must be first",
    );
    refused(
        &pc(&mbr.replace("size: 440", "size: 440\n        filesystem: vfat")),
        Ruleset::Unknown,
        "structure mbr: filesystem:",
    );
    let part = |n: u32| format!("      - name: p{n}\n        type: 83\n        size: 1M\n");
    let five: String = (1..=5).map(part).collect();
    refused(
        &volume("pi", "    schema: mbr\n    bootloader: u-boot\n", &five),
        Ruleset::Unknown,
        "volume pi: structure: 5 partitions, but the mbr schema holds at most 4",
    );
    let four: String = (1..=4).map(part).collect();
    accepted(
        &volume("pi", "    schema: mbr\n    bootloader: u-boot\n", &four),
        Ruleset::Unknown,
    );
    refused(
        &volume("pi", "    schema: mbr\n    bootloader: u-boot\n", DATA),
        Ruleset::Unknown,
        "type: GPT partition type \"0FC63DAF-8483-4772-8E79-3D69D8477DE4\" in a volume with schema mbr",
    );
    refused(
        &volume(
            "pi",
            "    schema: mbr\n    bootloader: u-boot\n",
            &part(1).replace(
                "size: 1M",
                "size: 1M\n        id: 2E59D969-52AB-430B-88AC-F83873519F6F",
            ),
        ),
        Ruleset::Unknown,
        "structure p1: id: partition ids exist only in the gpt schema",
    );
}

#[test]
fn rules_that_need_a_model() {
    // With a grade: seed needs data; labels are implied and must match when explicit.
    refused(
        &pc(SEED),
        Ruleset::Uc20,
        "volume pc: role: system-seed needs a system-data structure",
    );
    refused(
        &pc(DATA),
        Ruleset::Uc20,
        "needs a system-seed or system-seed-null structure",
    );
    refused(
        &pc(&format!(
            "{SEED}{}",
            DATA.replace("size: 8M", "size: 8M\n        filesystem-label: writable")
        )),
        Ruleset::Uc20,
        "filesystem-label \"writable\" must be \"ubuntu-data\"",
    );
    let other = volume("other", "", SAVE).replace("volumes:\n", "");
    refused(
        &format!("{}{other}", pc(&format!("{SEED}{DATA}"))),
        Ruleset::Uc20,
        "volume other: structure ubuntu-save: role: system-save: must be on the system-seed volume pc",
    );
    let g = accepted(&pc(&format!("{SEED}{SAVE}{DATA}")), Ruleset::Uc20);
    let labels: Vec<_> = g.volumes[0]
        .structures
        .iter()
        .map(|s| s.label.clone().unwrap())
        .collect();
    assert_eq!(labels, ["ubuntu-seed", "ubuntu-save", "ubuntu-data"]);
    // Without a grade (UC16/18): no seed or save; data is labelled writable.
    refused(
        &pc(&format!("{SEED}{DATA}")),
        Ruleset::Uc16,
        "structure ubuntu-seed: role: system-seed: needs a model with a grade",
    );
    let g = accepted(&pc(DATA), Ruleset::Uc16);
    assert_eq!(
        g.volumes[0].structures[0].label.as_deref(),
        Some("writable")
    );
    // No model at all: layout rules only, no implicit labels.
    let g = accepted(&pc(SEED), Ruleset::Unknown);
    assert_eq!(g.volumes[0].structures[0].label, None);
}

#[test]
fn gadget_wide_sections() {
    let base = pc(DATA);
    let g = accepted(
        &format!(
            "{base}defaults:\n  system:\n    refresh:\n      retain: 2\n    service.ssh.disable: true\nconnections:\n  - plug: abcdefabcdefabcdefabcdefabcdefab:network\n  - plug: abcdefabcdefabcdefabcdefabcdefab:home\n    slot: ffffffffffffffffffffffffffffffff:home\nkernel-cmdline:\n  append: [quiet, snapd.debug=1]\n"
        ),
        Ruleset::Unknown,
    );
    let defaults: Vec<_> = g
        .system_defaults()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", serde_yaml::to_string(&v).unwrap().trim()))
        .collect();
    assert_eq!(defaults, ["refresh.retain=2", "service.ssh.disable=true"]);
    assert_eq!(
        (
            g.connections[0].slot_snap_id.as_str(),
            g.connections[0].slot.as_str()
        ),
        ("system", "network")
    );
    assert_eq!(
        g.connections[1].slot_snap_id,
        "ffffffffffffffffffffffffffffffff"
    );
    assert_eq!(g.kernel_cmdline.unwrap().append, ["quiet", "snapd.debug=1"]);
    refused(
        &format!("{base}connections:\n  - plug: network\n"),
        Ruleset::Unknown,
        "connections[0].plug: \"network\" is not <snap-id>:<plug>",
    );
    refused(
        &format!("{base}kernel-cmdline:\n  append: [root=/dev/sda1]\n"),
        Ruleset::Unknown,
        "kernel-cmdline.append[0]: \"root\" may not be set by a gadget",
    );
    refused(
        &format!("{base}kernel-cmdline:\n  append: [snapd_recovery_mode=run]\n"),
        Ruleset::Unknown,
        "\"snapd_recovery_mode\" may not be set",
    );
}

#[test]
fn boot_state_role() {
    let state = "      - name: state\n        role: system-boot-state\n        type: 3DE21764-95BD-54BD-A5C3-4ABE786F38A8\n        offset: 10M\n        size: 1M\n";
    accepted(&pc(&format!("{DATA}{state}")), Ruleset::Unknown);
    let wrong_type = state.replace(
        "3DE21764-95BD-54BD-A5C3-4ABE786F38A8",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
    );
    refused(
        &pc(&format!("{DATA}{wrong_type}")),
        Ruleset::Unknown,
        "structure state: type: system-boot-state needs type 3DE21764",
    );
    refused(
        &pc(&format!(
            "{DATA}{}",
            state.replace("        offset: 10M\n", "")
        )),
        Ruleset::Unknown,
        "structure state: offset: system-boot-state needs an explicit offset",
    );
    refused(
        &pc(&format!(
            "{DATA}{}",
            state.replace("size: 1M", "size: 512K")
        )),
        Ruleset::Unknown,
        "size: invalid size",
    );
    refused(
        &pc(&format!(
            "{DATA}{}",
            state.replace("size: 1M", "size: 4096")
        )),
        Ruleset::Unknown,
        "structure state: size: system-boot-state needs at least 1M",
    );
}
