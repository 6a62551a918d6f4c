//! Accelerator and firmware detection. KVM is used where it works; where `/dev/kvm` exists
//! but cannot run guests (nested setups where OVMF dies with "KVM internal error" and direct
//! kernel boots hang), a short probe boot finds out, the fallback to TCG is reported once, and
//! the answer is kept for the rest of the process.

use super::runner::{Vm, VmError};
use super::spec::{Accel, Firmware, VmSpec};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// Where Debian and other distributions install a combined OVMF image.
const OVMF_CANDIDATES: &[&str] = &[
    "/usr/share/ovmf/OVMF.fd",
    "/usr/share/qemu/OVMF.fd",
    "/usr/share/OVMF/OVMF.fd",
    "/usr/share/edk2/ovmf/OVMF.fd",
];

/// The combined OVMF image for `-bios`, if installed (Debian package `ovmf`).
pub fn ovmf() -> Option<PathBuf> {
    OVMF_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// The accelerator to use on this host: probed once per process.
pub fn detect() -> Accel {
    static ACCEL: OnceLock<Accel> = OnceLock::new();
    *ACCEL.get_or_init(|| match probe_kvm() {
        Ok(()) => Accel::Kvm,
        Err(why) => {
            eprintln!("snapsmith: KVM is not usable here ({why}); using TCG");
            Accel::Tcg
        }
    })
}

/// Why KVM cannot be used, or `Ok` when a probe guest ran under it.
fn probe_kvm() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|e| format!("cannot open /dev/kvm: {e}"))?;
    // The probe is the firmware itself: under working KVM, OVMF reaches its boot manager
    // (which names itself "BdsDxe" on the serial console) in well under a second.
    let firmware = ovmf().ok_or("no OVMF image to probe KVM with (install ovmf)")?;
    let mut spec = VmSpec::new(Accel::Kvm);
    spec.firmware = Some(Firmware::Bios(firmware));
    spec.no_reboot = true;
    let dir = tempfile::tempdir().map_err(|e| format!("creating a probe directory: {e}"))?;
    let log = dir.path().join("kvm-probe.log");
    let mut vm = Vm::start(&spec, &log).map_err(|e| format!("{e:#}"))?;
    match vm.wait_for("BdsDxe", Duration::from_secs(8)) {
        Ok(_) => Ok(()),
        Err(VmError::KvmFailed { line, .. }) => Err(format!("probe guest failed: {line}")),
        Err(VmError::Timeout { .. }) => Err("probe guest made no progress in 8 s".to_string()),
        Err(other) => Err(format!("probe guest failed: {other}")),
    }
}
