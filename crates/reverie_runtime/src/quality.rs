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
    /// … and renders into the new pose at half resolution (upsampled), without carving.
    HalfResMemory,
    /// … and the network is skipped: the frame is the previous one warped into the new pose,
    /// holes filled from the memory render, then from the previous frame. The latent state is
    /// held; the pose still comes from the model's ego-motion (a small MLP).
    ReuseWarp,
}

impl Quality {
    /// Every level, best first.
    pub const ALL: [Quality; 4] = [
        Quality::Full,
        Quality::SparseWrites,
        Quality::HalfResMemory,
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

    /// A short name (`full`, `sparse-writes`, `half-res-memory`, `reuse-warp`).
    pub fn name(self) -> &'static str {
        match self {
            Quality::Full => "full",
            Quality::SparseWrites => "sparse-writes",
            Quality::HalfResMemory => "half-res-memory",
            Quality::ReuseWarp => "reuse-warp",
        }
    }

    /// Whether the memory stores the frame of `tick` at this level.
    pub fn writes_memory(self, tick: u64) -> bool {
        self == Quality::Full || tick.is_multiple_of(2)
    }
}

impl std::fmt::Display for Quality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Picks the level of each tick from the cost of the ticks before it.
///
/// Degrades one level when a tick's cost (compute from the action to the published frame plus
/// the memory write) overruns the period (its deadline is missed), or when `strikes` ticks in a
/// row cost over `degrade_share` of it (the deadline is about to be missed). Restores one level
/// after `patience` ticks in a row under `restore_share` of the period. Restoring is a probe: if
/// the better level overruns right away, the patience doubles (up to 16×), so a level that cannot
/// hold its deadline is not retried every few ticks.
#[derive(Clone, Debug)]
pub struct QualityController {
    /// The tick period in milliseconds.
    pub period_ms: f64,
    /// Cost above which a tick counts as a strike (share of the period).
    pub degrade_share: f64,
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
    probing: bool,
    backoff: u32,
    changes: u64,
}

impl QualityController {
    /// A controller for ticks of `period_ms`, starting at [`Quality::Full`].
    pub fn new(period_ms: f64) -> QualityController {
        QualityController {
            period_ms,
            degrade_share: 0.85,
            strikes: 3,
            restore_share: 0.6,
            patience: 48,
            floor: Quality::ReuseWarp,
            level: Quality::Full,
            calm: 0,
            struck: 0,
            probing: false,
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
        if self.probing {
            // The restore probe failed right away: wait longer before the next one.
            self.backoff = (self.backoff * 2).min(16);
        }
        self.probing = false;
        self.calm = 0;
        self.struck = 0;
    }

    /// Records the cost of a tick made at [`QualityController::level`]; returns the new level.
    pub fn record(&mut self, cost_ms: f64) -> Quality {
        if cost_ms > self.period_ms {
            self.degrade();
            return self.level;
        }
        if cost_ms > self.degrade_share * self.period_ms {
            self.struck += 1;
            self.calm = 0;
            if self.struck >= self.strikes {
                self.degrade();
            }
            return self.level;
        }
        self.struck = 0;
        if self.probing {
            // The probe held for a tick: it is the new normal.
            self.probing = false;
            self.backoff = 1;
        }
        if cost_ms < self.restore_share * self.period_ms {
            self.calm += 1;
            if self.level != Quality::Full && self.calm >= self.patience * self.backoff {
                self.level = self.level.restored();
                self.changes += 1;
                self.calm = 0;
                self.probing = true;
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
        // Over the deadline: at once.
        assert_eq!(q.record(50.0), Quality::HalfResMemory);
        assert_eq!(q.record(50.0), Quality::ReuseWarp);
        assert_eq!(q.record(50.0), Quality::ReuseWarp);
        for _ in 0..47 {
            assert_eq!(q.record(10.0), Quality::ReuseWarp);
        }
        assert_eq!(q.record(10.0), Quality::HalfResMemory);
        // A failed probe doubles the patience.
        assert_eq!(q.record(50.0), Quality::ReuseWarp);
        for _ in 0..95 {
            assert_eq!(q.record(10.0), Quality::ReuseWarp);
        }
        assert_eq!(q.record(10.0), Quality::HalfResMemory);
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
