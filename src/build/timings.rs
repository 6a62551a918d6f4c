//! Stage timings of a build (`snapsmith build --timings`): the wall time of each stage in the
//! order the stages ran (load, digest, resolve, plan, each image's table and structures,
//! manifest, commit). A stage lasts until the next one begins. Parts that run side by side
//! inside a stage (the structures of an image) are recorded each with its own time and the
//! stage they ran within; the total counts only the stages. Timings are a report about one run,
//! never part of an output file: the outputs stay reproducible.

use serde::Serialize;
use std::sync::Mutex;
use std::time::Instant;

/// The wall time of one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageTime {
    pub stage: String,
    pub seconds: f64,
    /// For a part that ran beside others: the stage it ran within.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
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
    /// Ends the current stage; its time goes before the parts recorded within it.
    fn close(&mut self, now: Instant) {
        if let Some((stage, start)) = self.current.take() {
            let at = self
                .done
                .iter()
                .rposition(|t| t.within.as_deref() != Some(stage.as_str()))
                .map_or(0, |i| i + 1);
            let seconds = now.duration_since(start).as_secs_f64();
            self.done.insert(
                at,
                StageTime {
                    stage,
                    seconds,
                    within: None,
                },
            );
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

    /// Records a part of the current stage that ran beside others and took `seconds`.
    pub fn part(&self, part: &str, seconds: f64) {
        let mut state = self.lock();
        let within = state.current.as_ref().map(|(stage, _)| stage.clone());
        state.done.push(StageTime {
            stage: part.to_string(),
            seconds,
            within,
        });
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
    let name = |t: &StageTime| match t.within {
        Some(_) => format!("  {}", t.stage),
        None => t.stage.clone(),
    };
    let width = times
        .iter()
        .map(|t| name(t).len())
        .chain(["total".len()])
        .max()
        .unwrap_or(5);
    let mut out = format!("{:<width$}  {:>8}\n", "stage", "seconds");
    for t in times {
        out.push_str(&format!("{:<width$}  {:>8.3}\n", name(t), t.seconds));
    }
    let total: f64 = times
        .iter()
        .filter(|t| t.within.is_none())
        .map(|t| t.seconds)
        .sum();
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
        t.begin("structures");
        t.part("seed", 0.5);
        t.part("data", 0.25);
        t.begin("manifest");
        let times = t.take();
        let names: Vec<_> = times.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(names, ["load", "structures", "seed", "data", "manifest"]);
        assert_eq!(times[2].within.as_deref(), Some("structures"));
        assert_eq!(times[1].within, None);
        assert!(times.iter().all(|s| s.seconds >= 0.0));
        assert!(t.take().is_empty(), "taken timings are forgotten");
    }

    #[test]
    fn rendered_with_a_total() {
        let text = render(&[
            StageTime {
                stage: "load".into(),
                seconds: 0.5,
                within: None,
            },
            StageTime {
                stage: "pc.img structures".into(),
                seconds: 1.25,
                within: None,
            },
            StageTime {
                stage: "pc.img ubuntu-seed".into(),
                seconds: 1.0,
                within: Some("pc.img structures".into()),
            },
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["load", "0.500"]
        );
        assert!(lines[3].starts_with("  pc.img ubuntu-seed "), "{text}");
        // The part ran within its stage: the total counts the stage only.
        assert_eq!(
            lines[4].split_whitespace().collect::<Vec<_>>(),
            ["total", "1.750"]
        );
    }
}
