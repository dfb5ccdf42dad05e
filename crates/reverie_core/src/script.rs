//! Action scripts: a JSONL file of actions, one object per line.
//!
//! ```text
//! # a comment; blank lines are skipped
//! {"keys": "forward", "ticks": 48}
//! {"keys": "forward sprint jump", "yaw_deg": 2.5}
//! {"yaw_deg": -5, "pitch_deg": 1, "ticks": 12}
//! {}
//! ```
//!
//! | field | type | default | meaning |
//! |---|---|---|---|
//! | `keys` | string | `""` | held keys, space- or `+`-separated: `forward back left right jump sprint interact` |
//! | `yaw_deg` | number | 0 | turn per tick in degrees, positive = right, within ±180 |
//! | `pitch_deg` | number | 0 | look up (positive) or down per tick in degrees, within ±180 |
//! | `ticks` | integer | 1 | how many ticks (1/24 s each) to repeat this line, 1 ..= 1,000,000 |
//!
//! Unknown fields are errors. Every error names the source and the 1-based line.

use crate::{Action, Error, Keys, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Most ticks one line may repeat.
pub const MAX_TICKS_PER_LINE: u32 = 1_000_000;
/// Most ticks a whole script may expand to (about 11.6 hours at 24 Hz).
pub const MAX_TOTAL_TICKS: usize = 1_000_000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default, skip_serializing_if = "no_keys")]
    keys: Keys,
    #[serde(default, skip_serializing_if = "is_zero")]
    yaw_deg: f32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pitch_deg: f32,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    ticks: u32,
}

fn no_keys(k: &Keys) -> bool {
    k.is_empty()
}
fn one() -> u32 {
    1
}
fn is_one(v: &u32) -> bool {
    *v == 1
}
fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

/// Parses a script, expanding `ticks` into one action per tick.
///
/// `source_name` (usually the file path) is used in error messages.
pub fn parse(text: &str, source_name: &str) -> Result<Vec<Action>> {
    let mut actions = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |message: String| Error::Script {
            source_name: source_name.to_string(),
            line: line_no,
            message,
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let line: Line = serde_json::from_str(trimmed).map_err(|e| err(format!("{e} (expected a JSON object like {{\"keys\": \"forward\", \"yaw_deg\": 2.0, \"ticks\": 24}})")))?;
        if line.ticks == 0 || line.ticks > MAX_TICKS_PER_LINE {
            return Err(err(format!(
                "ticks = {}: expected 1 ..= {MAX_TICKS_PER_LINE}",
                line.ticks
            )));
        }
        let action = Action {
            keys: line.keys,
            yaw_delta_rad: line.yaw_deg.to_radians(),
            pitch_delta_rad: line.pitch_deg.to_radians(),
        };
        action.validate().map_err(err)?;
        if actions.len() + line.ticks as usize > MAX_TOTAL_TICKS {
            return Err(err(format!(
                "the script expands to more than {MAX_TOTAL_TICKS} ticks"
            )));
        }
        actions.extend(std::iter::repeat_n(action, line.ticks as usize));
    }
    Ok(actions)
}

/// Reads and parses a script file; errors name the file (and line).
pub fn load(path: &Path) -> Result<Vec<Action>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Writes actions as a script, merging runs of identical actions into one line with `ticks`.
pub fn to_string(actions: &[Action]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < actions.len() {
        let a = actions[i];
        let mut n = 1;
        while i + n < actions.len() && actions[i + n] == a && n < MAX_TICKS_PER_LINE as usize {
            n += 1;
        }
        let line = Line {
            keys: a.keys,
            yaw_deg: a.yaw_delta_rad.to_degrees(),
            pitch_deg: a.pitch_delta_rad.to_degrees(),
            ticks: n as u32,
        };
        // Serialising this plain struct cannot fail.
        out.push_str(&serde_json::to_string(&line).unwrap_or_default());
        out.push('\n');
        i += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeats_comments_and_defaults() {
        let text = "# tour\n\n{\"keys\": \"forward\", \"ticks\": 3}\n{\"yaw_deg\": 90}\n{}\n";
        let a = parse(text, "t.jsonl").expect("valid script");
        assert_eq!(a.len(), 5);
        assert!(a[0].keys.contains(Keys::FORWARD));
        assert!((a[3].yaw_delta_rad - std::f32::consts::FRAC_PI_2).abs() < 1e-6);
        assert_eq!(a[4], Action::IDLE);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, needle) in [
            ("{}\n{\"keys\": \"forwad\"}\n", 2, "forwad"),
            ("{}\n{}\nnot json\n", 3, "expected"),
            ("{\"ticks\": 0}\n", 1, "ticks"),
            ("{}\n{\"yaw_deg\": 400}\n", 2, "yaw"),
            ("{\"speed\": 3}\n", 1, "speed"),
            ("{\"ticks\": -4}\n", 1, "ticks"),
        ] {
            let e = parse(text, "s.jsonl").unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("s.jsonl:{line}:")), "{msg}");
            assert!(msg.contains(needle), "{msg}");
        }
    }

    #[test]
    fn write_parse_round_trip() {
        let actions = vec![
            Action::keys(Keys::FORWARD),
            Action::keys(Keys::FORWARD),
            Action::keys(Keys::JUMP | Keys::LEFT).with_look(0.25, -0.125),
            Action::IDLE,
        ];
        let text = to_string(&actions);
        assert_eq!(text.lines().count(), 3);
        let back = parse(&text, "x").expect("round trip");
        assert_eq!(back.len(), actions.len());
        for (a, b) in actions.iter().zip(&back) {
            assert_eq!(a.keys, b.keys);
            assert!((a.yaw_delta_rad - b.yaw_delta_rad).abs() < 1e-6);
            assert!((a.pitch_delta_rad - b.pitch_delta_rad).abs() < 1e-6);
        }
    }
}
