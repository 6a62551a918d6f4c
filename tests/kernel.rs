//! Kernel snaps from the real Debian kernel package: module resolution (order, soft
//! dependencies, config-implied modules), initramfs contents, and the `kernel-snap` command.

mod support;

use snapsmith::kernel::initramfs::{self, InitramfsSpec, MODULE_LIST};
use snapsmith::kernel::{self, KernelTree, cpio::Entry, modules::ModuleIndex};
use std::sync::OnceLock;

/// The package, extracted once for all tests of this binary.
fn tree() -> Option<&'static KernelTree> {
    static TREE: OnceLock<KernelTree> = OnceLock::new();
    let deb = support::kernel_deb()?;
    if !support::have_tools(&["dpkg-deb"]) {
        return None;
    }
    Some(TREE.get_or_init(|| KernelTree::from_deb(&deb).expect("extracting the kernel package")))
}

fn boot_set(tree: &KernelTree, extra: &[&str]) -> anyhow::Result<Vec<String>> {
    let index = ModuleIndex::load(&tree.modules)?;
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    kernel::boot_modules(&index, &tree.read_config()?, &extra)
}

fn position(order: &[String], name: &str) -> usize {
    order
        .iter()
        .position(|m| m == name)
        .unwrap_or_else(|| panic!("{name} missing from {order:?}"))
}

#[test]
fn default_set_loads_dependencies_first() {
    let Some(tree) = tree() else {
        return;
    };
    let index = ModuleIndex::load(&tree.modules).unwrap();
    let order = boot_set(tree, &[]).unwrap();
    for needed in [
        "virtio_pci",
        "virtio_blk",
        "loop",
        "squashfs",
        "ext4",
        "jbd2",
        "vfat",
        "fat",
    ] {
        position(&order, needed);
    }
    // Every hard dependency that is a module comes before its user.
    for (i, name) in order.iter().enumerate() {
        for dep in index.info(name).unwrap().depends {
            if index.path(&dep).is_some() {
                assert!(
                    position(&order, &dep) < i,
                    "{dep} after {name} in {order:?}"
                );
            }
        }
    }
    let mut sorted = order.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), order.len(), "duplicates in {order:?}");
}

#[test]
fn crc32c_soft_dependency_uses_the_generic_provider() {
    let Some(tree) = tree() else {
        return;
    };
    let index = ModuleIndex::load(&tree.modules).unwrap();
    // The metadata really names an alias, not a module.
    assert!(
        index
            .info("ext4")
            .unwrap()
            .soft_pre
            .contains(&"crypto-crc32c".to_string())
    );
    let providers = index.providers("crypto-crc32c").unwrap();
    assert!(providers.len() >= 2, "{providers:?}");
    let order = boot_set(tree, &[]).unwrap();
    let crc = position(&order, "crc32c_generic");
    assert!(
        crc < position(&order, "jbd2") && crc < position(&order, "ext4"),
        "{order:?}"
    );
    assert!(!order.iter().any(|m| m == "crc32c_intel"), "{order:?}");
}

#[test]
fn fat_codepage_modules_come_from_the_config() {
    let Some(tree) = tree() else {
        return;
    };
    let config = tree.read_config().unwrap();
    let nls = config.fat_nls_modules();
    assert_eq!(nls.len(), 2, "{nls:?}");
    let order = boot_set(tree, &[]).unwrap();
    let vfat = position(&order, "vfat");
    for module in &nls {
        assert!(position(&order, module) > vfat, "{order:?}");
    }
}

#[test]
fn extra_modules_come_with_their_dependencies_and_missing_ones_are_named() {
    let Some(tree) = tree() else {
        return;
    };
    let order = boot_set(tree, &["virtio_net"]).unwrap();
    let net = position(&order, "virtio_net");
    assert!(position(&order, "net_failover") < net, "{order:?}");
    let err = boot_set(tree, &["no_such_module_xyz"]).unwrap_err();
    assert!(format!("{err:#}").contains("no_such_module_xyz"), "{err:#}");
}

#[test]
fn initramfs_holds_init_libraries_and_modules_as_shipped() {
    let Some(tree) = tree() else {
        return;
    };
    let index = ModuleIndex::load(&tree.modules).unwrap();
    let modules = boot_set(tree, &[]).unwrap();
    let init = std::path::PathBuf::from(env!("CARGO_BIN_EXE_snapsmith-init"));
    let spec = InitramfsSpec {
        init: init.clone(),
        modules: modules.clone(),
    };
    let archive = initramfs::assemble(&spec, &index).unwrap();
    match archive.get("init") {
        Some(Entry::File {
            data,
            executable: true,
        }) => {
            assert_eq!(data, &std::fs::read(&init).unwrap())
        }
        other => panic!("no executable /init: {other:?}"),
    }
    assert_eq!(archive.get("dev/console"), Some(&Entry::CharDev(5, 1)));
    let libs: Vec<&str> = archive.paths().filter(|p| p.contains(".so")).collect();
    assert!(libs.iter().any(|p| p.ends_with("/libc.so.6")), "{libs:?}");
    assert!(libs.iter().any(|p| p.contains("ld-linux")), "{libs:?}");
    let Some(Entry::File { data: list, .. }) = archive.get(MODULE_LIST) else {
        panic!("no module list")
    };
    let listed: Vec<String> = String::from_utf8(list.clone())
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(listed.len(), modules.len());
    for (line, name) in listed.iter().zip(&modules) {
        let rel = index.path(name).unwrap();
        assert!(line.ends_with(&*rel.to_string_lossy()), "{line} vs {name}");
        let Some(Entry::File { data, .. }) = archive.get(line) else {
            panic!("{line} missing")
        };
        let shipped = std::fs::read(tree.modules.join(rel)).unwrap();
        assert_eq!(data, &shipped, "{line} differs from the shipped module");
        assert!(
            data.ends_with(b"~Module signature appended~\n"),
            "{line} lost its signature"
        );
    }
    // The real cpio tool reads the archive back.
    if support::have_tools(&["cpio"]) {
        let mut bytes = Vec::new();
        archive.write(&mut bytes, 0).unwrap();
        let listing = snapsmith::exec::Cmd::new("cpio")
            .arg("-it")
            .stdin_bytes(bytes)
            .run_string()
            .unwrap();
        assert!(listing.lines().any(|l| l == "init"), "{listing}");
        assert!(listing.lines().any(|l| l == MODULE_LIST), "{listing}");
    }
}

#[test]
fn kernel_snap_command_is_deterministic() {
    let Some(deb) = support::kernel_deb() else {
        return;
    };
    if !support::have_tools(&["dpkg-deb", "unsquashfs"]) {
        return;
    }
    let Some(tree) = tree() else { return };
    let dir = tempfile::tempdir().unwrap();
    let build = |name: &str, input: &[&std::ffi::OsStr]| {
        let out = dir.path().join(name);
        support::snapsmith()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .arg("kernel-snap")
            .args(input)
            .arg("-o")
            .arg(&out)
            .assert()
            .success();
        std::fs::read(out).unwrap()
    };
    let one = build("a.snap", &["--deb".as_ref(), deb.as_os_str()]);
    // The same kernel given as files (config found beside the module tree, as a package
    // lays it out) gives the very same bytes, from a separate run.
    let two = build(
        "b.snap",
        &[
            "--vmlinuz".as_ref(),
            tree.vmlinuz.as_os_str(),
            "--modules".as_ref(),
            tree.modules.as_os_str(),
        ],
    );
    assert!(one == two, "builds from the same kernel differ");
    let listing = snapsmith::exec::Cmd::new("unsquashfs")
        .args(["-l"])
        .arg(dir.path().join("a.snap"))
        .run_string()
        .unwrap();
    for entry in [
        "vmlinuz",
        "initrd.img",
        "meta/snap.yaml",
        "meta/kernel.yaml",
    ] {
        assert!(
            listing.contains(&format!("squashfs-root/{entry}")),
            "{listing}"
        );
    }
    // A missing module fails naming it, and leaves no output behind.
    let out = dir.path().join("c.snap");
    let assert = support::snapsmith()
        .args(["kernel-snap", "--module", "no_such_module_xyz", "--deb"])
        .arg(&deb)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("no_such_module_xyz"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn kernel_snap_usage_and_input_errors() {
    // Neither --deb nor --vmlinuz/--modules: a usage error.
    support::snapsmith().arg("kernel-snap").assert().code(2);
    support::snapsmith()
        .args(["kernel-snap", "--vmlinuz", "/nonexistent/vmlinuz"])
        .assert()
        .code(2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.snap");
    let assert = support::snapsmith()
        .args([
            "kernel-snap",
            "--vmlinuz",
            "/nonexistent/vmlinuz",
            "--modules",
        ])
        .arg(dir.path())
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("/nonexistent/vmlinuz"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn example_kernel_builds_pc_kernel_from_the_cached_package() {
    let Some(deb) = support::kernel_deb() else {
        return;
    };
    if !support::have_tools(&["apt-cache", "dpkg", "dpkg-deb"]) {
        return;
    }
    // scripts/kernel-deb put the current package in this cache, so nothing is downloaded.
    let cache = deb.parent().unwrap();
    let out = tempfile::tempdir().unwrap();
    support::snapsmith()
        .args(["example-kernel", "-O"])
        .arg(out.path())
        .arg("--cache")
        .arg(cache)
        .assert()
        .success();
    let snap = snapsmith::snap::SnapFile::open(out.path().join("pc-kernel.snap")).unwrap();
    assert_eq!(snap.info().name, "pc-kernel");
    assert_eq!(snap.info().snap_type, snapsmith::snap::SnapType::Kernel);
    assert!(snap.has_file("vmlinuz") && snap.has_file("initrd.img"));
    assert!(snap.kernel_yaml().unwrap().is_some());
}

#[test]
fn kernel_snap_takes_its_init_from_beside_itself_or_from_init() {
    // A snapsmith without snapsmith-init beside it names the path it looked at, before it
    // reads any kernel input.
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("snapsmith");
    std::fs::copy(env!("CARGO_BIN_EXE_snapsmith"), &exe).unwrap();
    let input = [
        "kernel-snap",
        "--vmlinuz",
        "/nonexistent/vmlinuz",
        "--modules",
    ];
    let assert = assert_cmd::Command::new(&exe)
        .args(input)
        .arg(dir.path())
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let expected = dir.path().join("snapsmith-init");
    assert!(stderr.contains(&expected.display().to_string()), "{stderr}");
    assert!(stderr.contains("--init"), "{stderr}");
    // Given with --init, the init is taken from there and the build goes on to the kernel.
    let assert = assert_cmd::Command::new(&exe)
        .args(input)
        .arg(dir.path())
        .arg("--init")
        .arg(env!("CARGO_BIN_EXE_snapsmith-init"))
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("/nonexistent/vmlinuz"), "{stderr}");
    assert!(!stderr.contains("snapsmith-init"), "{stderr}");
}

#[test]
fn init_binary_refuses_to_run_outside_pid_1() {
    let assert = assert_cmd::Command::new(env!("CARGO_BIN_EXE_snapsmith-init"))
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("only as PID 1"), "{stderr}");
}
