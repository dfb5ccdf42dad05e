//! `reverie tune-motion`: tunes a trained checkpoint's ego-motion head alone on the sessions it
//! drives (DAgger, Ross et al. 2011).
//!
//! Training teaches the head on at most `optim.seq_len` self-forced ticks, with the frame
//! network's guides warped along the true path. A session runs for minutes on its own frames
//! and its own poses: its state and its depth drift away from anything the head saw, and the
//! head stops where the truth walks on (session 17: in up to 31 % of the ticks of a 10 s walk)
//! and walks on where the truth stops. Each round here plays the oracle's actions from the
//! prompt through a runtime session ([`reverie_runtime::Engine`], exactly as `reverie eval`
//! and the app run it), stores what the head read at every tick ([`Engine::motion_inputs`])
//! beside the oracle's true motion of that tick, and fits the head on all rounds so far. The
//! frame network is not touched; only the tensors of [`WorldModel::MOTION_HEAD_TENSORS`]
//! change.
//!
//! This is training: it reads the oracle freely. Evaluation seeds (≥ 1,000,000) are refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use glam::Vec3;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use reverie_core::{Action, EgoMotion, Intrinsics, Pose, TICK_SECS, seed};
use reverie_model::{MotionInputs, WorldModel, checkpoint};
use reverie_runtime::{Engine, EngineOptions, Lift, Prompt};
use reverie_world::physics::{Body, Player};
use reverie_world::policy::PolicyKind;
use reverie_world::{World, WorldSpec};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::eval::{EndError, OracleEpisode, record, stopped_at_wall, wall_walk};
use crate::loss;
use crate::optim::{AdamW, NonFinite};
use crate::plot::{Series, line_chart};

/// The current `schema_version` of [`TuneConfig`].
pub const TUNE_SCHEMA_VERSION: u32 = 1;

/// World seeds from here on are evaluation seeds: never tuned on.
pub const EVAL_SEEDS_FROM: u64 = 1_000_000;

/// `tune-motion.toml`: what to tune the motion head on and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneConfig {
    /// [`TUNE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Seed of the episodes' spawn points and policies and of the minibatch order.
    pub seed: u64,
    /// World files (relative paths are taken from the working directory).
    pub worlds: Vec<PathBuf>,
    /// World seeds of each world (all below [`EVAL_SEEDS_FROM`]).
    pub world_seeds: Vec<u64>,
    /// Episodes per world and world seed in each round.
    pub episodes: usize,
    /// Ticks per episode (the prompt is tick 0).
    pub steps: usize,
    /// Walks straight at a wall per world and world seed in each round (`reverie eval`'s wall
    /// test, [`crate::eval::wall_walk`], from other spawns): the random walk rarely meets one.
    #[serde(default)]
    pub wall_episodes: usize,
    /// How many times each tick of a wall walk counts in the fit (1, the default: as any
    /// tick). The random walk's ticks outnumber the wall walks' many times over, and a tuning
    /// that moves the head's habits there can lose a wall it used to stop at.
    #[serde(default = "one_tick")]
    pub wall_weight: usize,
    /// The oracle's policy (`random-walk`, `mixed`, …).
    pub policy: String,
    /// Rounds of play-then-fit; one more round of play measures the last fit. 0: no fit — the
    /// checkpoint's head played once and saved as it is, with the switches this config turns
    /// on (`vertical_momentum`).
    pub rounds: usize,
    /// Passes over all ticks stored so far, per round.
    pub epochs: usize,
    /// Ticks per update.
    pub batch: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Gradient clipping (global norm; 0 = none).
    pub grad_clip: f64,
    /// Weight of ticks with a true rise of at least [`loss::RISE_M`] (see `loss.motion_rise`).
    #[serde(default = "one")]
    pub motion_rise: f64,
    /// Whose motion each stored tick is taught: the oracle's own at that tick (`truth`, the
    /// default) or the oracle's physics stepped from the session's pose (`session`).
    #[serde(default)]
    pub labels: MotionLabels,
    /// Which round's head `final/` holds: the last fit's (`last`, the default) or the one that
    /// stopped at the largest share of its round's wall walks (`walls`).
    #[serde(default)]
    pub keep: KeepHead,
    /// Tune (and save) the head with [`reverie_model::ModelConfig::vertical_momentum`] on: up
    /// in the air after a rise, the camera flies the arc. Each stored tick is in the air or
    /// not as its teacher was (the labels' own rises and falls), and a session as it is.
    /// `false` (the default): the model as saved.
    #[serde(default)]
    pub vertical_momentum: bool,
}

/// Which round's head a tuning keeps ([`TuneConfig::keep`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepHead {
    /// The last fit's.
    #[default]
    Last,
    /// The head whose round of play stopped at the largest share of its wall walks (ties: the
    /// smaller translation error), the checkpoint's own head (round 0) included. DAgger's
    /// rounds swing: a fit that teaches the random walks' motion better can lose walls the head
    /// before it stopped at (session 30: 8 of 10 wall walks stopped in round 2's play, 2 of 8
    /// in round 3's). Measured on the training seeds' play, never on evaluation seeds.
    Walls,
}

/// The round [`KeepHead::Walls`] keeps among `play` (one entry per round, in order).
pub fn best_wall_round(play: &[RoundPlay]) -> usize {
    let share = |p: &RoundPlay| {
        if p.walls == 0 {
            0.0
        } else {
            p.walls_stopped as f64 / p.walls as f64
        }
    };
    let mut best = 0;
    for (i, p) in play.iter().enumerate().skip(1) {
        let b = &play[best];
        let (sp, sb) = (share(p), share(b));
        if sp > sb || (sp == sb && p.translation_error_pct < b.translation_error_pct) {
            best = i;
        }
    }
    best
}

/// Whose motion a stored tick is taught ([`TuneConfig::labels`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MotionLabels {
    /// The oracle's motion along its own path at that tick, wherever the session is.
    #[default]
    Truth,
    /// DAgger's expert in the learner's state: the oracle's walker put where the session's
    /// camera is and stepped under the tick's action in the true world (a step the session
    /// stands at is climbed there, ground below it is fallen to, a trunk it walks into stops
    /// it). Where the session's body would stand inside a block, and on the wall walks (where
    /// the oracle's wall stops the walker is taught in the oracle's own time: from a session
    /// short of a wall it draws too near, the expert would walk on), the truth's motion.
    Session,
    /// The truth's motion on the ground plane and its look, [`MotionLabels::Session`]'s rise
    /// or fall: the head learns where walls stop it from the oracle's own walk, which the
    /// session's drawing of a wall (nearer or farther than the true one) does not shift, and
    /// the ground under the session's own feet from the expert.
    #[serde(rename = "session-vertical")]
    SessionVertical,
    /// [`MotionLabels::Session`]'s motion on the ground plane, the truth's rise or fall and
    /// look. Session 30: every head tuned with the expert's vertical motion (`session`,
    /// `session-vertical`) sank in long sessions (meadow's 10-minute random walk ended
    /// 2 170–2 500 m below its start); this keeps the expert's walk (where a trunk stops the
    /// session's own body) and leaves the vertical to the truth.
    #[serde(rename = "session-horizontal")]
    SessionHorizontal,
}

fn one_tick() -> usize {
    1
}

fn one() -> f64 {
    1.0
}

impl TuneConfig {
    /// Reads and checks `path`; errors name the file and the field.
    pub fn load(path: &Path) -> Result<TuneConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::file(path, e))?;
        let cfg: TuneConfig = toml::from_str(&text).map_err(|e| TrainError::file(path, e))?;
        cfg.validate().map_err(|e| TrainError::file(path, e))?;
        Ok(cfg)
    }

    /// Checks every field; the message names the field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.schema_version != TUNE_SCHEMA_VERSION {
            return Err(format!(
                "schema_version: {} is not {TUNE_SCHEMA_VERSION}",
                self.schema_version
            ));
        }
        if self.worlds.is_empty() {
            return Err("worlds: at least one world file is needed".into());
        }
        if self.world_seeds.is_empty() {
            return Err("world_seeds: at least one seed is needed".into());
        }
        if let Some(s) = self.world_seeds.iter().find(|&&s| s >= EVAL_SEEDS_FROM) {
            return Err(format!(
                "world_seeds: {s} is an evaluation seed (≥ {EVAL_SEEDS_FROM}); tune on others"
            ));
        }
        for (field, v, lo, hi) in [
            ("episodes", self.episodes, 0, 10_000),
            ("wall_episodes", self.wall_episodes, 0, 10_000),
            ("wall_weight", self.wall_weight, 1, 100),
            ("steps", self.steps, 2, 100_000),
            ("rounds", self.rounds, 0, 100),
            ("epochs", self.epochs, 1, 10_000),
            ("batch", self.batch, 1, 1 << 20),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(format!("{field}: {v} is not within {lo}..={hi}"));
            }
        }
        for (field, v) in [
            ("lr", self.lr),
            ("weight_decay", self.weight_decay),
            ("grad_clip", self.grad_clip),
            ("motion_rise", self.motion_rise),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{field}: {v} must be a finite number ≥ 0"));
            }
        }
        if self.episodes + self.wall_episodes == 0 {
            return Err("episodes: no episodes and no wall_episodes: nothing to play".into());
        }
        if self.lr == 0.0 {
            return Err("lr: must be above 0".into());
        }
        self.policy_kind().map(|_| ())
    }

    /// The parsed [`TuneConfig::policy`].
    pub fn policy_kind(&self) -> std::result::Result<PolicyKind, String> {
        let p: PolicyKind = self
            .policy
            .parse()
            .map_err(|e| format!("policy: `{}`: {e}", self.policy))?;
        if matches!(p, PolicyKind::Script { .. }) {
            return Err(format!(
                "policy: `{}`: a script cannot be tuned on",
                self.policy
            ));
        }
        Ok(p)
    }
}

/// One round's play, measured with the head as it was during that play.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundPlay {
    /// The round (0 = the checkpoint as given).
    pub round: usize,
    /// Episodes of the policy played.
    pub episodes: usize,
    /// Wall walks played (some spawns have no wall in reach).
    pub walls: usize,
    /// Of those, the ones where the session stopped (as `reverie eval`'s wall test says).
    pub walls_stopped: usize,
    /// Ticks stored.
    pub ticks: usize,
    /// The head's motion loss ([`loss::motion_l1`]) on this round's ticks.
    pub motion_l1: f64,
    /// Mean over the policy's episodes of the end-of-episode position error, % of the distance the oracle
    /// walked (`reverie eval`'s control measure).
    pub translation_error_pct: f64,
    /// The same, on the ground plane.
    pub horizontal_error_pct: f64,
    /// Mean absolute height error at the episode's end (m).
    pub height_error_m: f64,
    /// Share of ticks where the oracle walked (at least half the intended walk) and the
    /// session did not (less than a quarter of it).
    pub stopped_only_in_session: f64,
    /// Share of ticks where the session walked (at least half) and the oracle did not (less
    /// than a quarter).
    pub stopped_only_in_truth: f64,
    /// With session labels: share of the stored ticks taught the truth's motion because the
    /// session's body stood inside a block.
    #[serde(default)]
    pub labels_from_truth: f64,
}

/// One epoch of fitting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochFit {
    /// The round it belongs to.
    pub round: usize,
    /// The epoch within the round.
    pub epoch: usize,
    /// Mean minibatch loss.
    pub motion_l1: f64,
}

/// What `reverie tune-motion` did (written as `tune.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TuneReport {
    /// The checkpoint tuned.
    pub from: PathBuf,
    /// The configuration.
    pub config: Option<TuneConfig>,
    /// Each round's play (`rounds + 1` of them; the last measures the final head).
    pub play: Vec<RoundPlay>,
    /// Each epoch's fit.
    pub fit: Vec<EpochFit>,
    /// Wall time (s).
    pub wall_secs: f64,
    /// The tuned checkpoint.
    pub checkpoint: PathBuf,
    /// The round whose head the checkpoint holds ([`TuneConfig::keep`]; `rounds` = the last
    /// fit's).
    #[serde(default)]
    pub kept_round: usize,
}

/// Progress of a tuning run.
pub trait TuneObserver {
    /// `done` of `total` episodes of a round's play.
    fn played(&self, round: usize, done: usize, total: usize);
    /// A line worth showing.
    fn message(&self, text: &str);
}

/// The ticks stored so far: the head's inputs and the oracle's motion (`[right, up, forward,
/// yaw, pitch]` per tick).
#[derive(Default)]
struct Ticks {
    inputs: Vec<MotionInputs>,
    truth: Vec<f32>,
    /// Per tick: whether it is a wall walk's.
    wall: Vec<bool>,
}

/// Counts over one round's play.
#[derive(Default)]
struct Tally {
    walking: usize,
    stopped_session: usize,
    stopped_truth: usize,
    labels_from_truth: usize,
}

/// The oracle's walker put at a session's pose ([`MotionLabels::Session`]). Its vertical speed
/// is the session's own where the two agree: the speed the walker's physics left it with, cut
/// to what the session last moved (a fall the session did not follow starts again from rest; a
/// step up, which physics takes without speed, gives none).
#[derive(Debug)]
pub struct Expert {
    world: World,
    velocity_y: f32,
    last: Option<Pose>,
    /// Which part of its motion [`Expert::label`] takes (never [`MotionLabels::Truth`]).
    labels: MotionLabels,
}

impl Expert {
    /// An expert in `spec`'s world (its generator seed set), standing still.
    pub fn new(spec: &Arc<WorldSpec>) -> Expert {
        Expert {
            world: World::new(spec.clone()),
            velocity_y: 0.0,
            last: None,
            labels: MotionLabels::Session,
        }
    }

    /// The expert for `labels` (None for [`MotionLabels::Truth`]).
    fn for_labels(spec: &Arc<WorldSpec>, labels: MotionLabels) -> Option<Expert> {
        if labels == MotionLabels::Truth {
            return None;
        }
        Some(Expert {
            labels,
            ..Expert::new(spec)
        })
    }

    /// The label of a tick whose true motion is `truth`: [`Expert::motion`], all of it or the
    /// part its [`MotionLabels`] takes, the rest the truth's. None where the expert has none.
    fn label(&mut self, pose: &Pose, action: &Action, truth: EgoMotion) -> Option<EgoMotion> {
        let m = self.motion(pose, action)?;
        Some(match self.labels {
            MotionLabels::Truth => truth,
            MotionLabels::Session => m,
            MotionLabels::SessionVertical => EgoMotion {
                up_m: m.up_m,
                ..truth
            },
            MotionLabels::SessionHorizontal => EgoMotion {
                right_m: m.right_m,
                forward_m: m.forward_m,
                ..truth
            },
        })
    }

    /// Forgets the vertical speed (a new session).
    pub fn reset(&mut self) {
        self.velocity_y = 0.0;
        self.last = None;
    }

    /// The motion of the oracle's physics from the camera pose `pose` under `action`; None
    /// where the body would stand inside a block there.
    pub fn motion(&mut self, pose: &Pose, action: &Action) -> Option<EgoMotion> {
        let body = Body::default();
        let mut p = Player::new(pose.position - Vec3::Y * body.eye_height, pose.yaw_rad);
        p.pitch_rad = pose.pitch_rad;
        self.world.ensure_loaded(p.feet);
        // The session's own vertical speed since the last pose this expert was given.
        let own = self
            .last
            .replace(*pose)
            .map_or(0.0, |l| (pose.position.y - l.position.y) / TICK_SECS);
        let v = self.velocity_y;
        self.velocity_y = if v * own > 0.0 {
            v.signum() * v.abs().min(own.abs())
        } else {
            0.0
        };
        if p.collides(&self.world, p.feet) {
            // Inside a wall, a trunk or the ground (a step the session did not take): the
            // truth's motion, not a push out (session 28: lifting a sunk body onto the block
            // it stands in taught the head to climb, and cost walls).
            self.velocity_y = 0.0;
            return None;
        }
        p.velocity.y = self.velocity_y;
        p.on_ground =
            self.velocity_y <= 0.0 && p.collides(&self.world, p.feet - Vec3::new(0.0, 0.02, 0.0));
        p.step(&self.world, action);
        self.velocity_y = p.velocity.y;
        Some(EgoMotion::between(pose, &p.pose()))
    }
}

/// Plays `ep` from tick `start` (its prompt) through a runtime session, storing what the head
/// read at every tick and the oracle's motion (the truth's, or with `expert` the oracle's
/// physics from the session's pose); returns the session's poses.
fn play_episode(
    model: &WorldModel,
    k: &Intrinsics,
    ep: &OracleEpisode,
    start: usize,
    mut expert: Option<&mut Expert>,
    ticks: &mut Ticks,
    tally: &mut Tally,
) -> Result<Vec<Pose>> {
    let prompt = Prompt {
        rgb: ep.rgb[start].clone(),
        depth_m: Some(ep.depth_m[start].clone()),
        pose: ep.poses[start],
    };
    let mut engine = Engine::new(model, *k, &prompt, EngineOptions::default())
        .map_err(|e| TrainError::Other(e.to_string()))?;
    let mut poses = vec![prompt.pose];
    if let Some(x) = expert.as_deref_mut() {
        x.reset();
    }
    let mc = model.config();
    // Whether the teacher is in the air, and its last motion there, as a session has its own
    // (what a `vertical_momentum` head reads here).
    let (mut in_air, mut lift) = (None, Lift::default());
    let window = EngineOptions::default().fall_window_ticks;
    for t in start + 1..ep.actions.len() {
        let a = &ep.actions[t];
        let inputs = engine
            .motion_inputs_after(a, in_air)
            .map_err(|e| TrainError::Other(e.to_string()))?;
        ticks.inputs.push(inputs.detach());
        let truth = EgoMotion::between(&ep.poses[t - 1], &ep.poses[t]);
        let label = match expert.as_deref_mut() {
            None => truth,
            Some(x) => x
                .label(&poses[poses.len() - 1], a, truth)
                .unwrap_or_else(|| {
                    tally.labels_from_truth += 1;
                    truth
                }),
        };
        ticks.truth.extend(label.to_array());
        lift = lift.after(label.up_m, window);
        in_air = lift.airborne_motion(label.up_m);
        let g = engine
            .step(a)
            .map_err(|e| TrainError::Other(e.to_string()))?;
        let own = EgoMotion::between(&poses[poses.len() - 1], &g.pose);
        poses.push(g.pose);
        let planar = |m: &EgoMotion| m.right_m.hypot(m.forward_m);
        let want = planar(&EgoMotion::intended(a, mc.walk_speed, mc.sprint_speed));
        if want > 1e-4 {
            tally.walking += 1;
            let (o, t) = (planar(&own) / want, planar(&truth) / want);
            tally.stopped_session += usize::from(t >= 0.5 && o < 0.25);
            tally.stopped_truth += usize::from(o >= 0.5 && t < 0.25);
        }
    }
    Ok(poses)
}

/// Plays every episode of one round through runtime sessions; returns the stored ticks and
/// the measures.
fn play_round(
    model: &WorldModel,
    cfg: &TuneConfig,
    worlds: &[WorldSpec],
    k: &Intrinsics,
    round: usize,
    observer: &dyn TuneObserver,
) -> Result<(Ticks, RoundPlay)> {
    let policy = cfg.policy_kind().map_err(TrainError::Other)?;
    let total = worlds.len() * cfg.world_seeds.len() * (cfg.episodes + cfg.wall_episodes);
    let mut ticks = Ticks::default();
    let mut play = RoundPlay {
        round,
        ..RoundPlay::default()
    };
    let mut tally = Tally::default();
    let mut done = 0;
    for (wi, spec) in worlds.iter().enumerate() {
        for &world_seed in &cfg.world_seeds {
            let mut s = spec.clone();
            s.generator.seed = world_seed;
            let s = Arc::new(s);
            let mut expert = Expert::for_labels(&s, cfg.labels);
            for e in 0..cfg.episodes {
                let episode_seed =
                    seed::derive(cfg.seed, &[round as u64, wi as u64, world_seed, e as u64]);
                let ep = record(&s, k, &policy, episode_seed, cfg.steps);
                let poses =
                    play_episode(model, k, &ep, 0, expert.as_mut(), &mut ticks, &mut tally)?;
                ticks.wall.resize(ticks.inputs.len(), false);
                let e = EndError::of(&poses[poses.len() - 1], &ep.poses);
                play.translation_error_pct += e.translation_pct;
                play.horizontal_error_pct += e.horizontal_pct;
                play.height_error_m += e.height_m;
                play.episodes += 1;
                done += 1;
                observer.played(round, done, total);
            }
            for e in 0..cfg.wall_episodes {
                let episode_seed = seed::derive(
                    cfg.seed,
                    &[0x3a11, round as u64, wi as u64, world_seed, e as u64],
                );
                if let Some(walk) = wall_walk(spec, k, world_seed, episode_seed) {
                    let poses = play_episode(
                        model,
                        k,
                        &walk.episode,
                        walk.start,
                        // The wall walk teaches where the oracle's wall stops the walker, in
                        // the oracle's own time: from the session's pose short of a wall it
                        // draws too near, the expert would walk on into the one it draws.
                        None,
                        &mut ticks,
                        &mut tally,
                    )?;
                    ticks.wall.resize(ticks.inputs.len(), true);
                    play.walls += 1;
                    play.walls_stopped += usize::from(stopped_at_wall(&poses));
                }
                done += 1;
                observer.played(round, done, total);
            }
        }
    }
    let n = play.episodes.max(1) as f64;
    play.ticks = ticks.inputs.len();
    play.translation_error_pct /= n;
    play.horizontal_error_pct /= n;
    play.height_error_m /= n;
    play.stopped_only_in_session = tally.stopped_session as f64 / tally.walking.max(1) as f64;
    play.stopped_only_in_truth = tally.stopped_truth as f64 / tally.walking.max(1) as f64;
    play.labels_from_truth = tally.labels_from_truth as f64 / play.ticks.max(1) as f64;
    play.motion_l1 = head_loss(model, &ticks, cfg)?;
    Ok((ticks, play))
}

/// A copy of the head's weights.
fn head_weights(head: &VarMap) -> Result<Vec<(String, Tensor)>> {
    let vars = head
        .data()
        .lock()
        .map_err(|_| TrainError::Other("variable map poisoned".into()))?;
    let mut out = Vec::with_capacity(vars.len());
    for (name, var) in vars.iter() {
        out.push((name.clone(), var.as_tensor().copy()?));
    }
    Ok(out)
}

/// Puts weights taken by [`head_weights`] back.
fn set_head_weights(head: &VarMap, weights: &[(String, Tensor)]) -> Result<()> {
    let vars = head
        .data()
        .lock()
        .map_err(|_| TrainError::Other("variable map poisoned".into()))?;
    for (name, t) in weights {
        let var = vars
            .get(name)
            .ok_or_else(|| TrainError::Other(format!("head tensor {name} is gone")))?;
        var.set(t)?;
    }
    Ok(())
}

/// The ticks of one epoch of fitting, before shuffling: every stored tick once, a wall walk's
/// (`wall[i]`) `wall_weight` times.
fn fit_order(wall: &[bool], wall_weight: usize) -> Vec<usize> {
    wall.iter()
        .enumerate()
        .flat_map(|(i, &w)| std::iter::repeat_n(i, if w { wall_weight } else { 1 }))
        .collect()
}

/// The head's mean motion loss over `ticks` (no gradient).
fn head_loss(model: &WorldModel, ticks: &Ticks, cfg: &TuneConfig) -> Result<f64> {
    let mut sum = 0.0;
    for (chunk, truth) in ticks
        .inputs
        .chunks(cfg.batch)
        .zip(ticks.truth.chunks(cfg.batch * 5))
    {
        let inputs = MotionInputs::cat(chunk)?;
        let l = loss::motion_l1(&model.motion_head(&inputs)?, truth, cfg.motion_rise as f32)?;
        sum += f64::from(l.to_scalar::<f32>()?) * chunk.len() as f64;
    }
    Ok(sum / ticks.inputs.len().max(1) as f64)
}

/// Tunes the motion head of the checkpoint in `from` per `cfg` into `out`: `out/final` (the
/// whole checkpoint, with `train.toml` and `tune.toml` beside the weights), `out/tune.json`
/// ([`TuneReport`]) and `out/tune.png` (the head's loss on each round's play, and per epoch of
/// fitting). `out` must not hold a run unless `overwrite`.
pub fn tune(
    cfg: &TuneConfig,
    from: &Path,
    out: &Path,
    observer: &dyn TuneObserver,
) -> Result<TuneReport> {
    let started = Instant::now();
    let dev = Device::Cpu;
    let worlds: Vec<WorldSpec> = cfg
        .worlds
        .iter()
        .map(|p| WorldSpec::load(p).map_err(|e| TrainError::file(p, e)))
        .collect::<Result<_>>()?;
    let mut model_cfg = checkpoint::load_config(from)?;
    if cfg.vertical_momentum {
        if !model_cfg.kinematic_motion {
            return Err(TrainError::file(
                from,
                "vertical_momentum: the model's head is not kinematic_motion",
            ));
        }
        model_cfg.vertical_momentum = true;
    }
    let varmap = VarMap::new();
    let model = WorldModel::new(
        &model_cfg,
        VarBuilder::from_varmap(&varmap, DType::F32, &dev),
    )?;
    crate::train::init_from(&varmap, from)?;
    let k = Intrinsics::from_vfov_deg(model_cfg.width as u32, model_cfg.height as u32, 70.0)
        .map_err(|e| TrainError::Other(e.to_string()))?;
    // The head's variables alone (the same `Var`s: updating them updates the model).
    let head = VarMap::new();
    {
        let all = varmap
            .data()
            .lock()
            .map_err(|_| TrainError::Other("variable map poisoned".into()))?;
        let mut mine = head
            .data()
            .lock()
            .map_err(|_| TrainError::Other("variable map poisoned".into()))?;
        for (name, var) in all.iter() {
            if WorldModel::MOTION_HEAD_TENSORS
                .iter()
                .any(|p| name.starts_with(p))
            {
                mine.insert(name.clone(), var.clone());
            }
        }
        if mine.is_empty() {
            return Err(TrainError::file(
                from,
                "the model has no motion head tensors",
            ));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| TrainError::file(out, e))?;
    let mut opt = AdamW::new(&head, cfg.weight_decay)?;
    let mut report = TuneReport {
        from: from.to_path_buf(),
        config: Some(cfg.clone()),
        ..TuneReport::default()
    };
    let mut all = Ticks::default();
    // With `keep = "walls"`: the head of every round, as it played.
    let mut heads: Vec<Vec<(String, Tensor)>> = Vec::new();
    for round in 0..=cfg.rounds {
        if cfg.keep == KeepHead::Walls {
            heads.push(head_weights(&head)?);
        }
        let (ticks, play) = play_round(&model, cfg, &worlds, &k, round, observer)?;
        observer.message(&format!(
            "round {round}: play with the head of round {round}: motion L1 {:.4}, translation \
             error {:.1} % (horizontal {:.1} %, height {:.2} m), stopped only in the session \
             {:.1} %, only in truth {:.1} % of walking ticks; stopped at {} of {} walls",
            play.motion_l1,
            play.translation_error_pct,
            play.horizontal_error_pct,
            play.height_error_m,
            play.stopped_only_in_session * 100.0,
            play.stopped_only_in_truth * 100.0,
            play.walls_stopped,
            play.walls,
        ));
        report.play.push(play);
        if round == cfg.rounds {
            break;
        }
        all.inputs.extend(ticks.inputs);
        all.truth.extend(ticks.truth);
        all.wall.extend(ticks.wall);
        let n = all.inputs.len();
        let joined = MotionInputs::cat(&all.inputs)?;
        let mut order = fit_order(&all.wall, cfg.wall_weight);
        for epoch in 0..cfg.epochs {
            let mut rng = ChaCha8Rng::seed_from_u64(seed::derive(
                cfg.seed,
                &[0x7e, round as u64, epoch as u64],
            ));
            order.shuffle(&mut rng);
            let (mut sum, mut count) = (0.0, 0usize);
            for chunk in order.chunks(cfg.batch) {
                let idx: Vec<u32> = chunk.iter().map(|&i| i as u32).collect();
                let inputs = joined.select(&Tensor::from_vec(idx, chunk.len(), &dev)?)?;
                let truth: Vec<f32> = chunk
                    .iter()
                    .flat_map(|&i| all.truth[5 * i..5 * i + 5].iter().copied())
                    .collect();
                let l =
                    loss::motion_l1(&model.motion_head(&inputs)?, &truth, cfg.motion_rise as f32)?;
                let grads = l.backward()?;
                if let Err(NonFinite(norm)) = opt.step(&grads, cfg.lr, cfg.grad_clip)? {
                    return Err(TrainError::Other(format!(
                        "round {round}, epoch {epoch}: gradient norm {norm} (lower lr or \
                         grad_clip)"
                    )));
                }
                sum += f64::from(l.to_scalar::<f32>()?) * chunk.len() as f64;
                count += chunk.len();
            }
            report.fit.push(EpochFit {
                round,
                epoch,
                motion_l1: sum / count.max(1) as f64,
            });
        }
        observer.message(&format!(
            "round {round}: fitted on {n} ticks, {} epochs: motion L1 {:.4} → {:.4}",
            cfg.epochs,
            report.fit[report.fit.len() - cfg.epochs].motion_l1,
            report.fit[report.fit.len() - 1].motion_l1,
        ));
    }
    report.kept_round = match cfg.keep {
        KeepHead::Last => cfg.rounds,
        KeepHead::Walls => best_wall_round(&report.play),
    };
    if report.kept_round != cfg.rounds {
        set_head_weights(&head, &heads[report.kept_round])?;
    }
    let kept = &report.play[report.kept_round];
    observer.message(&format!(
        "keeping the head of round {} (stopped at {} of {} walls, translation error {:.1} %)",
        report.kept_round, kept.walls_stopped, kept.walls, kept.translation_error_pct
    ));
    let dir = out.join("final");
    let tmp = out.join("final.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::file(&tmp, e))?;
    }
    checkpoint::save(&tmp, &model_cfg, &varmap)?;
    let train_toml = from.join("train.toml");
    if train_toml.exists() {
        std::fs::copy(&train_toml, tmp.join("train.toml"))
            .map_err(|e| TrainError::file(&train_toml, e))?;
    }
    let toml = toml::to_string(cfg).map_err(|e| TrainError::Other(e.to_string()))?;
    std::fs::write(tmp.join("tune.toml"), toml).map_err(|e| TrainError::file(&tmp, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| TrainError::file(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| TrainError::file(&dir, e))?;
    report.checkpoint = dir;
    report.wall_secs = started.elapsed().as_secs_f64();
    let json = out.join("tune.json");
    let text =
        serde_json::to_string_pretty(&report).map_err(|e| TrainError::Other(e.to_string()))?;
    std::fs::write(&json, text).map_err(|e| TrainError::file(&json, e))?;
    let epochs = cfg.epochs as f64;
    line_chart(
        &out.join("tune.png"),
        640,
        320,
        &[
            Series {
                points: report
                    .play
                    .iter()
                    .map(|p| (p.round as f64, p.motion_l1))
                    .collect(),
                color: [200, 40, 40],
            },
            Series {
                points: report
                    .fit
                    .iter()
                    .map(|f| {
                        (
                            f.round as f64 + (f.epoch as f64 + 1.0) / epochs,
                            f.motion_l1,
                        )
                    })
                    .collect(),
                color: [40, 90, 200],
            },
        ],
    )?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use reverie_core::{Action, EgoMotion, Intrinsics, Keys};
    use reverie_world::WorldSpec;
    use reverie_world::policy::PolicyKind;

    use super::{Expert, MotionLabels, RoundPlay, best_wall_round, fit_order};
    use crate::eval::record;

    #[test]
    fn each_label_mode_takes_its_part_of_the_experts_motion() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../worlds/meadow.toml");
        let spec = Arc::new(WorldSpec::load(&path).unwrap());
        let k = Intrinsics::from_vfov_deg(32, 32, 70.0).unwrap();
        let pose = record(&spec, &k, &PolicyKind::RandomWalk, 7, 1).poses[0];
        let a = Action::keys(Keys::FORWARD);
        let truth = EgoMotion {
            right_m: 0.3,
            up_m: 0.2,
            forward_m: -0.1,
            yaw_rad: 0.05,
            pitch_rad: -0.02,
        };
        let m = Expert::new(&spec).motion(&pose, &a).unwrap();
        assert!(m.forward_m > 0.1, "{m:?}");
        let label = |labels| {
            Expert::for_labels(&spec, labels)
                .unwrap()
                .label(&pose, &a, truth)
                .unwrap()
        };
        assert!(Expert::for_labels(&spec, MotionLabels::Truth).is_none());
        assert_eq!(label(MotionLabels::Session), m);
        assert_eq!(
            label(MotionLabels::SessionVertical),
            EgoMotion {
                up_m: m.up_m,
                ..truth
            }
        );
        assert_eq!(
            label(MotionLabels::SessionHorizontal),
            EgoMotion {
                right_m: m.right_m,
                forward_m: m.forward_m,
                ..truth
            }
        );
    }

    #[test]
    fn keep_walls_takes_the_round_that_stopped_at_most_walls() {
        let p = |walls, stopped, pct| RoundPlay {
            walls,
            walls_stopped: stopped,
            translation_error_pct: pct,
            ..RoundPlay::default()
        };
        // Round 2 stopped at the largest share; round 3 has the smaller error but lost walls.
        assert_eq!(
            best_wall_round(&[p(9, 8, 5.7), p(5, 4, 7.7), p(10, 10, 6.5), p(8, 2, 4.6)]),
            2
        );
        // A tie on the share goes to the smaller translation error; round 0 can win.
        assert_eq!(best_wall_round(&[p(4, 4, 5.0), p(8, 8, 4.0)]), 1);
        assert_eq!(best_wall_round(&[p(4, 4, 3.0), p(8, 8, 4.0)]), 0);
        // No wall walks at all: the translation error alone.
        assert_eq!(best_wall_round(&[p(0, 0, 3.0), p(0, 0, 2.0)]), 1);
    }

    #[test]
    fn wall_ticks_enter_the_fit_wall_weight_times() {
        let wall = [false, true, false, true];
        assert_eq!(fit_order(&wall, 1), vec![0, 1, 2, 3]);
        assert_eq!(fit_order(&wall, 3), vec![0, 1, 1, 1, 2, 3, 3, 3]);
        assert!(fit_order(&[], 3).is_empty());
    }
}
