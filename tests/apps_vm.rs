//! VM test of apps on the device (direct kernel boot of the Debian kernel with snapsmith's
//! initramfs, run mode): three app snaps beside a busybox base. `counter` (strict) has an
//! install hook and a daemon that counts its starts in SNAP_DATA and SNAP_COMMON and fails its
//! first start, so the supervisor restarts it; `probe` (strict) and `devprobe` (devmode) try to
//! read and write `counter`'s data, to write elsewhere on ubuntu-data and to make a user
//! namespace. The first boot shows the markers and the confinement; the second boot shows the
//! counters carried over and the install hook not run again; the disk is read back afterwards.

mod support;

use snapsmith::boot::modeenv::Modeenv;
use snapsmith::plan::{FileSource, FsKind};
use snapsmith::qemu::disks::{self, Part};
use snapsmith::qemu::{self, DirectKernel, Disk, Vm, VmSpec, diskread};
use snapsmith::snap::{self, PackOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(300);
const MIB: u64 = 1024 * 1024;
const SNAPS: &str = "system-data/var/lib/snapd/snaps";

const COUNTER: &str = r#"#!/bin/busybox sh
bb=/bin/busybox
count() {
  n=$($bb cat "$1" 2>/dev/null)
  n=$((${n:-0} + 1))
  echo "$n" >"$1" && echo "$n"
}
data=$(count "$SNAP_DATA/starts")
common=$(count "$SNAP_COMMON/starts")
# World-writable, so that file modes alone cannot keep the probes out.
$bb chmod 0777 "$SNAP_DATA" "$SNAP_COMMON"
$bb chmod 0666 "$SNAP_DATA/starts"
echo "counter: start data=$data common=$common uid=$($bb id -u)"
if [ ! -e "$SNAP_DATA/crashed" ]; then
  $bb touch "$SNAP_DATA/crashed"
  echo "counter: failing the first start"
  exit 3
fi
exec $bb sleep 100000
"#;

const INSTALL: &str = "#!/bin/busybox sh\necho \"counter: install hook\"\n\
/bin/busybox touch \"$SNAP_COMMON/installed\"\n";

const PROBE: &str = r#"#!/bin/busybox sh
bb=/bin/busybox
try() {
  what=$1; shift
  if out=$("$@" 2>&1); then echo "$SNAP_NAME: $what ok"; else echo "$SNAP_NAME: $what failed: $out"; fi
}
[ "$SNAP_NAME" = devprobe ] && $bb mkdir -p -m 0777 /writable/system-data/open
try read-other $bb cat /var/snap/counter/x1/starts
try write-other $bb sh -c "echo x >/var/snap/counter/x1/canary-$SNAP_NAME"
try write-data $bb sh -c "echo x >/writable/system-data/open/canary-$SNAP_NAME"
try userns $bb unshare -U $bb true
try own-data $bb sh -c "echo x >$SNAP_DATA/own"
"#;

fn tree(dir: &Path, name: &str, files: &[(&str, &str, bool)]) -> PathBuf {
    let root = dir.join(format!("{name}-tree"));
    for (rel, text, exec) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        let mode = if *exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = dir.join(format!("{name}_x1.snap"));
    snap::pack_dir(&root, &out, &PackOptions::default()).unwrap();
    out
}

fn app_snaps(dir: &Path) -> Vec<PathBuf> {
    let counter_yaml = "name: counter\nversion: '1'\nbase: core\napps:\n  counter:\n    \
                        command: bin/counter\n    daemon: simple\n    restart-delay: 300ms\n";
    let probe_yaml = |name: &str, conf: &str| {
        format!(
            "name: {name}\nversion: '1'\nbase: core\nconfinement: {conf}\napps:\n  probe:\n    \
             command: bin/probe\n    daemon: oneshot\n"
        )
    };
    vec![
        tree(
            dir,
            "counter",
            &[
                ("meta/snap.yaml", counter_yaml, false),
                ("meta/hooks/install", INSTALL, true),
                ("bin/counter", COUNTER, true),
            ],
        ),
        tree(
            dir,
            "probe",
            &[
                ("meta/snap.yaml", &probe_yaml("probe", "strict"), false),
                ("bin/probe", PROBE, true),
            ],
        ),
        tree(
            dir,
            "devprobe",
            &[
                ("meta/snap.yaml", &probe_yaml("devprobe", "devmode"), false),
                ("bin/probe", PROBE, true),
            ],
        ),
    ]
}

fn run_disk(dir: &Path, base: &Path, apps: &[PathBuf]) -> PathBuf {
    let env = Modeenv {
        mode: "run".into(),
        base: "core_1.snap".into(),
        current_kernels: vec!["pc-kernel_1.snap".into()],
        ..Modeenv::default()
    };
    let boot = Part::new("ubuntu-boot", FsKind::Vfat, 40 * MIB);
    let mut data = Part::new("ubuntu-data", FsKind::Ext4, 64 * MIB)
        .file(
            "system-data/var/lib/snapd/modeenv",
            FileSource::Bytes(env.encode().into_bytes()),
        )
        .file(
            &format!("{SNAPS}/core_1.snap"),
            FileSource::File(base.to_path_buf()),
        );
    for app in apps {
        let name = app.file_name().unwrap().to_string_lossy();
        data = data.file(&format!("{SNAPS}/{name}"), FileSource::File(app.clone()));
    }
    disks::write_gpt(dir, "run", &[boot, data]).unwrap()
}

/// Boots `disk` until the agent powers off; returns the console.
fn boot(dir: &Path, vmlinuz: &Path, initrd: &Path, disk: &Path, log: &str) -> String {
    let mut spec = VmSpec::new(qemu::detect());
    spec.kernel = Some(DirectKernel {
        kernel: vmlinuz.to_path_buf(),
        initrd: Some(initrd.to_path_buf()),
        append: "console=ttyS0 quiet panic=-1 snapsmith.mode=run \
                 snapsmith.kernel=pc-kernel_1.snap snapsmith.poweroff=idle"
            .into(),
    });
    spec.disks = vec![Disk::raw(disk)];
    spec.no_reboot = true;
    let path = dir.join(log);
    let mut vm = Vm::start(&spec, &path).unwrap();
    let waited = vm
        .wait_for("snapsmith: idle", TIMEOUT)
        .map(|_| vm.wait_exit(TIMEOUT));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    if let Err(e) = waited {
        panic!("boot {log}: {e}\n--- console ---\n{text}");
    }
    text
}

fn data_file(disk: &Path, path: &str) -> Option<String> {
    let reader = diskread::DiskReader::open(disk).unwrap();
    let image = reader.ext4("ubuntu-data").unwrap();
    diskread::ext4_file(&image, path)
        .unwrap()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
}

#[test]
fn daemons_run_confined_restart_and_keep_their_data() {
    let Some(deb) = support::vm::ready() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (vmlinuz, initrd) = support::vm::kernel_and_initrd(&deb, dir);
    let base = support::vm::healthy_core(dir);
    let disk = run_disk(dir, &base, &app_snaps(dir));
    let log = boot(dir, &vmlinuz, &initrd, &disk, "first.log");
    let at = |line: &str| {
        log.lines()
            .position(|l| l.contains(line))
            .unwrap_or_else(|| panic!("no {line:?} on the console:\n{log}"))
    };
    let order = [
        "counter: install hook",
        "snapsmith: app hook install counter rev=x1 status=0",
        "snapsmith: app start counter.counter rev=x1",
        "snapsmith: run kernel=pc-kernel_1.snap base=core_1.snap",
        "snapsmith: idle",
    ];
    for pair in order.windows(2) {
        assert!(
            at(pair[0]) < at(pair[1]),
            "{:?} is not before {:?}",
            pair[0],
            pair[1]
        );
    }
    for line in [
        "counter: start data=1 common=1 uid=70000",
        "snapsmith: app exit counter.counter rev=x1 status=3",
        "snapsmith: app restart counter.counter rev=x1 in=300ms attempt=1",
        "snapsmith: app unconfined devprobe rev=x1 confinement=devmode",
        "snapsmith: app start probe.probe rev=x1",
        "devprobe: read-other ok",
        "devprobe: write-other ok",
        "devprobe: write-data ok",
        "devprobe: userns ok",
        " probe: own-data ok",
    ] {
        at(line);
    }
    assert!(at("snapsmith: app start devprobe.probe") < at("snapsmith: run "));
    for denied in ["read-other", "write-other", "write-data"] {
        let line = &log.lines().nth(at(&format!(" probe: {denied} "))).unwrap();
        assert!(
            line.contains("failed") && line.contains("Permission denied"),
            "{line}"
        );
    }
    let userns = log.lines().nth(at(" probe: userns")).unwrap();
    assert!(
        userns.contains("failed") && userns.contains("Operation not permitted"),
        "{userns}"
    );
    let second = boot(dir, &vmlinuz, &initrd, &disk, "second.log");
    // The restart may come after the agent went idle and be cancelled by the poweroff, or
    // before: either way the second boot starts the daemon for the second or third time.
    let restarted = log.contains("counter: start data=2 common=2");
    let n = if restarted { 3 } else { 2 };
    assert!(
        restarted
            || log.contains("snapsmith: app stop counter.counter rev=x1 by=cancelled-restart"),
        "the pending restart was neither done nor cancelled:\n{log}"
    );
    for line in [
        format!("counter: start data={n} common={n} uid=70000"),
        "snapsmith: app stop counter.counter rev=x1 by=sigterm".to_string(),
    ] {
        assert!(
            second.contains(&line),
            "no {line:?} on the console:\n{second}"
        );
    }
    assert!(
        !second.contains("install hook"),
        "the install hook ran again:\n{second}"
    );
    let var = "system-data/var/snap";
    assert_eq!(
        data_file(&disk, &format!("{var}/counter/x1/starts")).as_deref(),
        Some(n.to_string().as_str())
    );
    assert_eq!(
        data_file(&disk, &format!("{var}/counter/common/starts")).as_deref(),
        Some(n.to_string().as_str())
    );
    assert!(data_file(&disk, &format!("{var}/counter/common/installed")).is_some());
    assert!(data_file(&disk, &format!("{var}/counter/x1/canary-probe")).is_none());
    assert!(data_file(&disk, &format!("{var}/counter/x1/canary-devprobe")).is_some());
    assert!(data_file(&disk, "system-data/open/canary-probe").is_none());
    assert!(data_file(&disk, "system-data/open/canary-devprobe").is_some());
    assert!(data_file(&disk, &format!("{var}/probe/x1/own")).is_some());
}
