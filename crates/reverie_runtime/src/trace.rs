//! A Chrome trace (`chrome://tracing`, Perfetto) of the runtime's ticks: one complete event per
//! stage, an instant event per published frame, counters for the quality level.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::engine::StageTimes;
use crate::quality::Quality;

/// Most events kept (about 100 bytes each): a 60-minute session at 24 Hz needs ~600 k.
const MAX_EVENTS: usize = 1_000_000;

/// Collects events in memory; [`Trace::write`] saves them as a trace JSON file.
#[derive(Debug)]
pub struct Trace {
    path: PathBuf,
    origin: Instant,
    events: Vec<serde_json::Value>,
    truncated: bool,
}

impl Trace {
    /// A trace that will be written to `path`; times count from `origin`.
    pub fn new(path: &Path, origin: Instant) -> Trace {
        Trace {
            path: path.to_path_buf(),
            origin,
            events: Vec::new(),
            truncated: false,
        }
    }

    fn us(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.origin).as_secs_f64() * 1e6
    }

    fn push(&mut self, e: serde_json::Value) {
        if self.events.len() < MAX_EVENTS {
            self.events.push(e);
        } else {
            self.truncated = true;
        }
    }

    /// One tick that started at `start`: its stages laid end to end, the publication, the level.
    pub fn tick(&mut self, tick: u64, start: Instant, times: &StageTimes, quality: Quality) {
        let mut ts = self.us(start);
        for (name, ms) in StageTimes::NAMES.iter().zip(times.as_array()) {
            let dur = ms * 1e3;
            self.push(
                json!({"name": name, "cat": "tick", "ph": "X", "ts": ts, "dur": dur,
                             "pid": 1, "tid": 1, "args": {"tick": tick}}),
            );
            ts += dur;
            if *name == "network" {
                self.push(
                    json!({"name": "frame", "ph": "i", "s": "t", "ts": ts, "pid": 1, "tid": 1,
                                 "args": {"tick": tick}}),
                );
            }
        }
        self.push(
            json!({"name": "quality", "ph": "C", "ts": self.us(start), "pid": 1,
                         "args": {"level": quality as u8}}),
        );
    }

    /// Slots dropped at `at`.
    pub fn dropped(&mut self, at: Instant, n: u64) {
        self.push(
            json!({"name": "dropped", "ph": "i", "s": "g", "ts": self.us(at), "pid": 1,
                         "tid": 1, "args": {"slots": n}}),
        );
    }

    /// Writes the trace file.
    pub fn write(&self) -> std::io::Result<()> {
        let doc = json!({
            "traceEvents": self.events,
            "displayTimeUnit": "ms",
            "otherData": {"truncated": self.truncated},
        });
        let mut f = std::io::BufWriter::new(std::fs::File::create(&self.path)?);
        serde_json::to_writer(&mut f, &doc)?;
        f.flush()
    }
}
