//! The runtime's numbers: HDR histograms of tick time (whole, per stage, action to frame) and
//! input-to-frame latency, late and dropped frames, time per quality level.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::engine::StageTimes;
use crate::quality::Quality;

/// Percentiles of one histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// A histogram of durations with microsecond resolution (1 µs … 10 min, 3 significant digits).
#[derive(Clone, Debug)]
pub struct DurationHistogram(Histogram<u64>);

impl Default for DurationHistogram {
    fn default() -> DurationHistogram {
        DurationHistogram::new()
    }
}

impl DurationHistogram {
    /// An empty histogram.
    pub fn new() -> DurationHistogram {
        // Bounds are constants in range: this cannot fail.
        #[allow(clippy::expect_used)]
        let h = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        DurationHistogram(h)
    }

    /// Records milliseconds (clamped to the histogram's range).
    pub fn record_ms(&mut self, ms: f64) {
        let us = (ms * 1e3).round().clamp(1.0, 600_000_000.0) as u64;
        self.0.saturating_record(us);
    }

    /// Records a duration.
    pub fn record(&mut self, d: Duration) {
        self.record_ms(d.as_secs_f64() * 1e3);
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The percentiles in milliseconds (zeros when empty).
    pub fn percentiles(&self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1e3;
        Percentiles {
            count: self.0.len(),
            mean: self.0.mean() / 1e3,
            p50: ms(self.0.value_at_quantile(0.5)),
            p90: ms(self.0.value_at_quantile(0.9)),
            p99: ms(self.0.value_at_quantile(0.99)),
            max: ms(self.0.max()),
        }
    }
}

/// Events in the last second (frames per second "now").
#[derive(Clone, Debug, Default)]
pub struct LastSecond(VecDeque<Instant>);

impl LastSecond {
    /// An event at `now`.
    pub fn push(&mut self, now: Instant) {
        self.0.push_back(now);
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
        {
            self.0.pop_front();
        }
    }

    /// Events in the second before the last one.
    pub fn count(&self) -> usize {
        self.0.len()
    }
}

/// What the runtime measured so far (see [`crate::RuntimeHandle::metrics`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// Seconds since the runtime started.
    pub seconds: f64,
    /// Frames published.
    pub frames: u64,
    /// Tick slots of the clock so far (frames + dropped).
    pub slots: u64,
    /// Frames per second over the whole run.
    pub fps: f64,
    /// Frames per second over the last second.
    pub fps_recent: f64,
    /// Frames published after their slot ended.
    pub late: u64,
    /// Slots that passed without a frame (the previous tick ran over).
    pub dropped: u64,
    /// `late / frames`.
    pub late_share: f64,
    /// `dropped / slots`.
    pub dropped_share: f64,
    /// Frames whose network missed the frame deadline: the fallback (warp, else memory, else
    /// the previous frame) was shown in their place ([`crate::RuntimeConfig::frame_deadline_ms`]).
    #[serde(default)]
    pub rescued: u64,
    /// `rescued / frames`.
    #[serde(default)]
    pub rescued_share: f64,
    /// Frames left out of the memory because their slot had no time left to store them.
    #[serde(default)]
    pub commits_skipped: u64,
    /// Actions used by ticks (each submitted action is used by exactly one tick).
    pub actions: u64,
    /// Sum of the look deltas the ticks used (yaw, pitch; radians): equals the sum submitted
    /// (nothing is lost in coalescing).
    pub look_used_rad: [f64; 2],
    /// Whole tick (all stages, memory write included).
    pub tick_ms: Percentiles,
    /// Start of the tick to the published frame.
    pub to_frame_ms: Percentiles,
    /// Per stage (`motion`, `warp`, `memory_render`, `network`, `memory_write`).
    pub stages_ms: BTreeMap<String, Percentiles>,
    /// An action's submission to the publication of the first frame that used it.
    pub input_to_frame_ms: Percentiles,
    /// The level the last tick ran at.
    pub quality: Quality,
    /// How often the level changed.
    pub quality_changes: u64,
    /// Ticks per level.
    pub quality_ticks: BTreeMap<String, u64>,
}

/// The accumulating side of [`MetricsSnapshot`].
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    frames: u64,
    slots: u64,
    late: u64,
    dropped: u64,
    rescued: u64,
    commits_skipped: u64,
    actions: u64,
    look_used: [f64; 2],
    tick: DurationHistogram,
    to_frame: DurationHistogram,
    stages: [DurationHistogram; StageTimes::COUNT],
    latency: DurationHistogram,
    recent: LastSecond,
    quality: Quality,
    quality_changes: u64,
    quality_ticks: [u64; 4],
}

impl Metrics {
    /// Empty metrics; the clock starts now.
    pub fn new() -> Metrics {
        Metrics {
            started: Instant::now(),
            frames: 0,
            slots: 0,
            late: 0,
            dropped: 0,
            rescued: 0,
            commits_skipped: 0,
            actions: 0,
            look_used: [0.0; 2],
            tick: DurationHistogram::new(),
            to_frame: DurationHistogram::new(),
            stages: Default::default(),
            latency: DurationHistogram::new(),
            recent: LastSecond::default(),
            quality: Quality::Full,
            quality_changes: 0,
            quality_ticks: [0; 4],
        }
    }

    /// A published frame: its stage times, whether it was late, its quality.
    pub fn frame(&mut self, published: Instant, times: &StageTimes, late: bool, quality: Quality) {
        self.frames += 1;
        self.slots += 1;
        self.late += u64::from(late);
        self.to_frame.record_ms(times.to_frame_ms());
        self.quality = quality;
        self.quality_ticks[quality as usize] += 1;
        self.recent.push(published);
    }

    /// The memory write of the last frame finished: the whole tick's time is known.
    pub fn tick_done(&mut self, times: &StageTimes) {
        self.tick.record_ms(times.total_ms());
        for (h, v) in self.stages.iter_mut().zip(times.as_array()) {
            h.record_ms(v);
        }
    }

    /// Whether a published frame was a deadline fallback.
    pub fn rescued(&mut self, rescued: bool) {
        self.rescued += u64::from(rescued);
    }

    /// A frame was left out of the memory for lack of time.
    pub fn commit_skipped(&mut self) {
        self.commits_skipped += 1;
    }

    /// Slots that passed without a frame.
    pub fn dropped(&mut self, n: u64) {
        self.dropped += n;
        self.slots += n;
    }

    /// An action that was used by a frame published `latency` after it was submitted.
    pub fn action(&mut self, latency: Duration) {
        self.actions += 1;
        self.latency.record(latency);
    }

    /// The (coalesced) action a tick used.
    pub fn used(&mut self, action: &reverie_core::Action) {
        self.look_used[0] += f64::from(action.yaw_delta_rad);
        self.look_used[1] += f64::from(action.pitch_delta_rad);
    }

    /// The quality controller changed level.
    pub fn quality_changed(&mut self) {
        self.quality_changes += 1;
    }

    /// What was measured so far.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let seconds = self.started.elapsed().as_secs_f64();
        let share = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        MetricsSnapshot {
            seconds,
            frames: self.frames,
            slots: self.slots,
            fps: if seconds > 0.0 {
                self.frames as f64 / seconds
            } else {
                0.0
            },
            fps_recent: self.recent.count() as f64,
            late: self.late,
            dropped: self.dropped,
            late_share: share(self.late, self.frames),
            dropped_share: share(self.dropped, self.slots),
            rescued: self.rescued,
            rescued_share: share(self.rescued, self.frames),
            commits_skipped: self.commits_skipped,
            actions: self.actions,
            look_used_rad: self.look_used,
            tick_ms: self.tick.percentiles(),
            to_frame_ms: self.to_frame.percentiles(),
            stages_ms: StageTimes::NAMES
                .iter()
                .zip(&self.stages)
                .map(|(n, h)| ((*n).to_string(), h.percentiles()))
                .collect(),
            input_to_frame_ms: self.latency.percentiles(),
            quality: self.quality,
            quality_changes: self.quality_changes,
            quality_ticks: Quality::ALL
                .iter()
                .map(|q| (q.name().to_string(), self.quality_ticks[*q as usize]))
                .collect(),
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut h = DurationHistogram::new();
        for i in 1..=100 {
            h.record_ms(f64::from(i));
        }
        let p = h.percentiles();
        assert_eq!(p.count, 100);
        assert!((p.p50 - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p99 - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max - 100.0).abs() < 0.1, "{p:?}");
        assert!((p.mean - 50.5).abs() < 0.1, "{p:?}");
    }
}
