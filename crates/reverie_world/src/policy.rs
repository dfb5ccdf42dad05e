//! Exploration policies that drive the walker to make datasets. They read the oracle world (they
//! are data generators, not players) and emit [`Action`]s.

use std::f32::consts::PI;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use glam::Vec3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reverie_core::pose::wrap_angle;
use reverie_core::{Action, Keys, TICK_HZ};

use crate::physics::Player;
use crate::world::World;

/// Which policy, as written on the command line.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyKind {
    /// `random-walk`: walking with momentum, smooth turns, sprints, jumps, pauses.
    RandomWalk,
    /// `wall-follow`: walk with a wall (or trees, cliffs) on the right.
    WallFollow,
    /// `look-around`: mostly stand and sweep the view, with short walks.
    LookAround,
    /// `loop-and-return:SECONDS`: random-walk out for SECONDS, walk the same path back to the start
    /// position, turn to the start heading and pitch, then stand.
    LoopAndReturn {
        /// Seconds out.
        out_secs: f32,
    },
    /// `mixed`: random-walk, wall-follow or look-around, chosen per episode.
    Mixed,
    /// `script:PATH`: replay a JSONL action script (then stand).
    Script {
        /// The script file.
        path: String,
        /// Its actions.
        actions: Arc<Vec<Action>>,
    },
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyKind::RandomWalk => f.write_str("random-walk"),
            PolicyKind::WallFollow => f.write_str("wall-follow"),
            PolicyKind::LookAround => f.write_str("look-around"),
            PolicyKind::LoopAndReturn { out_secs } => write!(f, "loop-and-return:{out_secs}"),
            PolicyKind::Mixed => f.write_str("mixed"),
            PolicyKind::Script { path, .. } => write!(f, "script:{path}"),
        }
    }
}

impl FromStr for PolicyKind {
    type Err = String;
    /// Parses every kind but `script:` (which needs the file read: see [`PolicyKind::parse_with_scripts`]).
    fn from_str(s: &str) -> Result<PolicyKind, String> {
        let expected = "expected random-walk, wall-follow, look-around, loop-and-return:SECONDS, mixed or script:PATH";
        match s {
            "random-walk" => Ok(PolicyKind::RandomWalk),
            "wall-follow" => Ok(PolicyKind::WallFollow),
            "look-around" => Ok(PolicyKind::LookAround),
            "mixed" => Ok(PolicyKind::Mixed),
            _ => {
                if let Some(secs) = s.strip_prefix("loop-and-return:") {
                    let out_secs: f32 = secs.trim_end_matches('s').parse().map_err(|_| {
                        format!("`{s}`: SECONDS must be a number, e.g. loop-and-return:60")
                    })?;
                    if !(out_secs.is_finite() && (0.5..=3600.0).contains(&out_secs)) {
                        return Err(format!("`{s}`: SECONDS must be between 0.5 and 3600"));
                    }
                    return Ok(PolicyKind::LoopAndReturn { out_secs });
                }
                Err(format!("unknown policy `{s}`: {expected}"))
            }
        }
    }
}

impl PolicyKind {
    /// Parses a policy, reading `script:PATH` files (errors name the file and line).
    pub fn parse_with_scripts(s: &str) -> Result<PolicyKind, String> {
        if let Some(path) = s.strip_prefix("script:") {
            let actions = reverie_core::script::load(std::path::Path::new(path))
                .map_err(|e| e.to_string())?;
            return Ok(PolicyKind::Script {
                path: path.to_string(),
                actions: Arc::new(actions),
            });
        }
        s.parse()
    }

    /// The fewest ticks an episode needs for this policy to finish what it does.
    pub fn min_steps(&self) -> usize {
        match self {
            // The way back retraces the way out, but climbing, detours and the final turn take
            // longer: half as long again, and 10 s, of slack.
            PolicyKind::LoopAndReturn { out_secs } => {
                (2.5 * out_secs * TICK_HZ as f32) as usize + 10 * TICK_HZ as usize
            }
            _ => 1,
        }
    }

    /// A fresh policy for one episode that acts on the walker alone, never on the world (the
    /// same policy and random stream as [`PolicyKind::build`] with this seed), or `None` for the
    /// kinds that look at the world (wall following, looking around, mixed). This is what may
    /// drive a generated world, where the walker is the model's own (DESIGN.md's honesty rule).
    pub fn build_blind(&self, seed: u64) -> Option<Box<dyn BlindPolicy>> {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        match self {
            PolicyKind::RandomWalk => Some(Box::new(RandomWalk::new(rng))),
            PolicyKind::LoopAndReturn { out_secs } => Some(Box::new(LoopAndReturn::new(
                rng,
                (out_secs * TICK_HZ as f32).round() as u64,
            ))),
            PolicyKind::Script { actions, .. } => Some(Box::new(Script {
                actions: actions.clone(),
            })),
            PolicyKind::WallFollow | PolicyKind::LookAround | PolicyKind::Mixed => None,
        }
    }

    /// A fresh policy for one episode.
    pub fn build(&self, seed: u64) -> Box<dyn Policy> {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        match self {
            PolicyKind::RandomWalk => Box::new(RandomWalk::new(rng)),
            PolicyKind::WallFollow => Box::new(WallFollow { rng }),
            PolicyKind::LookAround => Box::new(LookAround {
                rng,
                timer: 0,
                yaw_rate: 0.0,
                pitch_target: 0.0,
                walking: false,
            }),
            PolicyKind::LoopAndReturn { out_secs } => Box::new(LoopAndReturn::new(
                rng,
                (out_secs * TICK_HZ as f32).round() as u64,
            )),
            PolicyKind::Mixed => match seed % 3 {
                0 => PolicyKind::RandomWalk.build(seed / 3),
                1 => PolicyKind::WallFollow.build(seed / 3),
                _ => PolicyKind::LookAround.build(seed / 3),
            },
            PolicyKind::Script { actions, .. } => Box::new(Script {
                actions: actions.clone(),
            }),
        }
    }
}

/// Something that picks each tick's action.
pub trait Policy: Send {
    /// The action for `tick` (≥ 1), seeing the player and the world.
    fn act(&mut self, world: &World, player: &Player, tick: u64) -> Action;
    /// A summary for the episode's metadata (e.g. when a loop returned).
    fn report(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A [`Policy`] that needs only the walker's own state — where it stands and looks, whether it
/// is on the ground and whether its last move was blocked — and never the world.
pub trait BlindPolicy: Policy {
    /// The action for `tick` (≥ 1), seeing only the player.
    fn act_blind(&mut self, player: &Player, tick: u64) -> Action;
}

fn normal(rng: &mut ChaCha8Rng) -> f32 {
    // Box–Muller.
    let u1: f32 = rng.random::<f32>().max(1e-7);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Random walk with momentum.
#[derive(Debug)]
pub struct RandomWalk {
    rng: ChaCha8Rng,
    timer: u32,
    keys: Keys,
    yaw_rate: f32,
    pitch_target: f32,
}

impl RandomWalk {
    fn new(rng: ChaCha8Rng) -> RandomWalk {
        RandomWalk {
            rng,
            timer: 0,
            keys: Keys::FORWARD,
            yaw_rate: 0.0,
            pitch_target: 0.0,
        }
    }
}

impl Policy for RandomWalk {
    fn act(&mut self, _world: &World, player: &Player, tick: u64) -> Action {
        self.act_blind(player, tick)
    }
}

impl BlindPolicy for RandomWalk {
    fn act_blind(&mut self, player: &Player, _tick: u64) -> Action {
        let r = &mut self.rng;
        if self.timer == 0 {
            let p: f32 = r.random();
            self.keys = if p < 0.5 {
                Keys::FORWARD
            } else if p < 0.66 {
                Keys::FORWARD | Keys::SPRINT
            } else if p < 0.76 {
                Keys::FORWARD
                    | if r.random::<bool>() {
                        Keys::LEFT
                    } else {
                        Keys::RIGHT
                    }
            } else if p < 0.84 {
                if r.random::<bool>() {
                    Keys::LEFT
                } else {
                    Keys::RIGHT
                }
            } else if p < 0.89 {
                Keys::BACK
            } else {
                Keys::NONE
            };
            self.timer = r.random_range(12..84);
            if r.random::<f32>() < 0.3 {
                self.pitch_target = r.random_range(-0.35..0.3);
            }
        }
        self.timer -= 1;
        self.yaw_rate = 0.9 * self.yaw_rate + 0.1 * 0.12 * normal(r);
        if player.blocked {
            self.yaw_rate += if r.random::<bool>() { 0.08 } else { -0.08 };
        }
        let mut keys = self.keys;
        if (player.blocked && r.random::<f32>() < 0.3) || r.random::<f32>() < 0.008 {
            keys |= Keys::JUMP;
        }
        let pitch_delta = ((self.pitch_target - player.pitch_rad) * 0.08).clamp(-0.05, 0.05);
        Action {
            keys,
            yaw_delta_rad: self.yaw_rate.clamp(-0.3, 0.3),
            pitch_delta_rad: pitch_delta,
        }
    }
}

/// Follows walls, cliffs and tree lines, keeping them on the right.
#[derive(Debug)]
pub struct WallFollow {
    rng: ChaCha8Rng,
}

impl Policy for WallFollow {
    fn act(&mut self, world: &World, player: &Player, _tick: u64) -> Action {
        let pose = player.pose();
        let head = player.feet + Vec3::new(0.0, 1.2, 0.0);
        let solid =
            |p: Vec3| world.is_solid(p.x.floor() as i32, p.y.floor() as i32, p.z.floor() as i32);
        let front = solid(head + pose.heading() * 0.9) || player.blocked;
        let right = solid(head + pose.right() * 1.2)
            || solid(head + (pose.right() + pose.heading()).normalize() * 1.3);
        let jitter = 0.01 * normal(&mut self.rng);
        let pitch = (-player.pitch_rad * 0.1).clamp(-0.05, 0.05);
        if front {
            Action {
                keys: Keys::NONE,
                yaw_delta_rad: -0.26,
                pitch_delta_rad: pitch,
            }
        } else if !right {
            Action {
                keys: Keys::FORWARD,
                yaw_delta_rad: 0.1 + jitter,
                pitch_delta_rad: pitch,
            }
        } else {
            Action {
                keys: Keys::FORWARD,
                yaw_delta_rad: jitter,
                pitch_delta_rad: pitch,
            }
        }
    }
}

/// Stands and looks around, walking a little now and then.
#[derive(Debug)]
pub struct LookAround {
    rng: ChaCha8Rng,
    timer: u32,
    yaw_rate: f32,
    pitch_target: f32,
    walking: bool,
}

impl Policy for LookAround {
    fn act(&mut self, _world: &World, player: &Player, _tick: u64) -> Action {
        let r = &mut self.rng;
        if self.timer == 0 {
            self.timer = r.random_range(24..72);
            self.walking = r.random::<f32>() < 0.2;
            self.yaw_rate = if r.random::<f32>() < 0.15 {
                0.0
            } else {
                r.random_range(0.04..0.12) * if r.random::<bool>() { 1.0 } else { -1.0 }
            };
            self.pitch_target = r.random_range(-0.6..0.5);
        }
        self.timer -= 1;
        let pitch_delta = ((self.pitch_target - player.pitch_rad) * 0.1).clamp(-0.06, 0.06);
        let keys = if self.walking {
            Keys::FORWARD
        } else {
            Keys::NONE
        };
        Action {
            keys,
            yaw_delta_rad: if self.walking {
                self.yaw_rate * 0.3
            } else {
                self.yaw_rate
            },
            pitch_delta_rad: pitch_delta,
        }
    }
}

/// Out and back: a random walk for `out_ticks`, then back along the recorded path to the start
/// position, then a turn to the start heading and pitch.
#[derive(Debug)]
pub struct LoopAndReturn {
    out: RandomWalk,
    out_ticks: u64,
    crumbs: Vec<Vec3>,
    start: Option<(Vec3, f32, f32)>,
    stuck: u32,
    last_dist: f32,
    returned_tick: Option<u64>,
    return_error: f32,
}

impl LoopAndReturn {
    fn new(rng: ChaCha8Rng, out_ticks: u64) -> LoopAndReturn {
        LoopAndReturn {
            out: RandomWalk::new(rng),
            out_ticks,
            crumbs: Vec::new(),
            start: None,
            stuck: 0,
            last_dist: f32::MAX,
            returned_tick: None,
            return_error: f32::NAN,
        }
    }

    /// Turn towards `target`, walking when roughly facing it.
    fn steer(&mut self, player: &Player, target: Vec3) -> Action {
        let to = target - player.feet;
        let desired = to.x.atan2(-to.z);
        let turn = wrap_angle(desired - player.yaw_rad);
        let yaw = turn.clamp(-0.35, 0.35);
        let mut keys = if turn.abs() < 0.6 && to.length() > 0.12 {
            Keys::FORWARD
        } else {
            Keys::NONE
        };
        // Jump, from the ground, when a walk meets something: blocked, or no nearer the target
        // for half a second of walking (a step the walker does not notice as a block). Never
        // while turning on the spot, where no progress is expected, nor in the air.
        let walking = keys.contains(Keys::FORWARD);
        if player.on_ground
            && (player.blocked
                || (walking && self.stuck > 12)
                || (to.y > 0.5 && Vec3::new(to.x, 0.0, to.z).length() < 1.0))
        {
            keys |= Keys::JUMP;
        }
        Action {
            keys,
            yaw_delta_rad: yaw,
            pitch_delta_rad: (-player.pitch_rad * 0.15).clamp(-0.05, 0.05),
        }
    }
}

impl Policy for LoopAndReturn {
    fn act(&mut self, _world: &World, player: &Player, tick: u64) -> Action {
        self.act_blind(player, tick)
    }

    fn report(&self) -> serde_json::Value {
        serde_json::json!({
            "out_ticks": self.out_ticks,
            "returned_tick": self.returned_tick,
            "return_error_blocks": if self.return_error.is_finite() { serde_json::json!(self.return_error) } else { serde_json::Value::Null },
        })
    }
}

impl BlindPolicy for LoopAndReturn {
    fn act_blind(&mut self, player: &Player, tick: u64) -> Action {
        let (start_feet, start_yaw, start_pitch) =
            *self
                .start
                .get_or_insert((player.feet, player.yaw_rad, player.pitch_rad));
        if tick <= self.out_ticks {
            self.crumbs.push(player.feet);
            return self.out.act_blind(player, tick);
        }
        if self.returned_tick.is_some() {
            return Action::IDLE;
        }
        // Drop the crumbs already reached.
        while let Some(&c) = self.crumbs.last() {
            let flat = Vec3::new(c.x - player.feet.x, 0.0, c.z - player.feet.z).length();
            if flat < 0.6 && self.crumbs.len() > 1 {
                self.crumbs.pop();
                // Progress is measured towards one target: a new crumb starts afresh.
                self.stuck = 0;
                self.last_dist = f32::MAX;
            } else {
                break;
            }
        }
        let target = self.crumbs.last().copied().unwrap_or(start_feet);
        let dist = Vec3::new(target.x - player.feet.x, 0.0, target.z - player.feet.z).length();
        self.stuck = if dist >= self.last_dist - 0.01 {
            self.stuck + 1
        } else {
            0
        };
        self.last_dist = dist;
        // Back over the start (its height is not the walker's to choose: in a generated world
        // it is what the model's ego-motion made of the walk; the return error says how far).
        if self.crumbs.len() <= 1 && dist < 0.2 && player.on_ground {
            // At the start: turn to the start view, then stand.
            let yaw = wrap_angle(start_yaw - player.yaw_rad).clamp(-0.3, 0.3);
            let pitch = (start_pitch - player.pitch_rad).clamp(-0.3, 0.3);
            if yaw.abs() < 1e-6 && pitch.abs() < 1e-6 {
                self.returned_tick = Some(tick);
                self.return_error = Vec3::new(
                    start_feet.x - player.feet.x,
                    start_feet.y - player.feet.y,
                    start_feet.z - player.feet.z,
                )
                .length();
                return Action::IDLE;
            }
            return Action::IDLE.with_look(yaw, pitch);
        }
        if self.stuck > 72 && self.crumbs.len() > 1 {
            // Unreachable crumb (e.g. a ledge we fell from): skip it.
            self.crumbs.pop();
            self.stuck = 0;
        }
        self.steer(player, target)
    }
}

/// Replays a fixed action list, then stands.
#[derive(Debug)]
pub struct Script {
    actions: Arc<Vec<Action>>,
}

impl Policy for Script {
    fn act(&mut self, _world: &World, player: &Player, tick: u64) -> Action {
        self.act_blind(player, tick)
    }
}

impl BlindPolicy for Script {
    fn act_blind(&mut self, _player: &Player, tick: u64) -> Action {
        // Tick 0 is the prompt frame; the script's first action drives tick 1.
        usize::try_from(tick)
            .ok()
            .and_then(|t| self.actions.get(t.wrapping_sub(1)))
            .copied()
            .unwrap_or(Action::IDLE)
    }
}
