//! Deadline-aware quality: the levels a tick can degrade through, in order, and the controller
//! that picks one from measured tick costs.

use serde::{Deserialize, Serialize};

/// How much work a tick does. Each level keeps everything the previous one dropped dropped, and
/// drops one more thing (the order is the degradation order).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Quality {
    /// Everything: the network refines every pixel; the memory renders at full resolution and
    /// stores every frame.
    #[default]
    Full,
    /// The memory stores (carves + writes) every second frame only.
    SparseWrites,
    /// … and the memory is used every second tick only (rendered into the new pose and stored);
    /// in between the network works from the warp alone (it is trained with the memory guide
    /// dropped now and then).
    SparseMemory,
    /// … and the network runs every second tick only, from the warp alone; the ticks in between
    /// reuse the warp: the previous frame warped into the new pose, holes filled from the memory
    /// render (which runs on those ticks), then from the previous frame, with the latent state
    /// held. The pose always comes from the model's ego-motion (a small MLP). Network and memory
    /// alternate, so no tick pays for both; the network is never off for two ticks in a row, so
    /// warps cannot compound into a smear.
    ReuseWarp,
}

impl Quality {
    /// Every level, best first.
    pub const ALL: [Quality; 4] = [
        Quality::Full,
        Quality::SparseWrites,
        Quality::SparseMemory,
        Quality::ReuseWarp,
    ];

    /// The next cheaper level (the last one stays).
    pub fn degraded(self) -> Quality {
        Quality::ALL[(self as usize + 1).min(Quality::ALL.len() - 1)]
    }

    /// The next better level (the first one stays).
    pub fn restored(self) -> Quality {
        Quality::ALL[(self as usize).saturating_sub(1)]
    }

    /// A short name (`full`, `sparse-writes`, `sparse-memory`, `reuse-warp`).
    pub fn name(self) -> &'static str {
        match self {
            Quality::Full => "full",
            Quality::SparseWrites => "sparse-writes",
            Quality::SparseMemory => "sparse-memory",
            Quality::ReuseWarp => "reuse-warp",
        }
    }

    /// Whether the memory stores the frame of `tick` at this level (when it is used at all).
    pub fn writes_memory(self, tick: u64) -> bool {
        self != Quality::SparseWrites || tick.is_multiple_of(2)
    }

    /// Whether the memory is rendered into the pose of `tick` (and may store its frame).
    pub fn uses_memory(self, tick: u64) -> bool {
        match self {
            Quality::Full | Quality::SparseWrites => true,
            Quality::SparseMemory => tick.is_multiple_of(2),
            Quality::ReuseWarp => !tick.is_multiple_of(2),
        }
    }

    /// Whether the network makes the frame of `tick`.
    pub fn runs_network(self, tick: u64) -> bool {
        self != Quality::ReuseWarp || tick.is_multiple_of(2)
    }
}

impl std::fmt::Display for Quality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Picks the level of each tick from the cost of the ticks before it.
///
/// A tick's cost is its compute from the action to the published frame plus the memory write.
/// A tick over `severe_share` of the period degrades one level at once; a tick over the period
/// counts two strikes, one over `degrade_share` of it one strike, a tick under it takes one
/// strike away; `strikes` strikes degrade one level. So a level that keeps running close to the
/// deadline, or over it now and then, is left, while one stray slow tick (a page fault, another
/// process) is not punished. Restores one level after `patience` ticks in a row under
/// `restore_share` of the period. Restoring is a probe: if the better level degrades again
/// before it held for `patience` ticks, the next wait doubles (up to 4×).
#[derive(Clone, Debug)]
pub struct QualityController {
    /// The tick period in milliseconds.
    pub period_ms: f64,
    /// Cost above which a tick counts as a strike (share of the period).
    pub degrade_share: f64,
    /// Cost above which a tick degrades at once (share of the period).
    pub severe_share: f64,
    /// Strikes in a row that degrade.
    pub strikes: u32,
    /// Cost under which ticks count towards restoring (share of the period).
    pub restore_share: f64,
    /// Ticks in a row under `restore_share` before restoring.
    pub patience: u32,
    /// The cheapest level allowed ([`Quality::Full`] never degrades).
    pub floor: Quality,
    level: Quality,
    calm: u32,
    struck: u32,
    /// Ticks since the last restore while it is still on probation.
    probing: Option<u32>,
    backoff: u32,
    changes: u64,
}

impl QualityController {
    /// A controller for ticks of `period_ms`, starting at [`Quality::Full`].
    pub fn new(period_ms: f64) -> QualityController {
        QualityController {
            period_ms,
            degrade_share: 0.85,
            severe_share: 1.5,
            strikes: 3,
            restore_share: 0.6,
            patience: 48,
            floor: Quality::ReuseWarp,
            level: Quality::Full,
            calm: 0,
            struck: 0,
            probing: None,
            backoff: 1,
            changes: 0,
        }
    }

    /// The level for the next tick.
    pub fn level(&self) -> Quality {
        self.level
    }

    /// How many times the level changed.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    fn degrade(&mut self) {
        let next = self.level.degraded().min(self.floor);
        if next != self.level {
            self.level = next;
            self.changes += 1;
        }
        if self.probing.is_some() {
            // The restored level did not hold: wait longer before the next try.
            self.backoff = (self.backoff * 2).min(4);
        }
        self.probing = None;
        self.calm = 0;
        self.struck = 0;
    }

    /// Records the cost of a tick made at [`QualityController::level`]; returns the new level.
    pub fn record(&mut self, cost_ms: f64) -> Quality {
        if cost_ms > self.severe_share * self.period_ms {
            self.degrade();
            return self.level;
        }
        if cost_ms > self.degrade_share * self.period_ms {
            self.struck += if cost_ms > self.period_ms { 2 } else { 1 };
            self.calm = 0;
            if self.struck >= self.strikes {
                self.degrade();
            }
            return self.level;
        }
        self.struck = self.struck.saturating_sub(1);
        if let Some(n) = self.probing.as_mut() {
            *n += 1;
            if *n >= self.patience {
                // The restored level held: it is the new normal.
                self.probing = None;
                self.backoff = 1;
            }
        }
        if cost_ms < self.restore_share * self.period_ms {
            self.calm += 1;
            if self.level != Quality::Full && self.calm >= self.patience * self.backoff {
                self.level = self.level.restored();
                self.changes += 1;
                self.calm = 0;
                self.probing = Some(0);
            }
        } else {
            self.calm = 0;
        }
        self.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrades_in_order_and_restores_after_calm() {
        let mut q = QualityController::new(40.0);
        // Near the deadline: three strikes degrade one level.
        assert_eq!(q.record(36.0), Quality::Full);
        assert_eq!(q.record(36.0), Quality::Full);
        assert_eq!(q.record(36.0), Quality::SparseWrites);
        // One stray slow tick among fast ones does not degrade; two overruns do.
        assert_eq!(q.record(45.0), Quality::SparseWrites);
        assert_eq!(q.record(20.0), Quality::SparseWrites);
        assert_eq!(q.record(20.0), Quality::SparseWrites);
        assert_eq!(q.record(45.0), Quality::SparseWrites);
        assert_eq!(q.record(45.0), Quality::SparseMemory);
        // Far over the deadline: at once.
        assert_eq!(q.record(70.0), Quality::ReuseWarp);
        assert_eq!(q.record(70.0), Quality::ReuseWarp);
        for _ in 0..47 {
            assert_eq!(q.record(10.0), Quality::ReuseWarp);
        }
        assert_eq!(q.record(10.0), Quality::SparseMemory);
        // The restored level fails before it held: the next wait doubles.
        assert_eq!(q.record(70.0), Quality::ReuseWarp);
        for _ in 0..95 {
            assert_eq!(q.record(10.0), Quality::ReuseWarp);
        }
        assert_eq!(q.record(10.0), Quality::SparseMemory);
        assert_eq!(q.changes(), 6);
    }

    #[test]
    fn floor_limits_degradation() {
        let mut q = QualityController::new(40.0);
        q.floor = Quality::Full;
        for _ in 0..10 {
            assert_eq!(q.record(100.0), Quality::Full);
        }
        assert_eq!(q.changes(), 0);
    }
}
