//! `snapsmith-init`: the in-image runtime, `/init` of the initramfs that `snapsmith kernel-snap`
//! builds. It links only the library's pure modules and `runtime` (none of the builder's
//! command line, progress or squashfs-writing crates), so the initramfs stays small. Called
//! `snapsmith-device`, it is root's command on the running device instead
//! (`snapsmith::runtime::device`).
#![warn(clippy::too_many_lines)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let called = args.first().map(|a| a.rsplit('/').next().unwrap_or(a));
    if called == Some(snapsmith::runtime::device::NAME) {
        return snapsmith::runtime::device::main(&args[1..]);
    }
    // Outside PID 1 it would reboot the machine on its first error; refuse instead.
    if !snapsmith::runtime::pid1::is_pid1() {
        eprintln!(
            "snapsmith-init: runs only as PID 1 of an initramfs (snapsmith kernel-snap puts it \
             there)"
        );
        return ExitCode::from(2);
    }
    snapsmith::runtime::pid1::main()
}
