//! QEMU: a [`VmSpec`] turns into an argv by a pure function ([`spec`]), the accelerator and
//! firmware are detected ([`accel`]), and [`runner::Vm`] runs the VM, captures its serial
//! console and waits for markers. `snapsmith validate` ([`validate`]) plans scenarios
//! ([`planner`], pure), runs their VMs from a queue ([`queue`]) and judges what they showed
//! ([`judge`]), asserting derived updates for signed images ([`signing`]); `snapsmith boot`
//! ([`boot`]) is one first-boot scenario of it. After a VM stops, the host reads its disk
//! itself ([`diskread`], [`hostcheck`]); [`console`] times boots and scans for errors, [`junit`]
//! writes CI reports, [`qmp`] talks to QEMU and [`nbd`] serves a disk that loses unflushed
//! writes at a power cut: the `power-cut` scenario's cuts ([`powercut`], pure) each run on one
//! (`cutrun`) and are judged into one report entry (`judge_cuts`).

pub mod accel;
pub mod artifacts;
pub mod boot;
pub mod console;
mod cutrun;
pub mod derive;
pub mod derive_forged;
pub mod diskread;
pub mod disks;
pub mod host;
pub mod hostcheck;
pub mod judge;
mod judge_cuts;
pub mod junit;
pub mod nbd;
pub mod planner;
pub mod powercut;
mod prepare;
pub mod qmp;
pub mod queue;
pub mod rogue;
pub mod runner;
pub mod scenario;
pub mod signing;
pub mod spec;
mod tiny_elf;
pub mod update_kind;
pub mod validate;
mod watch;

pub use accel::{detect, ovmf};
pub use runner::{Vm, VmError};
pub use spec::{Accel, DirectKernel, Disk, DiskFormat, Firmware, VmSpec};
