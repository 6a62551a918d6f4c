//! Stage timings of a build (`snapsmith build --timings`): the wall time of each stage in the
//! order the stages ran (load, digest, resolve, plan, each partition of each image, manifest,
//! commit). A stage lasts until the next one begins. Timings are a report about one run, never
//! part of an output file: the outputs stay reproducible.

use serde::Serialize;
use std::sync::Mutex;
use std::time::Instant;

/// The wall time of one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageTime {
    pub stage: String,
    pub seconds: f64,
}

/// Records stage timings as the stages begin.
#[derive(Debug, Default)]
pub struct Timings {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    done: Vec<StageTime>,
    current: Option<(String, Instant)>,
}

impl State {
    fn close(&mut self, now: Instant) {
        if let Some((stage, start)) = self.current.take() {
            let seconds = now.duration_since(start).as_secs_f64();
            self.done.push(StageTime { stage, seconds });
        }
    }
}

impl Timings {
    /// Ends the current stage, if any, and begins `stage`.
    pub fn begin(&self, stage: &str) {
        let now = Instant::now();
        let mut state = self.lock();
        state.close(now);
        state.current = Some((stage.to_string(), now));
    }

    /// Ends the current stage and returns every stage recorded so far (and forgets them).
    pub fn take(&self) -> Vec<StageTime> {
        let mut state = self.lock();
        state.close(Instant::now());
        std::mem::take(&mut state.done)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The timings as a table with a total, for the text output.
pub fn render(times: &[StageTime]) -> String {
    let width = times
        .iter()
        .map(|t| t.stage.len())
        .chain(["total".len()])
        .max()
        .unwrap_or(5);
    let mut out = format!("{:<width$}  {:>8}\n", "stage", "seconds");
    for t in times {
        out.push_str(&format!("{:<width$}  {:>8.3}\n", t.stage, t.seconds));
    }
    let total: f64 = times.iter().map(|t| t.seconds).sum();
    out.push_str(&format!("{:<width$}  {total:>8.3}\n", "total"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_last_until_the_next_begins() {
        let t = Timings::default();
        assert!(t.take().is_empty());
        t.begin("load");
        t.begin("digest");
        let times = t.take();
        let names: Vec<_> = times.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(names, ["load", "digest"]);
        assert!(times.iter().all(|s| s.seconds >= 0.0));
        assert!(t.take().is_empty(), "taken timings are forgotten");
    }

    #[test]
    fn rendered_with_a_total() {
        let text = render(&[
            StageTime {
                stage: "load".into(),
                seconds: 0.5,
            },
            StageTime {
                stage: "pc.img ubuntu-seed".into(),
                seconds: 1.25,
            },
        ]);
        assert!(text.contains("load                   0.500"), "{text}");
        assert!(text.contains("total                  1.750"), "{text}");
    }
}
