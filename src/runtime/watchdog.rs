//! The hardware watchdog (`/dev/watchdog`, e.g. QEMU's i6300esb): armed by the init as soon as
//! its module is loaded, fed by a thread of PID 1 up to a deadline. The init gives itself
//! [`BOOT_DEADLINE`] to reach the agent; the agent feeds it for good once the boot is committed
//! or was never a try boot, and lets it fire when a try boot cannot be confirmed in time, so a
//! hung try boot resets the machine and the boot state rolls it back.
//!
//! Without a watchdog device everything here is a no-op ([`Watchdog::armed`] says which).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The watchdog's timeout: the machine resets this long after the last feed.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long the init and the agent may take to settle a boot before the feeding stops.
pub const BOOT_DEADLINE: Duration = Duration::from_secs(120);
/// The device node.
const DEVICE: &str = "/dev/watchdog";
/// `WDIOC_SETTIMEOUT` from linux/watchdog.h: `_IOWR('W', 6, int)`.
const WDIOC_SETTIMEOUT: libc::c_ulong = 0xC004_5706;
/// Feeding forever.
const FOREVER: u64 = u64::MAX;

struct Shared {
    file: File,
    start: Instant,
    /// Milliseconds after `start` up to which the feeder feeds; a ping happens only under
    /// this lock, so none can follow the magic close.
    until_ms: Mutex<u64>,
}

impl Shared {
    fn set(&self, until: u64, write: &[u8]) {
        let mut guard = self.until_ms.lock().unwrap_or_else(|e| e.into_inner());
        *guard = until;
        if !write.is_empty() {
            let _ = (&self.file).write_all(write);
        }
    }
}

/// A handle on the armed watchdog (cheap to clone), or on none.
#[derive(Clone, Default)]
pub struct Watchdog {
    inner: Option<Arc<Shared>>,
}

impl Watchdog {
    /// Opens and arms the watchdog with [`TIMEOUT`] and starts feeding it for `deadline`;
    /// `Err` says why there is none (no device node, the ioctl failed).
    pub fn arm(deadline: Duration) -> Result<Watchdog, String> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(DEVICE)
            .map_err(|e| format!("{DEVICE}: {e}"))?;
        let mut secs: libc::c_int = TIMEOUT.as_secs() as libc::c_int;
        // SAFETY: the fd is open and `secs` is a valid int for the ioctl to read and write.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), WDIOC_SETTIMEOUT, &mut secs) };
        if rc != 0 {
            return Err(format!(
                "setting the {DEVICE} timeout: {}",
                std::io::Error::last_os_error()
            ));
        }
        let shared = Arc::new(Shared {
            file,
            start: Instant::now(),
            until_ms: Mutex::new(0),
        });
        let dog = Watchdog {
            inner: Some(shared.clone()),
        };
        dog.feed_for(deadline);
        std::thread::spawn(move || feeder(&shared));
        Ok(dog)
    }

    /// True when a watchdog device is armed.
    pub fn armed(&self) -> bool {
        self.inner.is_some()
    }

    /// Feeds it for `d` from now, then lets it fire.
    pub fn feed_for(&self, d: Duration) {
        if let Some(s) = &self.inner {
            let until = s.start.elapsed().saturating_add(d).as_millis();
            s.set(u64::try_from(until).unwrap_or(FOREVER), PING);
        }
    }

    /// Feeds it as long as this process lives.
    pub fn feed_forever(&self) {
        if let Some(s) = &self.inner {
            s.set(FOREVER, PING);
        }
    }

    /// Stops feeding now: the machine resets within [`TIMEOUT`].
    pub fn stop_feeding(&self) {
        if let Some(s) = &self.inner {
            s.set(0, b"");
        }
    }

    /// Stops the watchdog for a program that will not feed it (the magic close, `V`).
    pub fn disarm(self) {
        if let Some(s) = &self.inner {
            s.set(0, b"V");
        }
    }
}

/// Any write other than the magic `V` feeds the watchdog.
const PING: &[u8] = b"\0";

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog")
            .field("armed", &self.armed())
            .finish()
    }
}

fn feeder(s: &Shared) {
    loop {
        {
            let until = s.until_ms.lock().unwrap_or_else(|e| e.into_inner());
            let now = u64::try_from(s.start.elapsed().as_millis()).unwrap_or(FOREVER);
            if now < *until {
                let _ = (&s.file).write_all(PING);
            }
        }
        std::thread::sleep(TIMEOUT / 4);
    }
}
