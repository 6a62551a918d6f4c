//! The power button: the ACPI button driver reports a press as `KEY_POWER` on the input device
//! named "Power Button" (`/dev/input/eventN`, through evdev). [`listen`] opens every such device
//! and reports presses on a channel, so an idle device shuts down cleanly when its button is
//! pressed (QEMU's `system_powerdown` presses it), as a PC does.
//!
//! Root asks PID 1 for a clean reboot with [`REBOOT_SIGNAL`] (`snapsmith-device reboot`, or
//! busybox's `reboot`, which sends the same): [`catch_reboot_requests`] remembers one, and
//! [`wait`] ends the idle with it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

/// The name the ACPI button driver gives its input devices.
const NAME: &str = "Power Button";
/// `struct input_event` on 64-bit Linux: timeval (16 bytes), type, code (u16), value (i32).
const EVENT_SIZE: usize = 24;
const EV_KEY: u16 = 1;
const KEY_POWER: u16 = 116;

/// The input event devices whose name is "Power Button", from `/sys/class/input`.
fn buttons(sys_input: &Path) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(sys_input) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("event"))
        .filter(|n| {
            std::fs::read_to_string(sys_input.join(n).join("device/name"))
                .is_ok_and(|name| name.trim() == NAME)
        })
        .map(|n| Path::new("/dev/input").join(n))
        .collect();
    out.sort();
    out
}

/// True when `event` is a press (or autorepeat) of the power key.
fn is_power_press(event: &[u8; EVENT_SIZE]) -> bool {
    let kind = u16::from_ne_bytes([event[16], event[17]]);
    let code = u16::from_ne_bytes([event[18], event[19]]);
    let value = i32::from_ne_bytes([event[20], event[21], event[22], event[23]]);
    kind == EV_KEY && code == KEY_POWER && value != 0
}

/// Starts listening on every power button; returns the channel that reports presses and how
/// many buttons were found (0: nothing will ever be reported).
pub fn listen() -> (Receiver<()>, usize) {
    let (tx, rx) = channel();
    let mut count = 0;
    for path in buttons(Path::new("/sys/class/input")) {
        // Opened here, before the caller goes on, so no press after this call is missed.
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        count += 1;
        let tx: Sender<()> = tx.clone();
        std::thread::spawn(move || read_presses(file, &tx));
    }
    (rx, count)
}

/// The signal that asks PID 1 for a clean reboot (as busybox's init takes it).
pub const REBOOT_SIGNAL: libc::c_int = libc::SIGTERM;

/// Set by the handler of [`REBOOT_SIGNAL`]; read by [`wait`].
static REBOOT_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_reboot_signal(_: libc::c_int) {
    REBOOT_REQUESTED.store(true, Ordering::SeqCst);
}

/// Catches [`REBOOT_SIGNAL`] from now on (the kernel drops signals PID 1 has no handler for);
/// a request that comes before the idle is remembered until then.
pub fn catch_reboot_requests() {
    let handler = on_reboot_signal as extern "C" fn(libc::c_int);
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { libc::signal(REBOOT_SIGNAL, handler as libc::sighandler_t) };
}

/// What ended an idle [`wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The power button was pressed: power off.
    Button,
    /// Root asked for a reboot.
    Reboot,
}

/// Reaps exited children until the power button is pressed or a reboot is requested (with no
/// power button, only the request ends it).
pub fn wait(presses: &Receiver<()>) -> Wake {
    loop {
        if REBOOT_REQUESTED.load(Ordering::SeqCst) {
            return Wake::Reboot;
        }
        match presses.recv_timeout(Duration::from_secs(1)) {
            Ok(()) => return Wake::Button,
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_secs(1)),
            Err(RecvTimeoutError::Timeout) => {}
        }
        super::sys::reap_exited();
    }
}

fn read_presses(mut file: std::fs::File, tx: &Sender<()>) {
    let mut event = [0u8; EVENT_SIZE];
    while file.read_exact(&mut event).is_ok() {
        if is_power_press(&event) && tx.send(()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: u16, code: u16, value: i32) -> [u8; EVENT_SIZE] {
        let mut e = [0u8; EVENT_SIZE];
        e[16..18].copy_from_slice(&kind.to_ne_bytes());
        e[18..20].copy_from_slice(&code.to_ne_bytes());
        e[20..24].copy_from_slice(&value.to_ne_bytes());
        e
    }

    #[test]
    fn only_a_power_key_press_counts() {
        assert!(is_power_press(&event(EV_KEY, KEY_POWER, 1)));
        assert!(!is_power_press(&event(EV_KEY, KEY_POWER, 0)), "release");
        assert!(!is_power_press(&event(0, 0, 0)), "sync");
        assert!(!is_power_press(&event(EV_KEY, 115, 1)), "another key");
    }

    #[test]
    fn buttons_are_found_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for (n, name) in [("event0", "AT Keyboard"), ("event1", "Power Button")] {
            std::fs::create_dir_all(dir.path().join(n).join("device")).unwrap();
            std::fs::write(dir.path().join(n).join("device/name"), format!("{name}\n")).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("input3")).unwrap();
        assert_eq!(
            buttons(dir.path()),
            vec![PathBuf::from("/dev/input/event1")]
        );
    }
}
