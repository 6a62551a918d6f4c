//! The `power-cut` scenario's data, pure: the points of an update where the power may go (each
//! a phase — staging, the try boot, committing, rolling back — with the update it needs, the
//! console marker its delay counts from, a window of delays, and the revisions a good device
//! may be on once the power is back), and the choice of cuts from a seed. The same seed gives
//! the same cuts; one cut is re-run alone by naming its point and delay (`only:` in the file,
//! `--cut POINT:DELAY` on the command line).

use super::scenario::Expect;
use super::update_kind::UpdateKind;
use serde::{Deserialize, Serialize};

/// Where in an update a cut falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The agent writes the update's files and its try state.
    Staging,
    /// The reboot into the tried revision, up to its commit.
    TryBoot,
    /// The agent makes the tried revision the current one.
    Committing,
    /// A failed try falls back and the agent cleans it up.
    RollingBack,
}

impl Phase {
    /// The name scenario files and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Staging => "staging",
            Phase::TryBoot => "try-boot",
            Phase::Committing => "committing",
            Phase::RollingBack => "rolling-back",
        }
    }
}

/// One point of an update where the power may go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CutPoint {
    /// Unique within the scenario; names the point in reports and in `--cut`.
    pub name: String,
    pub phase: Phase,
    /// The update on the update disk.
    pub update: UpdateKind,
    /// The console marker the delay counts from (placeholders as in steps).
    pub after: String,
    /// Seconds from QEMU's start to wait for `after`.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// The delays to choose from: seconds after `after`, lowest and highest.
    pub delay: [f64; 2],
    /// What the host checks may find once the device is back: any one of these revisions.
    pub good: Vec<Expect>,
}

fn default_timeout() -> f64 {
    300.0
}

/// One cut: a point and the delay after its marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cut {
    pub point: String,
    pub delay: f64,
}

/// A scenario's `power-cut:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PowerCut {
    /// How many cuts a run makes, spread over the points in turn.
    pub cuts: usize,
    /// Chooses the delays.
    pub seed: u64,
    pub points: Vec<CutPoint>,
    /// These cuts instead of the seeded ones (re-running one cut alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<Cut>,
}

/// A chosen cut: its point (an index into `points`), its delay, and its number in the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chosen {
    pub index: usize,
    pub point: usize,
    pub delay: f64,
}

impl PowerCut {
    /// Why the section cannot be run, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.points.is_empty() || (self.cuts == 0 && self.only.is_empty()) {
            return Err("power-cut: at least one point and one cut are needed".into());
        }
        for (i, p) in self.points.iter().enumerate() {
            let [lo, hi] = p.delay;
            if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi) {
                return Err(format!(
                    "power-cut: points[{i}] ({}): delay must be [low, high] seconds",
                    p.name
                ));
            }
            if p.good.is_empty() {
                return Err(format!(
                    "power-cut: points[{i}] ({}): good needs a revision",
                    p.name
                ));
            }
            if self.points[..i].iter().any(|q| q.name == p.name) {
                return Err(format!(
                    "power-cut: points[{i}]: a second point named {}",
                    p.name
                ));
            }
        }
        for cut in &self.only {
            if self.point(&cut.point).is_none() {
                return Err(format!("power-cut: only: no point named {}", cut.point));
            }
            if !(cut.delay.is_finite() && cut.delay >= 0.0) {
                return Err(format!(
                    "power-cut: only: the delay of {} must be seconds",
                    cut.point
                ));
            }
        }
        Ok(())
    }

    fn point(&self, name: &str) -> Option<usize> {
        self.points.iter().position(|p| p.name == name)
    }

    /// The cuts of a run: `only` when given, else `cuts` of them from the seed, the points in
    /// turn, each delay drawn from its point's window (to the hundredth of a second).
    pub fn choose(&self) -> Vec<Chosen> {
        if !self.only.is_empty() {
            return self
                .only
                .iter()
                .enumerate()
                .filter_map(|(index, c)| {
                    let point = self.point(&c.point)?;
                    Some(Chosen {
                        index,
                        point,
                        delay: c.delay,
                    })
                })
                .collect();
        }
        let mut state = self.seed;
        (0..self.cuts)
            .map(|index| {
                let point = index % self.points.len();
                let [lo, hi] = self.points[point].delay;
                let unit = (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
                let delay = ((lo + unit * (hi - lo)) * 100.0).round() / 100.0;
                Chosen {
                    index,
                    point,
                    delay,
                }
            })
            .collect()
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a seed gives the same numbers on every host.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Parses `POINT:DELAY` (as `--cut` takes it).
pub fn parse_cut(text: &str) -> Result<Cut, String> {
    let (point, delay) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?}: a cut is POINT:DELAY (seconds)"))?;
    let delay: f64 = delay
        .parse()
        .map_err(|_| format!("{text:?}: {delay:?} is not a number of seconds"))?;
    Ok(Cut {
        point: point.to_string(),
        delay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(seed: u64) -> PowerCut {
        let point = |name: &str, phase, delay| CutPoint {
            name: name.into(),
            phase,
            update: UpdateKind::GoodKernel,
            after: "m".into(),
            timeout: 9.0,
            delay,
            good: vec![Expect::default()],
        };
        PowerCut {
            cuts: 12,
            seed,
            points: vec![
                point("stage", Phase::Staging, [0.0, 2.0]),
                point("try", Phase::TryBoot, [1.0, 1.0]),
                point("back", Phase::RollingBack, [0.5, 8.0]),
            ],
            only: Vec::new(),
        }
    }

    #[test]
    fn a_seed_chooses_the_same_cuts_spread_over_the_points() {
        let cuts = section(7).choose();
        assert_eq!(cuts, section(7).choose());
        assert_ne!(cuts, section(8).choose());
        assert_eq!(cuts.len(), 12);
        for (i, c) in cuts.iter().enumerate() {
            assert_eq!((c.index, c.point), (i, i % 3));
            let [lo, hi] = section(7).points[c.point].delay;
            assert!(lo <= c.delay && c.delay <= hi, "{c:?}");
        }
        assert!(cuts.iter().filter(|c| c.point == 1).all(|c| c.delay == 1.0));
    }

    #[test]
    fn one_cut_runs_alone_and_bad_sections_are_refused() {
        let mut s = section(1);
        s.only = vec![parse_cut("back:3.25").unwrap()];
        assert_eq!(s.check(), Ok(()));
        assert_eq!(
            s.choose(),
            [Chosen {
                index: 0,
                point: 2,
                delay: 3.25
            }]
        );
        assert!(parse_cut("back").is_err() && parse_cut("back:soon").is_err());
        s.only[0].point = "nowhere".into();
        assert!(s.check().unwrap_err().contains("nowhere"));
        let mut s = section(1);
        s.points[1].delay = [2.0, 1.0];
        assert!(s.check().unwrap_err().contains("points[1]"));
        let mut s = section(1);
        s.points[2].name = "stage".into();
        assert!(s.check().unwrap_err().contains("second point"));
    }
}
