//! Reading a VM's serial console after the fact: a timeline per boot (firmware → GRUB → kernel
//! → init → run marker) from the lines' timestamps, and a scan for error patterns (kernel oops
//! and BUG, I/O errors, segfaults, emergency shells, snapsmith's own error marker) that a
//! scenario did not expect. Pure functions over `(time since QEMU started, line)` pairs.

use serde::Serialize;
use std::time::Duration;

/// The first line of each stage of a boot, in order.
const GRUB: &str = "snapsmith: grub";
const KERNEL: &str = "Linux version ";
const INIT: &str = "snapsmith: init start";
const RUN: &str = "snapsmith: run ";

/// When each stage of one boot began, in seconds since QEMU started; `None` when the boot
/// never reached it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BootTimeline {
    /// Firmware start: QEMU's start, or the end of the boot before.
    pub firmware: f64,
    pub grub: Option<f64>,
    pub kernel: Option<f64>,
    pub init: Option<f64>,
    pub run: Option<f64>,
}

impl BootTimeline {
    /// Seconds from GRUB's first line to the run marker (the part a saved firmware state
    /// cannot save).
    pub fn grub_to_run(&self) -> Option<f64> {
        Some(self.run? - self.grub?)
    }

    /// One line: `firmware 0.0 → grub 3.9 → kernel 9.6 → init 13.1 → run 14.2`.
    pub fn render(&self) -> String {
        let mut parts = vec![format!("firmware {:.1}", self.firmware)];
        for (name, at) in [
            ("grub", self.grub),
            ("kernel", self.kernel),
            ("init", self.init),
            ("run", self.run),
        ] {
            if let Some(at) = at {
                parts.push(format!("{name} {at:.1}"));
            }
        }
        parts.join(" → ")
    }
}

/// Splits the console into boots and times their stages. A boot begins at QEMU's start or
/// where a stage's first line appears again after the previous boot reached it.
pub fn timeline(lines: &[(Duration, String)]) -> Vec<BootTimeline> {
    let mut boots = vec![BootTimeline::default()];
    let mut last = 0.0;
    for (at, line) in lines {
        let at = at.as_secs_f64();
        let stage = if line.contains(GRUB) {
            Some(0)
        } else if line.contains(KERNEL) {
            Some(1)
        } else if line.contains(INIT) {
            Some(2)
        } else if line.contains(RUN) {
            Some(3)
        } else {
            None
        };
        if let Some(stage) = stage {
            let boot = boots.last_mut().expect("one boot at least");
            let slots = [
                &mut boot.grub,
                &mut boot.kernel,
                &mut boot.init,
                &mut boot.run,
            ];
            // An earlier stage after a later one, or a stage seen again (GRUB prints several
            // lines per boot): the guest rebooted.
            let reached = slots.iter().rposition(|s| s.is_some());
            let again = reached.is_some_and(|r| stage < r || (stage == r && stage != 0));
            if again {
                boots.push(BootTimeline {
                    firmware: last,
                    ..BootTimeline::default()
                });
            }
            let boot = boots.last_mut().expect("one boot at least");
            let slot = match stage {
                0 => &mut boot.grub,
                1 => &mut boot.kernel,
                2 => &mut boot.init,
                _ => &mut boot.run,
            };
            slot.get_or_insert(at);
        }
        last = at;
    }
    boots
}

/// Patterns that mean something went wrong, with a short name for the report.
pub const ERROR_PATTERNS: &[(&str, &str)] = &[
    ("Kernel panic", "kernel-panic"),
    ("Oops", "kernel-oops"),
    ("BUG:", "kernel-bug"),
    ("Call Trace:", "kernel-trace"),
    ("I/O error", "io-error"),
    ("segfault", "segfault"),
    ("emergency", "emergency"),
    ("snapsmith: error", "snapsmith-error"),
];

/// An error pattern found on the console.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The pattern's short name (see [`ERROR_PATTERNS`]).
    pub pattern: String,
    /// Seconds since QEMU started.
    pub at: f64,
    pub line: String,
    /// The scenario expects this pattern (a planted fault); unexpected ones fail it.
    pub expected: bool,
}

/// Every line matching an error pattern; `expected` names the patterns the scenario causes.
pub fn scan(lines: &[(Duration, String)], expected: &[String]) -> Vec<Finding> {
    let mut found = Vec::new();
    for (at, line) in lines {
        if let Some((_, name)) = ERROR_PATTERNS.iter().find(|(p, _)| line.contains(p)) {
            found.push(Finding {
                pattern: name.to_string(),
                at: at.as_secs_f64(),
                line: line.clone(),
                expected: expected.iter().any(|e| e == name),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(items: &[(f64, &str)]) -> Vec<(Duration, String)> {
        items
            .iter()
            .map(|(t, l)| (Duration::from_secs_f64(*t), l.to_string()))
            .collect()
    }

    #[test]
    fn boots_and_their_stages() {
        let log = lines(&[
            (3.9, "snapsmith: grub boot kernel=k_x2.snap status=trying"),
            (9.6, "[    0.000000] Linux version 6.1.0"),
            (12.0, "Kernel panic - not syncing: VFS"),
            (
                16.0,
                "snapsmith: grub rollback kernel=k_x2.snap running=k_x1.snap",
            ),
            (16.1, "snapsmith: grub boot kernel=k_x1.snap status="),
            (21.0, "[    0.000000] Linux version 6.1.0"),
            (24.5, "snapsmith: init start version=1"),
            (25.5, "snapsmith: run kernel=k_x1.snap base=core_x1.snap"),
        ]);
        let t = timeline(&log);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(
            (t[0].grub, t[0].kernel, t[0].run),
            (Some(3.9), Some(9.6), None)
        );
        assert_eq!(t[1].firmware, 12.0);
        assert_eq!(t[1].grub, Some(16.0));
        assert_eq!(t[1].grub_to_run(), Some(25.5 - 16.0));
        assert_eq!(
            t[1].render(),
            "firmware 12.0 → grub 16.0 → kernel 21.0 → init 24.5 → run 25.5"
        );
    }

    #[test]
    fn direct_kernel_boots_split_on_the_kernel_banner() {
        let log = lines(&[
            (1.0, "Linux version 6.1"),
            (3.0, "snapsmith: init start"),
            (4.0, "Linux version 6.1"),
            (6.0, "snapsmith: run kernel=k base=b"),
        ]);
        let t = timeline(&log);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[1].kernel, t[1].run, t[1].grub),
            (Some(4.0), Some(6.0), None)
        );
    }

    #[test]
    fn errors_expected_and_not() {
        let log = lines(&[
            (1.0, "Kernel panic - not syncing"),
            (2.0, "blk_update_request: I/O error, dev vda"),
            (3.0, "all is well"),
        ]);
        let found = scan(&log, &["kernel-panic".to_string()]);
        assert_eq!(found.len(), 2);
        assert!(found[0].expected && found[0].pattern == "kernel-panic");
        assert!(!found[1].expected && found[1].pattern == "io-error");
    }
}
