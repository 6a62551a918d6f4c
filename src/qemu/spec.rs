//! What a VM is made of, and the QEMU command line for it: [`VmSpec::argv`] is a pure function
//! with unit tests. Defaults are the fast ones measured on TCG hosts: `-nodefaults`, one CPU,
//! 512 MiB, no display, no network, serial console on stdio.

use std::ffi::OsString;
use std::path::PathBuf;

/// The QEMU executable a [`VmSpec`] runs.
pub const QEMU: &str = "qemu-system-x86_64";

/// How the guest CPU is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization (needs a working /dev/kvm).
    Kvm,
    /// QEMU's emulator: slower, works everywhere.
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// UEFI firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firmware {
    /// A combined image given with `-bios` (volatile variables; the fastest to start).
    Bios(PathBuf),
    /// Code and a per-VM copy of the variable store as pflash drives.
    Pflash { code: PathBuf, vars: PathBuf },
}

/// A kernel booted directly by QEMU, without firmware or bootloader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectKernel {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub append: String,
}

/// Disk image formats QEMU is told about explicitly (it never probes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFormat {
    Raw,
    Qcow2,
    /// `path` is the Unix socket of an NBD server serving the disk (see [`super::nbd`]).
    Nbd,
}

/// A virtio disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub path: PathBuf,
    pub format: DiskFormat,
    pub readonly: bool,
}

impl Disk {
    pub fn raw(path: impl Into<PathBuf>) -> Self {
        Disk {
            path: path.into(),
            format: DiskFormat::Raw,
            readonly: false,
        }
    }
}

/// Everything that decides a VM's QEMU command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    pub machine: String,
    pub accel: Accel,
    pub cpus: u32,
    pub memory_mib: u32,
    pub firmware: Option<Firmware>,
    pub kernel: Option<DirectKernel>,
    pub disks: Vec<Disk>,
    /// Exit QEMU instead of resetting when the guest reboots.
    pub no_reboot: bool,
    /// An HMP monitor on this unix socket.
    pub monitor: Option<PathBuf>,
    /// A QMP server on this unix socket (see [`super::qmp`]).
    pub qmp: Option<PathBuf>,
    /// An i6300esb watchdog that resets the machine when it fires (QEMU reports `WATCHDOG`).
    pub watchdog: bool,
    /// Further arguments, appended last.
    pub extra: Vec<OsString>,
}

impl VmSpec {
    /// A q35 machine with the fast defaults and no boot source yet.
    pub fn new(accel: Accel) -> Self {
        VmSpec {
            machine: "q35".to_string(),
            accel,
            cpus: 1,
            memory_mib: 512,
            firmware: None,
            kernel: None,
            disks: Vec::new(),
            no_reboot: false,
            monitor: None,
            qmp: None,
            watchdog: false,
            extra: Vec::new(),
        }
    }

    /// The QEMU arguments (without the program name).
    pub fn argv(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
        push(&[
            "-machine",
            &self.machine,
            "-accel",
            self.accel.name(),
            "-nodefaults",
        ]);
        push(&[
            "-smp",
            &self.cpus.to_string(),
            "-m",
            &self.memory_mib.to_string(),
        ]);
        push(&[
            "-display", "none", "-vga", "none", "-net", "none", "-serial", "stdio",
        ]);
        if self.no_reboot {
            push(&["-no-reboot"]);
        }
        self.boot_args(&mut a);
        for disk in &self.disks {
            let format = match disk.format {
                DiskFormat::Raw => "raw",
                DiskFormat::Qcow2 => "qcow2",
                DiskFormat::Nbd => {
                    let mut spec = OsString::from("if=virtio,driver=nbd,server.type=unix,");
                    spec.push("server.path=");
                    spec.push(disk.path.to_string_lossy().replace(',', ",,"));
                    a.extend(["-drive".into(), spec]);
                    continue;
                }
            };
            a.push("-drive".into());
            a.push(drive("virtio", &disk.path, format, disk.readonly, None));
        }
        if let Some(sock) = &self.monitor {
            let mut spec = OsString::from("unix:");
            spec.push(sock);
            spec.push(",server,nowait");
            a.push("-monitor".into());
            a.push(spec);
        }
        if let Some(sock) = &self.qmp {
            let mut spec = OsString::from("unix:");
            spec.push(sock.to_string_lossy().replace(',', ",,"));
            spec.push(",server=on,wait=off");
            a.push("-qmp".into());
            a.push(spec);
        }
        if self.watchdog {
            a.extend(["-device", "i6300esb", "-action", "watchdog=reset"].map(OsString::from));
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// Firmware and direct-kernel arguments.
    fn boot_args(&self, a: &mut Vec<OsString>) {
        match &self.firmware {
            Some(Firmware::Bios(path)) => {
                a.push("-bios".into());
                a.push(path.into());
            }
            Some(Firmware::Pflash { code, vars }) => {
                a.push("-drive".into());
                a.push(drive("pflash", code, "raw", true, Some(0)));
                a.push("-drive".into());
                a.push(drive("pflash", vars, "raw", false, Some(1)));
            }
            None => {}
        }
        if let Some(k) = &self.kernel {
            a.push("-kernel".into());
            a.push(k.kernel.clone().into());
            if let Some(initrd) = &k.initrd {
                a.push("-initrd".into());
                a.push(initrd.into());
            }
            a.push("-append".into());
            a.push(k.append.clone().into());
        }
    }
}

/// A `-drive` value. Commas in paths are doubled, as QEMU's option syntax requires.
fn drive(
    interface: &str,
    path: &std::path::Path,
    format: &str,
    readonly: bool,
    unit: Option<u32>,
) -> OsString {
    let mut s = OsString::from(format!("if={interface},format={format},"));
    if let Some(unit) = unit {
        s.push(format!("unit={unit},"));
    }
    if readonly {
        s.push("readonly=on,");
    }
    s.push("file=");
    s.push(path.to_string_lossy().replace(',', ",,"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(spec: &VmSpec) -> String {
        spec.argv()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn direct_kernel_boot_with_disk() {
        let mut spec = VmSpec::new(Accel::Tcg);
        spec.kernel = Some(DirectKernel {
            kernel: "/k/vmlinuz".into(),
            initrd: Some("/k/initrd.img".into()),
            append: "console=ttyS0 quiet".into(),
        });
        spec.disks.push(Disk::raw("/tmp/a,b.img"));
        spec.disks.push(Disk {
            path: "/w/nbd.sock".into(),
            format: DiskFormat::Nbd,
            readonly: false,
        });
        spec.no_reboot = true;
        let argv = spec.argv();
        assert_eq!(
            text(&spec),
            "-machine q35 -accel tcg -nodefaults -smp 1 -m 512 -display none -vga none \
             -net none -serial stdio -no-reboot -kernel /k/vmlinuz -initrd /k/initrd.img \
             -append console=ttyS0 quiet -drive if=virtio,format=raw,file=/tmp/a,,b.img \
             -drive if=virtio,driver=nbd,server.type=unix,server.path=/w/nbd.sock"
        );
        // The kernel command line stays one argument.
        assert!(argv.contains(&OsString::from("console=ttyS0 quiet")));
    }

    #[test]
    fn firmware_variants_and_monitor() {
        let mut spec = VmSpec::new(Accel::Kvm);
        spec.firmware = Some(Firmware::Bios("/usr/share/ovmf/OVMF.fd".into()));
        spec.monitor = Some("/run/m.sock".into());
        let t = text(&spec);
        assert!(t.contains("-accel kvm"), "{t}");
        assert!(t.contains("-bios /usr/share/ovmf/OVMF.fd"), "{t}");
        assert!(
            t.ends_with("-monitor unix:/run/m.sock,server,nowait"),
            "{t}"
        );
        assert!(!t.contains("-no-reboot"), "{t}");
        spec.qmp = Some("/run/q.sock".into());
        spec.watchdog = true;
        let t = text(&spec);
        assert!(
            t.ends_with(
                "-qmp unix:/run/q.sock,server=on,wait=off -device i6300esb -action watchdog=reset"
            ),
            "{t}"
        );
        spec.firmware = Some(Firmware::Pflash {
            code: "/c.fd".into(),
            vars: "/v.fd".into(),
        });
        spec.disks.push(Disk {
            path: "/d.qcow2".into(),
            format: DiskFormat::Qcow2,
            readonly: true,
        });
        let t = text(&spec);
        assert!(
            t.contains("-drive if=pflash,format=raw,unit=0,readonly=on,file=/c.fd"),
            "{t}"
        );
        assert!(
            t.contains("-drive if=pflash,format=raw,unit=1,file=/v.fd"),
            "{t}"
        );
        assert!(
            t.contains("-drive if=virtio,format=qcow2,readonly=on,file=/d.qcow2"),
            "{t}"
        );
    }
}
