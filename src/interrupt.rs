//! Interruption: Ctrl-C and SIGTERM while outputs are being written. The writers notice, stop at
//! the next chunk and return an error, so the staged output is removed like on any other failure.
//!
//! The handler only stores to an atomic flag (async-signal-safe). It is installed while at least
//! one [`InterruptGuard`] lives (writers on several threads share it) and the previous handlers
//! come back when the last guard is dropped, so the rest of the program keeps the default
//! "terminate" behaviour.

use anyhow::{Result, bail};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Live guards and the handlers to restore when the last one goes.
static INSTALLED: Mutex<(usize, Vec<(libc::c_int, libc::sigaction)>)> = Mutex::new((0, Vec::new()));

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Fails with "interrupted" once SIGINT or SIGTERM arrived while a guard was installed.
pub fn check() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted by a signal");
    }
    Ok(())
}

/// Catches SIGINT and SIGTERM while alive.
pub struct InterruptGuard(());

impl InterruptGuard {
    pub fn install() -> Self {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        if installed.0 == 0 {
            INTERRUPTED.store(false, Ordering::SeqCst);
            installed.1.clear();
            for signal in [libc::SIGINT, libc::SIGTERM] {
                // SAFETY: sigaction gets fully initialised structs; the handler only touches an
                // atomic.
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                    libc::sigemptyset(&mut action.sa_mask);
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(signal, &action, &mut old) == 0 {
                        installed.1.push((signal, old));
                    }
                }
            }
        }
        installed.0 += 1;
        InterruptGuard(())
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        installed.0 = installed.0.saturating_sub(1);
        if installed.0 == 0 {
            for (signal, old) in installed.1.drain(..) {
                // SAFETY: restores the action saved by `install`.
                unsafe {
                    libc::sigaction(signal, &old, std::ptr::null_mut());
                }
            }
        }
    }
}
