//! One tick of player input.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The movement and button keys held during one tick, as a compact bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Keys(u8);

impl Keys {
    /// Walk forward (W / up arrow / left stick up).
    pub const FORWARD: Keys = Keys(1);
    /// Walk backward (S).
    pub const BACK: Keys = Keys(1 << 1);
    /// Strafe left (A).
    pub const LEFT: Keys = Keys(1 << 2);
    /// Strafe right (D).
    pub const RIGHT: Keys = Keys(1 << 3);
    /// Jump (space).
    pub const JUMP: Keys = Keys(1 << 4);
    /// Sprint (shift).
    pub const SPRINT: Keys = Keys(1 << 5);
    /// Interact (E / click).
    pub const INTERACT: Keys = Keys(1 << 6);

    /// No key held.
    pub const NONE: Keys = Keys(0);

    /// Every key with its name, in bit order. The names are the ones action scripts use.
    pub const NAMED: [(&'static str, Keys); 7] = [
        ("forward", Keys::FORWARD),
        ("back", Keys::BACK),
        ("left", Keys::LEFT),
        ("right", Keys::RIGHT),
        ("jump", Keys::JUMP),
        ("sprint", Keys::SPRINT),
        ("interact", Keys::INTERACT),
    ];

    /// The raw bits (bit `i` is `NAMED[i]`).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Keys from raw bits; bits beyond the known keys are dropped.
    pub const fn from_bits_truncate(bits: u8) -> Keys {
        Keys(bits & 0x7f)
    }

    /// Whether every key in `other` is held.
    pub const fn contains(self, other: Keys) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Holds or releases `other`.
    pub fn set(&mut self, other: Keys, held: bool) {
        if held {
            self.0 |= other.0;
        } else {
            self.0 &= !other.0;
        }
    }

    /// Whether no key is held.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses space- or `+`-separated key names (`"forward sprint"`, `"forward+jump"`).
    pub fn parse(text: &str) -> Result<Keys, String> {
        let mut keys = Keys::NONE;
        for word in text.split(|c: char| c == '+' || c == ',' || c.is_whitespace()) {
            if word.is_empty() {
                continue;
            }
            let Some((_, k)) = Keys::NAMED
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(word))
            else {
                let names: Vec<&str> = Keys::NAMED.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown key `{word}`, expected any of: {}",
                    names.join(", ")
                ));
            };
            keys |= *k;
        }
        Ok(keys)
    }
}

impl std::ops::BitOr for Keys {
    type Output = Keys;
    fn bitor(self, rhs: Keys) -> Keys {
        Keys(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Keys {
    fn bitor_assign(&mut self, rhs: Keys) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, k) in Keys::NAMED {
            if self.contains(k) {
                if !first {
                    f.write_str(" ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl Serialize for Keys {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
        let text = String::deserialize(d)?;
        Keys::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One tick of input: the keys held and how far the view turned during the tick.
///
/// Serialised (JSON) as `{"keys": "forward sprint", "yaw_deg": 2.5, "pitch_deg": 0.0}`, the same
/// fields an action-script line uses; inside, angles are radians.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "ActionRepr", into = "ActionRepr")]
pub struct Action {
    /// Keys held.
    pub keys: Keys,
    /// Turn during this tick; positive turns right (clockwise seen from above).
    pub yaw_delta_rad: f32,
    /// Look up (positive) or down during this tick.
    pub pitch_delta_rad: f32,
}

impl Action {
    /// Largest look delta accepted in one tick (half a turn).
    pub const MAX_LOOK_DELTA_RAD: f32 = std::f32::consts::PI;

    /// Length of [`Action::to_features`].
    pub const FEATURES: usize = 9;

    /// Look-delta scale used by [`Action::to_features`]: 0.2 rad (≈ 11.5°) per tick maps to 1.0.
    pub const LOOK_FEATURE_SCALE_RAD: f32 = 0.2;

    /// No input at all.
    pub const IDLE: Action = Action {
        keys: Keys::NONE,
        yaw_delta_rad: 0.0,
        pitch_delta_rad: 0.0,
    };

    /// An action holding `keys` without looking around.
    pub const fn keys(keys: Keys) -> Action {
        Action {
            keys,
            yaw_delta_rad: 0.0,
            pitch_delta_rad: 0.0,
        }
    }

    /// This action with a look delta.
    pub const fn with_look(mut self, yaw_delta_rad: f32, pitch_delta_rad: f32) -> Action {
        self.yaw_delta_rad = yaw_delta_rad;
        self.pitch_delta_rad = pitch_delta_rad;
        self
    }

    /// A fixed-length numeric encoding for networks: 7 key bits (0/1) then yaw and pitch deltas
    /// divided by [`Action::LOOK_FEATURE_SCALE_RAD`].
    pub fn to_features(&self) -> [f32; Action::FEATURES] {
        let mut f = [0.0; Action::FEATURES];
        for (i, (_, k)) in Keys::NAMED.iter().enumerate() {
            f[i] = f32::from(u8::from(self.keys.contains(*k)));
        }
        f[7] = self.yaw_delta_rad / Action::LOOK_FEATURE_SCALE_RAD;
        f[8] = self.pitch_delta_rad / Action::LOOK_FEATURE_SCALE_RAD;
        f
    }

    /// Checks that the look deltas are finite and within [`Action::MAX_LOOK_DELTA_RAD`].
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("yaw", self.yaw_delta_rad), ("pitch", self.pitch_delta_rad)] {
            if !v.is_finite() || v.abs() > Action::MAX_LOOK_DELTA_RAD {
                return Err(format!(
                    "{name} delta {:.3}° is not a finite angle within ±180° per tick",
                    v.to_degrees()
                ));
            }
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionRepr {
    #[serde(default)]
    keys: Keys,
    #[serde(default)]
    yaw_deg: f32,
    #[serde(default)]
    pitch_deg: f32,
}

impl From<ActionRepr> for Action {
    fn from(r: ActionRepr) -> Action {
        Action {
            keys: r.keys,
            yaw_delta_rad: r.yaw_deg.to_radians(),
            pitch_delta_rad: r.pitch_deg.to_radians(),
        }
    }
}

impl From<Action> for ActionRepr {
    fn from(a: Action) -> ActionRepr {
        ActionRepr {
            keys: a.keys,
            yaw_deg: a.yaw_delta_rad.to_degrees(),
            pitch_deg: a.pitch_delta_rad.to_degrees(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_display_round_trip() {
        let k = Keys::parse("forward+sprint jump").expect("valid keys");
        assert!(k.contains(Keys::FORWARD) && k.contains(Keys::SPRINT) && k.contains(Keys::JUMP));
        assert!(!k.contains(Keys::BACK));
        assert_eq!(Keys::parse(&k.to_string()), Ok(k));
        assert!(Keys::parse("forwad").unwrap_err().contains("forwad"));
    }

    #[test]
    fn action_json_round_trip() {
        let a = Action::keys(Keys::FORWARD | Keys::JUMP).with_look(0.1, -0.05);
        let json = serde_json::to_string(&a).expect("serialise");
        let b: Action = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(a.keys, b.keys);
        assert!((a.yaw_delta_rad - b.yaw_delta_rad).abs() < 1e-6);
        assert!(serde_json::from_str::<Action>(r#"{"kyes":"forward"}"#).is_err());
    }

    #[test]
    fn features_encode_keys_and_look() {
        let f = Action::keys(Keys::BACK | Keys::INTERACT)
            .with_look(0.2, 0.0)
            .to_features();
        assert_eq!(f[..7], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert!((f[7] - 1.0).abs() < 1e-6);
    }
}
