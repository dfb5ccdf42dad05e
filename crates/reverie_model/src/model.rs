//! [`WorldModel`]: the geometry-aware recurrent world model.
//!
//! Each tick the engine (1) asks the model how the camera moved ([`WorldModel::predict_motion`],
//! from the recurrent state and the action: collisions and falls are learned), (2) warps the
//! previous frame into the new pose and (3) renders the spatial memory there, then (4) calls
//! [`WorldModel::generate`] with both views as *guides*. The network works on a grid of
//! `patch × patch` pixel cells (space-to-depth, a small U-Net of im2col convolutions riding on
//! matmul, see [`crate::conv`]) and returns, per pixel, a soft choice between the warped pixel, the
//! memory's pixel and a generated one, for colour and for depth separately: what is known is copied
//! sharp, what is new is invented. The state is a convolutional GRU on the grid, kept outside the
//! weights ([`State`]), in the style of candle-transformers' recurrent models.
//!
//! Ideas from GEN3C / Voyager (render the 3D cache into the new view and let the network fill in),
//! WorldMem (memory of what was generated), DIAMOND / GameNGen (next frame from the previous one and
//! the action) and ConvGRU (Ballas et al., 2016).

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use reverie_core::{Action, EgoMotion, GroundProbe};

use crate::compose::compose_with;
use crate::config::ModelConfig;
use crate::conv::{Conv2d, Window, depth_to_space};
use crate::error::{ModelError, Result};
use crate::ops::{gru_update, silu};

/// Channels of one guide pixel: red, green, blue (0..1), covered (0/1), encoded depth
/// ([`depth_to_code`]), depth known (0/1).
pub const GUIDE_CHANNELS: usize = 6;

/// Encoded depths below this decode to sky (`+inf`); 1/(1+z) = 0.004 at z = 249 m.
pub const CODE_SKY: f32 = 0.004;

/// Scale of the predicted translation per tick (metres): walking is ~0.18 m per tick.
pub const MOTION_SCALE_M: f32 = 0.2;
/// Scale of the predicted look correction per tick (radians).
pub const MOTION_SCALE_RAD: f32 = 0.05;

/// The motion head of a `kinematic_motion` model sees the depth of the frame just generated as
/// the nearest depth (largest code) in each cell of a `MOTION_DEPTH_GRID²` split of the frame.
pub const MOTION_DEPTH_GRID: usize = 8;

/// What the motion head of a `ground_probe` model reads beside the state, the action and the
/// depth: the [`GroundProbe`]'s features.
pub const MOTION_CONTEXT: usize = GroundProbe::FEATURES;

/// Step gate logit offset: a fresh head lifts ~95 % of a step in the footprint ahead (stage 2
/// starts from a head that never stepped up: the gate learns where not to).
const STEP_GATE_OFFSET: f64 = 3.0;

/// Lowest top above the feet that is a step (lower: plants, slabs, noise in the depth).
const STEP_MIN_M: f32 = 0.5;
/// Highest top above the feet that is a step (higher: a wall).
const STEP_MAX_M: f32 = 1.05;
/// `ground_vertical`: how far below the feet the ground right under them must be for the camera
/// to be in the air (less: the noise of a session's own depth, which must not move the camera).
const DROP_MIN_M: f32 = 0.25;
/// `ground_vertical`: the most a drop moves the camera down in one tick.
const FALL_MAX_M: f32 = 0.5;

/// Source temperatures [`WorldModel::generate_with`] takes.
pub const SOURCE_TEMPERATURE_RANGE: std::ops::RangeInclusive<f32> = 0.05..=4.0;

/// An error naming the temperature unless it is in [`SOURCE_TEMPERATURE_RANGE`].
pub fn check_source_temperature(t: f32) -> Result<()> {
    check_temperature("source temperature", t)
}

/// An error naming the depth's source temperature unless it is in [`SOURCE_TEMPERATURE_RANGE`].
pub fn check_depth_temperature(t: f32) -> Result<()> {
    check_temperature("depth source temperature", t)
}

fn check_temperature(what: &str, t: f32) -> Result<()> {
    if SOURCE_TEMPERATURE_RANGE.contains(&t) {
        Ok(())
    } else {
        Err(ModelError::Input(format!(
            "{what} {t}: expected {} to {}",
            SOURCE_TEMPERATURE_RANGE.start(),
            SOURCE_TEMPERATURE_RANGE.end()
        )))
    }
}

/// The ground right under the feet in a batch of probe features (`[B, MOTION_CONTEXT]`): the
/// highest top among the [`GroundProbe`] grid's four cells around the camera's ground position
/// that were seen, relative to the feet (`eye_height` below the eye), and whether any was seen
/// (both `[B, 1]`; −100 m where none was).
fn ground_under_feet(probe: &Tensor, eye_height: f32) -> Result<(Tensor, Tensor)> {
    let g = GroundProbe::GRID;
    let (a, b) = (g / 2 - 1, g / 2);
    let cells = [a * g + a, a * g + b, b * g + a, b * g + b].map(|c| c as u32);
    let tops_at = Tensor::new(&cells, probe.device())?;
    let seen_at = Tensor::new(&cells.map(|c| c + (g * g) as u32), probe.device())?;
    let tops = probe.index_select(&tops_at, 1)?;
    let seen = probe.index_select(&seen_at, 1)?;
    // Unseen cells at −100 m, so that the highest is a seen one wherever there is one.
    let tops = ((&tops * &seen)? + seen.affine(100.0, -100.0)?)?;
    let below = (tops.max_keepdim(1)? + f64::from(eye_height))?;
    Ok((below, seen.max_keepdim(1)?))
}

/// Where [`Action::to_features`] puts the jump key (key `i` of [`reverie_core::Keys::NAMED`]
/// is bit `i`).
const JUMP_FEATURE: usize = reverie_core::Keys::JUMP.bits().trailing_zeros() as usize;

/// Gate logit offset: a fresh motion head lets ~95 % of the intended walk through.
const GATE_OFFSET: f64 = 3.0;

/// Depth in metres → the network's depth code 1/(1+z) in (0, 1]; sky (`+inf`) is 0.
pub fn depth_to_code(depth_m: f32) -> f32 {
    if depth_m.is_finite() && depth_m >= 0.0 {
        1.0 / (1.0 + depth_m)
    } else {
        0.0
    }
}

/// The inverse of [`depth_to_code`]; codes under [`CODE_SKY`] are sky.
pub fn code_to_depth(code: f32) -> f32 {
    if code < CODE_SKY || !code.is_finite() {
        f32::INFINITY
    } else {
        1.0 / code.min(1.0) - 1.0
    }
}

/// A view that guides generation: the warped previous frame, a memory render, or a prompt frame.
#[derive(Clone, Copy, Debug)]
pub struct Guide<'a> {
    /// Row-major RGB, 3 bytes per pixel.
    pub rgb: &'a [u8],
    /// Planar depth in metres (`+inf` = sky), or `None` when unknown (a user's image).
    pub depth_m: Option<&'a [f32]>,
    /// Per-pixel confidence; 0 = not covered. `None` = everything covered.
    pub confidence: Option<&'a [f32]>,
}

impl Guide<'_> {
    /// A guide that covers nothing.
    pub const EMPTY: Guide<'static> = Guide {
        rgb: &[],
        depth_m: None,
        confidence: Some(&[]),
    };

    /// Checks the slices against a `w × h` frame.
    pub fn check(&self, w: usize, h: usize) -> Result<()> {
        let n = w * h;
        if self.is_empty() {
            return Ok(());
        }
        if self.rgb.len() != 3 * n {
            return Err(ModelError::Input(format!(
                "guide rgb has {} bytes, a {w}×{h} frame needs {}",
                self.rgb.len(),
                3 * n
            )));
        }
        for (name, len) in [
            ("depth", self.depth_m.map(<[f32]>::len)),
            ("confidence", self.confidence.map(<[f32]>::len)),
        ] {
            if let Some(len) = len
                && len != n
            {
                return Err(ModelError::Input(format!(
                    "guide {name} has {len} values, a {w}×{h} frame needs {n}"
                )));
            }
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.rgb.is_empty() && self.confidence.is_some_and(|c| c.is_empty())
    }

    /// The [`GUIDE_CHANNELS`] values of pixel `i` (the guide must have passed [`Guide::check`]).
    fn pixel(&self, i: usize) -> [f32; GUIDE_CHANNELS] {
        if self.is_empty() || self.confidence.is_some_and(|c| c[i] <= 0.0) {
            return [0.0; GUIDE_CHANNELS];
        }
        let (code, known) = match self.depth_m {
            Some(d) => (depth_to_code(d[i]), 1.0),
            None => (0.0, 0.0),
        };
        [
            f32::from(self.rgb[3 * i]) / 255.0,
            f32::from(self.rgb[3 * i + 1]) / 255.0,
            f32::from(self.rgb[3 * i + 2]) / 255.0,
            1.0,
            code,
            known,
        ]
    }
}

/// Warps and memory renders → the guide tensor `[B, grid_h, grid_w, patch² · 2 · GUIDE_CHANNELS]`:
/// each grid cell holds its `patch × patch` pixels in row-major order, each pixel the warp's
/// [`GUIDE_CHANNELS`] values then the memory's. (For a prompt, pass the prompt frame as the warp
/// and [`Guide::EMPTY`] as the memory.)
pub fn guides_tensor(
    cfg: &ModelConfig,
    warps: &[Guide],
    memories: &[Guide],
    device: &Device,
) -> Result<Tensor> {
    if warps.len() != memories.len() {
        return Err(ModelError::Input(format!(
            "{} warps but {} memory renders",
            warps.len(),
            memories.len()
        )));
    }
    let (w, h, p) = (cfg.width, cfg.height, cfg.patch);
    let (gh, gw) = cfg.grid();
    let mut data = Vec::with_capacity(warps.len() * w * h * 2 * GUIDE_CHANNELS);
    for (wg, mg) in warps.iter().zip(memories) {
        wg.check(w, h)?;
        mg.check(w, h)?;
        for gy in 0..gh {
            for gx in 0..gw {
                for dy in 0..p {
                    for dx in 0..p {
                        let i = (gy * p + dy) * w + gx * p + dx;
                        data.extend_from_slice(&wg.pixel(i));
                        data.extend_from_slice(&mg.pixel(i));
                    }
                }
            }
        }
    }
    Ok(Tensor::from_vec(
        data,
        (warps.len(), gh, gw, p * p * 2 * GUIDE_CHANNELS),
        device,
    )?)
}

/// Actions → `[B, Action::FEATURES]`.
pub fn actions_tensor(actions: &[Action], device: &Device) -> Result<Tensor> {
    let data: Vec<f32> = actions.iter().flat_map(|a| a.to_features()).collect();
    Ok(Tensor::from_vec(
        data,
        (actions.len(), Action::FEATURES),
        device,
    )?)
}

/// What the ego-motion head reads for a batch of sessions ([`WorldModel::motion_inputs`]):
/// stored per tick, a session's inputs can be joined ([`MotionInputs::cat`]) and sampled
/// ([`MotionInputs::select`]) to tune the head alone on the sessions it drives.
#[derive(Clone, Debug)]
pub struct MotionInputs {
    /// `[B, D]`: the pooled state, the action features and (kinematic heads) the intended walk,
    /// the nearest depth per grid cell and the ground probe.
    x: Tensor,
    /// `[B, Action::FEATURES]`.
    actions: Tensor,
    /// `[B, 5]`: [`EgoMotion::intended`] of each action.
    intended: Tensor,
    /// `[B, C]`: the motion context ([`ModelConfig::motion_context`]; `[B, 0]` for heads that
    /// read none).
    probe: Tensor,
}

impl MotionInputs {
    /// Sessions in the batch.
    pub fn len(&self) -> usize {
        self.x.dims().first().copied().unwrap_or(0)
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batches one after another (all from the same model). An error for none, or for
    /// batches of different widths.
    pub fn cat(parts: &[MotionInputs]) -> Result<MotionInputs> {
        if parts.is_empty() {
            return Err(ModelError::Input("no motion inputs to join".into()));
        }
        let join = |f: fn(&MotionInputs) -> &Tensor| -> Result<Tensor> {
            let v: Vec<&Tensor> = parts.iter().map(f).collect();
            Ok(Tensor::cat(&v, 0)?)
        };
        Ok(MotionInputs {
            x: join(|m| &m.x)?,
            actions: join(|m| &m.actions)?,
            intended: join(|m| &m.intended)?,
            probe: join(|m| &m.probe)?,
        })
    }

    /// The rows `index` (a `u32` tensor of row numbers), in that order.
    pub fn select(&self, index: &Tensor) -> Result<MotionInputs> {
        let pick = |t: &Tensor| -> Result<Tensor> { Ok(t.index_select(index, 0)?) };
        Ok(MotionInputs {
            x: pick(&self.x)?,
            actions: pick(&self.actions)?,
            intended: pick(&self.intended)?,
            probe: pick(&self.probe)?,
        })
    }

    /// The same inputs cut from the graph (so a stored tick keeps no tensors of its step alive).
    pub fn detach(&self) -> MotionInputs {
        MotionInputs {
            x: self.x.detach(),
            actions: self.actions.detach(),
            intended: self.intended.detach(),
            probe: self.probe.detach(),
        }
    }
}

/// The intended walk on the ground plane, `[B, 2]` (right, forward), of `[B, 5]` intended
/// motions.
fn walk_of(intended: &Tensor) -> Result<Tensor> {
    Ok(Tensor::cat(
        &[&intended.narrow(1, 0, 1)?, &intended.narrow(1, 2, 1)?],
        1,
    )?)
}

/// The recurrent latent state of a batch of sessions: `[B, grid_h, grid_w, state_channels]`.
#[derive(Clone, Debug)]
pub struct State {
    /// The state tensor.
    pub h: Tensor,
}

impl State {
    /// The blank state (before any prompt).
    pub fn zeros(cfg: &ModelConfig, batch: usize, device: &Device) -> Result<State> {
        let (gh, gw) = cfg.grid();
        Ok(State {
            h: Tensor::zeros((batch, gh, gw, cfg.state_channels), DType::F32, device)?,
        })
    }

    /// The same state cut off from the autograd graph (truncated back-propagation through time).
    pub fn detach(&self) -> State {
        State { h: self.h.detach() }
    }

    /// A batch-1 state's values, row-major `[grid_h, grid_w, state_channels]` (for session files).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        Ok(self.h.flatten_all()?.to_vec1()?)
    }

    /// A batch-1 state from [`State::to_vec`]'s values; the length must match the config.
    pub fn from_vec(cfg: &ModelConfig, values: &[f32], device: &Device) -> Result<State> {
        let (gh, gw) = cfg.grid();
        let want = gh * gw * cfg.state_channels;
        if values.len() != want {
            return Err(ModelError::Input(format!(
                "state has {} values; this model's state is 1×{gh}×{gw}×{} = {want}",
                values.len(),
                cfg.state_channels
            )));
        }
        Ok(State {
            h: Tensor::from_slice(values, (1, gh, gw, cfg.state_channels), device)?,
        })
    }
}

/// What [`WorldModel::generate`] returns for a batch.
#[derive(Clone, Debug)]
pub struct StepOutput {
    /// Per pixel: red, green, blue (0..1), depth code ([`depth_to_code`]), then the weights of
    /// warp, memory and generator in the colour: `[B, H, W, 7]`.
    pub image: Tensor,
}

impl StepOutput {
    /// The frame, `[B, H, W, 3]` in 0..1.
    pub fn rgb(&self) -> Result<Tensor> {
        Ok(self.image.narrow(3, 0, 3)?)
    }

    /// Its depth code, `[B, H, W, 1]`.
    pub fn depth_code(&self) -> Result<Tensor> {
        Ok(self.image.narrow(3, 3, 1)?)
    }

    /// Item `b` of the batch as an 8-bit RGB frame and planar depth in metres.
    pub fn frame(&self, b: usize) -> Result<(Vec<u8>, Vec<f32>)> {
        let v: Vec<f32> = self.image.get(b)?.flatten_all()?.to_vec1()?;
        let mut rgb = Vec::with_capacity(v.len() / 7 * 3);
        let mut depth = Vec::with_capacity(v.len() / 7);
        for px in v.chunks_exact(7) {
            rgb.extend(
                px[..3]
                    .iter()
                    .map(|c| (c * 255.0).round().clamp(0.0, 255.0) as u8),
            );
            depth.push(code_to_depth(px[3]));
        }
        Ok((rgb, depth))
    }

    /// Item `b`'s share of warp, memory and generator per pixel (`[H·W]` each).
    pub fn sources(&self, b: usize) -> Result<[Vec<f32>; 3]> {
        let v: Vec<f32> = self.image.get(b)?.flatten_all()?.to_vec1()?;
        let pick = |k: usize| v.chunks_exact(7).map(|px| px[4 + k]).collect();
        Ok([pick(0), pick(1), pick(2)])
    }
}

/// Pre-activation residual block: `x + conv(silu(conv(silu(x))))`.
#[derive(Clone, Debug)]
struct ResBlock {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl ResBlock {
    fn new(c: usize, vb: VarBuilder) -> candle_core::Result<ResBlock> {
        let w = Window {
            k: 3,
            stride: 1,
            pad: 1,
        };
        Ok(ResBlock {
            conv1: Conv2d::new(c, c, w, true, vb.pp("conv1"))?,
            conv2: Conv2d::new(c, c, w, true, vb.pp("conv2"))?,
        })
    }
}

impl Module for ResBlock {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let y = self.conv1.forward(&silu(xs)?)?;
        let y = self.conv2.forward(&silu(&y)?)?;
        xs + y
    }
}

fn blocks(n: usize, c: usize, vb: VarBuilder) -> candle_core::Result<Vec<ResBlock>> {
    (0..n).map(|i| ResBlock::new(c, vb.pp(i))).collect()
}

fn one_by_one(i: usize, o: usize, vb: VarBuilder) -> candle_core::Result<Conv2d> {
    Conv2d::new(
        i,
        o,
        Window {
            k: 1,
            stride: 1,
            pad: 0,
        },
        true,
        vb,
    )
}

/// The world model (weights only; per-session state is [`State`]).
#[derive(Clone, Debug)]
pub struct WorldModel {
    cfg: ModelConfig,
    stem: Conv2d,
    high_in: Vec<ResBlock>,
    down: Conv2d,
    low: Vec<ResBlock>,
    up: Conv2d,
    high_out: Vec<ResBlock>,
    head: Conv2d,
    gate: Conv2d,
    motion1: Linear,
    motion2: Linear,
    refine: Option<(Conv2d, Conv2d)>,
    /// `[16, gh·gw]`: row `4i + j` averages the state over the grid's block (i, j) of a 4×4
    /// split (the motion head's pooling as one small matmul; candle's strided mean was ~3 % of
    /// a step).
    pool: Tensor,
    device: Device,
}

/// Outputs per pixel of the head: 3 source logits, 3 generated colour logits, 1 depth logit.
const HEAD_CHANNELS: usize = crate::compose::HEAD;

impl WorldModel {
    /// Builds the network (training: `VarBuilder::from_varmap`; inference: from safetensors).
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<WorldModel> {
        cfg.validate()?;
        let (c, m, s, p) = (
            cfg.channels,
            cfg.mid_channels,
            cfg.state_channels,
            cfg.patch,
        );
        let stem_in = p * p * 2 * GUIDE_CHANNELS + s + Action::FEATURES;
        let device = vb.device().clone();
        let (gh, gw) = cfg.grid();
        let share = 1.0 / ((gh / 4) * (gw / 4)) as f32;
        let pool: Vec<f32> = (0..16)
            .flat_map(|b| {
                (0..gh * gw).map(move |i| {
                    let inside = (i / gw) / (gh / 4) == b / 4 && (i % gw) / (gw / 4) == b % 4;
                    if inside { share } else { 0.0 }
                })
            })
            .collect();
        let pool = Tensor::from_vec(pool, (16, gh * gw), &device)?;
        Ok(WorldModel {
            stem: one_by_one(stem_in, c, vb.pp("stem"))?,
            high_in: blocks(cfg.blocks_high, c, vb.pp("high_in"))?,
            down: Conv2d::new(
                c,
                m,
                Window {
                    k: 3,
                    stride: 2,
                    pad: 1,
                },
                true,
                vb.pp("down"),
            )?,
            low: blocks(cfg.blocks_low, m, vb.pp("low"))?,
            up: one_by_one(m, 4 * c, vb.pp("up"))?,
            high_out: blocks(cfg.blocks_high, c, vb.pp("high_out"))?,
            head: one_by_one(c, p * p * HEAD_CHANNELS, vb.pp("head"))?,
            gate: one_by_one(c + s, 2 * s, vb.pp("gate"))?,
            motion1: candle_nn::linear(
                16 * s
                    + Action::FEATURES
                    + if cfg.kinematic_motion {
                        2 + MOTION_DEPTH_GRID * MOTION_DEPTH_GRID
                    } else {
                        0
                    }
                    + if cfg.ground_probe { MOTION_CONTEXT } else { 0 },
                cfg.motion_hidden,
                vb.pp("motion1"),
            )?,
            motion2: candle_nn::linear(
                cfg.motion_hidden,
                if cfg.ground_vertical {
                    7
                } else if cfg.ground_probe {
                    6
                } else {
                    5
                },
                vb.pp("motion2"),
            )?,
            refine: if cfg.refine_channels > 0 {
                let w = Window {
                    k: 3,
                    stride: 1,
                    pad: 1,
                };
                Some((
                    Conv2d::new(4, cfg.refine_channels, w, true, vb.pp("refine1"))?,
                    Conv2d::new(cfg.refine_channels, 4, w, true, vb.pp("refine2"))?,
                ))
            } else {
                None
            },
            cfg: cfg.clone(),
            pool,
            device,
        })
    }

    /// The variable-name prefixes of the ego-motion head's weights ([`WorldModel::motion_head`]).
    pub const MOTION_HEAD_TENSORS: [&'static str; 2] = ["motion1.", "motion2."];

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Turns the head's vertical motion on or off after loading ([`ModelConfig::vertical_motion`]:
    /// off keeps the camera's height; `ground_vertical`, which only shapes the vertical motion,
    /// goes off with it, and stays off if the motion is turned back on). An error naming the
    /// field for a head that learns the whole motion.
    pub fn set_vertical_motion(&mut self, on: bool) -> Result<()> {
        let cfg = ModelConfig {
            vertical_motion: on,
            ground_vertical: self.cfg.ground_vertical && on,
            ..self.cfg.clone()
        };
        cfg.validate()?;
        self.cfg = cfg;
        Ok(())
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Ego-motion of the coming tick, `[B, 5]` in the units of [`EgoMotion::to_array`] (right,
    /// up, forward metres; yaw, pitch radians), from the state, the actions and `depth_code`
    /// (`[B, H, W, 1]`: the depth code of the frame each session has just shown — the model's
    /// own output, or the prompt's), and `probe` (`[B, C]` from [`WorldModel::probe_tensor`],
    /// C = [`ModelConfig::motion_context_len`]: each session's [`ModelConfig::motion_context`] —
    /// its [`GroundProbe::features`] at its current pose for the action's intended walk, read by
    /// `ground_probe` models, then its previous vertical motion, read by `vertical_momentum`
    /// models; `[B, 0]` for neither).
    ///
    /// A `ground_probe` model also steps up: its vertical motion adds a learned gate times the
    /// height above the feet of the highest point in the body's footprint after the intended
    /// walk, when that is a step (0.5–1.05 m, clamped to 1 m; 0 where the probe saw nothing).
    ///
    /// A `kinematic_motion` model turns the look exactly as asked and walks what the action
    /// intends ([`EgoMotion::intended`]) through learned gates (a wall ahead closes them), plus
    /// learned residuals (sliding along a wall) and a learned vertical motion (ledges, falls,
    /// jumps). Older models learn all five numbers from the state and the action (the look as a
    /// correction of the action's look delta); they ignore `depth_code`.
    pub fn predict_motion(
        &self,
        state: &State,
        actions: &[Action],
        depth_code: &Tensor,
        probe: &Tensor,
    ) -> Result<Tensor> {
        self.motion_head(&self.motion_inputs(state, actions, depth_code, probe)?)
    }

    /// Everything the ego-motion head reads for a batch ([`WorldModel::predict_motion`]'s
    /// arguments, pooled and detached as the head uses them; the state keeps its gradient). The
    /// head itself is [`WorldModel::motion_head`]; the split lets a session's inputs be stored
    /// and the head tuned on them ([`MotionInputs::cat`], [`MotionInputs::select`]).
    pub fn motion_inputs(
        &self,
        state: &State,
        actions: &[Action],
        depth_code: &Tensor,
        probe: &Tensor,
    ) -> Result<MotionInputs> {
        let (b, gh, gw, s) = state.h.dims4()?;
        if actions.len() != b {
            return Err(ModelError::Input(format!(
                "{} actions for a batch of {b} states",
                actions.len()
            )));
        }
        let a = actions_tensor(actions, &self.device)?;
        let pooled = self
            .pool
            .broadcast_left(b)?
            .contiguous()?
            .matmul(&state.h.reshape((b, gh * gw, s))?)? // [B, 16, S]: the 4×4 block means
            .reshape((b, 16 * s))?;
        let intended: Vec<f32> = actions
            .iter()
            .flat_map(|a| {
                EgoMotion::intended(a, self.cfg.walk_speed, self.cfg.sprint_speed).to_array()
            })
            .collect();
        let intended = Tensor::from_vec(intended, (b, 5), &self.device)?;
        if !self.cfg.kinematic_motion {
            return Ok(MotionInputs {
                x: Tensor::cat(&[&pooled, &a], 1)?, // [B, 16·S + 9]
                actions: a,
                intended,
                probe: Tensor::zeros((b, 0), DType::F32, &self.device)?,
            });
        }
        let (h, w) = (self.cfg.height, self.cfg.width);
        if depth_code.dims() != [b, h, w, 1] {
            return Err(ModelError::Input(format!(
                "depth code {:?} must be [{b}, {h}, {w}, 1]",
                depth_code.dims()
            )));
        }
        let g = MOTION_DEPTH_GRID;
        let near = depth_code
            .detach()
            .contiguous()?
            .reshape((b, g, h / g, g, w / g))?
            .max(4)?
            .max(2)?
            .reshape((b, g * g))?;
        let walk = walk_of(&intended)?;
        let x = Tensor::cat(
            &[&pooled, &a, &(&walk / f64::from(MOTION_SCALE_M))?, &near],
            1,
        )?;
        let len = self.cfg.motion_context_len();
        if probe.dims() != [b, len] {
            return Err(ModelError::Input(format!(
                "motion context {:?} must be [{b}, {len}] (ground probe {}, previous vertical \
                 motion and whether in the air {})",
                probe.dims(),
                if self.cfg.ground_probe {
                    MOTION_CONTEXT
                } else {
                    0
                },
                2 * usize::from(self.cfg.vertical_momentum),
            )));
        }
        let context = probe.detach();
        let x = if self.cfg.ground_probe {
            Tensor::cat(&[&x, &context.narrow(1, 0, MOTION_CONTEXT)?], 1)?
        } else {
            x
        };
        Ok(MotionInputs {
            x,
            actions: a,
            intended,
            probe: context,
        })
    }

    /// The ego-motion head on stored inputs ([`WorldModel::motion_inputs`]): `[B, 5]` as
    /// [`WorldModel::predict_motion`] returns it. Its weights are the tensors named
    /// [`WorldModel::MOTION_HEAD_TENSORS`].
    pub fn motion_head(&self, inputs: &MotionInputs) -> Result<Tensor> {
        let MotionInputs {
            x,
            actions: a,
            intended,
            probe,
        } = inputs;
        let b = x.dim(0)?;
        let m = f64::from(MOTION_SCALE_M);
        let y = self.motion2.forward(&self.motion1.forward(x)?.silu()?)?; // [B, 5]
        if !self.cfg.kinematic_motion {
            let scale = Tensor::new(
                &[
                    MOTION_SCALE_M,
                    MOTION_SCALE_M,
                    MOTION_SCALE_M,
                    MOTION_SCALE_RAD,
                    MOTION_SCALE_RAD,
                ],
                &self.device,
            )?;
            let look = (a.narrow(1, Action::FEATURES - 2, 2)?
                * f64::from(Action::LOOK_FEATURE_SCALE_RAD))?;
            let look = Tensor::cat(
                &[&Tensor::zeros((b, 3), DType::F32, &self.device)?, &look],
                1,
            )?;
            return Ok((y.broadcast_mul(&scale)? + look)?);
        }
        let walk = walk_of(intended)?;
        // Gates in (0, 1): 1 / (1 + e^-(y + offset)).
        let gates = ((y.narrow(1, 0, 2)? + GATE_OFFSET)?.neg()?.exp()? + 1.0)?.recip()?;
        let horizontal = ((gates * &walk)? + (y.narrow(1, 2, 2)? * m)?)?; // [B, 2]
        let mut up = (y.narrow(1, 4, 1)? * m)?;
        if self.cfg.ground_probe {
            // The footprint after the intended walk: its top relative to the eye, and whether
            // it was seen (see `GroundProbe::features`).
            let at = 2 * GroundProbe::GRID * GroundProbe::GRID + 2;
            let top = probe.narrow(1, at, 1)?;
            let seen = probe.narrow(1, at + 1, 1)?;
            // A step is what a body climbs without jumping: a top 0.5–1.05 m above the feet
            // (blocks are 1 m; lower tops are plants and slabs it walks through or over, higher
            // ones walls).
            let h = (top + f64::from(self.cfg.eye_height))?;
            let climbable = (h.ge(STEP_MIN_M)?.to_dtype(DType::F32)?
                * h.le(STEP_MAX_M)?.to_dtype(DType::F32)?)?;
            let step = ((h.clamp(0f32, 1f32)? * climbable)? * seen)?;
            let gate = ((y.narrow(1, 5, 1)? + STEP_GATE_OFFSET)?.neg()?.exp()? + 1.0)?.recip()?;
            if self.cfg.ground_vertical {
                // The ground right under the feet, relative to them: the highest top of the
                // probe's four grid cells around the camera's ground position (±0.2 m; the
                // whole footprint would take in a wall the body stands against).
                let (below, seen_now) = ground_under_feet(probe, self.cfg.eye_height)?;
                // In the air: that ground seen more than `DROP_MIN_M` below the feet.
                let airborne = (below.le(-DROP_MIN_M)?.to_dtype(DType::F32)? * seen_now)?;
                // The free vertical motion only while jump is held (the push off the ground);
                // in the air, a learned share of the way down to the ground under the feet
                // (at most FALL_MAX_M a tick). A free motion in the air cannot tell a jump's
                // rise from its fall, and rising in the air kept the camera in the air: it
                // climbed (session 16).
                let jump = a.narrow(1, JUMP_FEATURE, 1)?;
                let drop = (&airborne * below.clamp(-FALL_MAX_M, 0f32)?)?;
                let fall = (y.narrow(1, 6, 1)?.neg()?.exp()? + 1.0)?.recip()?;
                up = ((jump * up)? + (gate * step)? + (fall * drop)?)?;
            } else {
                up = (up + (gate * step)?)?;
            }
        }
        if self.cfg.vertical_momentum {
            // In the air after a rise, the arc and nothing else: last tick's motion less a tick
            // of gravity. (A learned output added to it would be integrated as velocity: a
            // bias of a tick of gravity and the arc never comes down.)
            let c = probe.dim(1)?;
            let previous = probe.narrow(1, c - 2, 1)?;
            let air = probe.narrow(1, c - 1, 1)?;
            let tick = 1.0 / f64::from(reverie_core::TICK_HZ);
            let arc = (previous - f64::from(self.cfg.gravity) * tick * tick)?;
            up = ((&air * arc)? + ((1.0 - &air)? * up)?)?;
        }
        if !self.cfg.vertical_motion {
            up = up.zeros_like()?;
        }
        Ok(Tensor::cat(
            &[
                &horizontal.narrow(1, 0, 1)?,
                &up,
                &horizontal.narrow(1, 1, 1)?,
                &intended.narrow(1, 3, 2)?,
            ],
            1,
        )?)
    }

    /// [`WorldModel::predict_motion`] for one session, as an [`EgoMotion`]; `depth_m` is the
    /// depth (metres, `+inf` = sky) of the frame it shows now, `probe` the session's
    /// [`ModelConfig::motion_context`] (ignored by models with neither `ground_probe` nor
    /// `vertical_momentum`).
    pub fn predict_motion_one(
        &self,
        state: &State,
        action: &Action,
        depth_m: &[f32],
        probe: &[f32],
    ) -> Result<EgoMotion> {
        self.motion_of(&self.motion_inputs_one(state, action, depth_m, probe)?)
    }

    /// [`WorldModel::motion_inputs`] for one session (arguments as
    /// [`WorldModel::predict_motion_one`]).
    pub fn motion_inputs_one(
        &self,
        state: &State,
        action: &Action,
        depth_m: &[f32],
        probe: &[f32],
    ) -> Result<MotionInputs> {
        let code = self.depth_code_tensor(depth_m)?;
        let probe = self.probe_tensor(&[probe])?;
        self.motion_inputs(state, std::slice::from_ref(action), &code, &probe)
    }

    /// [`WorldModel::motion_head`] on one session's inputs, as an [`EgoMotion`].
    pub fn motion_of(&self, inputs: &MotionInputs) -> Result<EgoMotion> {
        if inputs.len() != 1 {
            return Err(ModelError::Input(format!(
                "motion inputs of {} sessions, not one",
                inputs.len()
            )));
        }
        let m: Vec<f32> = self.motion_head(inputs)?.flatten_all()?.to_vec1()?;
        Ok(EgoMotion::from_array([m[0], m[1], m[2], m[3], m[4]]))
    }

    /// Sessions' [`ModelConfig::motion_context`] as the `[B, C]` tensor
    /// [`WorldModel::predict_motion`] reads (C = [`ModelConfig::motion_context_len`]; `[B, 0]`
    /// for a model with neither `ground_probe` nor `vertical_momentum`, which takes any slices).
    pub fn probe_tensor(&self, probes: &[&[f32]]) -> Result<Tensor> {
        let len = self.cfg.motion_context_len();
        if len == 0 {
            return Ok(Tensor::zeros((probes.len(), 0), DType::F32, &self.device)?);
        }
        let mut v: Vec<f32> = Vec::with_capacity(probes.len() * len);
        for p in probes {
            if p.len() != len {
                return Err(ModelError::Input(format!(
                    "motion context has {} values, not {len} (ground probe {}, previous \
                     vertical motion and whether in the air {})",
                    p.len(),
                    if self.cfg.ground_probe {
                        GroundProbe::FEATURES
                    } else {
                        0
                    },
                    2 * usize::from(self.cfg.vertical_momentum),
                )));
            }
            v.extend_from_slice(p);
        }
        Ok(Tensor::from_vec(v, (probes.len(), len), &self.device)?)
    }

    /// One frame's depth (metres) as the `[1, H, W, 1]` depth-code tensor
    /// [`WorldModel::predict_motion`] reads.
    pub fn depth_code_tensor(&self, depth_m: &[f32]) -> Result<Tensor> {
        let (h, w) = (self.cfg.height, self.cfg.width);
        if depth_m.len() != w * h {
            return Err(ModelError::Input(format!(
                "depth has {} values, a {w}×{h} frame needs {}",
                depth_m.len(),
                w * h
            )));
        }
        let code: Vec<f32> = depth_m.iter().map(|&d| depth_to_code(d)).collect();
        Ok(Tensor::from_vec(code, (1, h, w, 1), &self.device)?)
    }

    /// Generates the frame at the new pose from the action (`[B, 9]`) and the guides (the warped
    /// previous frame and the memory render, from [`guides_tensor`]), and advances the state.
    /// Composes the sources as trained (training's path); sessions use
    /// [`WorldModel::generate_with`].
    pub fn generate(
        &self,
        state: &mut State,
        actions: &Tensor,
        guides: &Tensor,
    ) -> Result<StepOutput> {
        self.generate_with(state, actions, guides, 1.0)
    }

    /// [`WorldModel::generate`] with the colour's source logits divided by `source_temperature`
    /// (in [`SOURCE_TEMPERATURE_RANGE`]; 1 = as trained, below 1 = each pixel copies the source
    /// the head prefers more exactly, see [`crate::compose`]). The state update is the same.
    pub fn generate_with(
        &self,
        state: &mut State,
        actions: &Tensor,
        guides: &Tensor,
        source_temperature: f32,
    ) -> Result<StepOutput> {
        self.generate_tempered(state, actions, guides, source_temperature, 1.0)
    }

    /// [`WorldModel::generate_with`] with the depth's source logits divided by
    /// `depth_temperature` as well (in [`SOURCE_TEMPERATURE_RANGE`]; 1 = as trained; the colour's
    /// temperature = each pixel's depth comes from where its colour comes from).
    pub fn generate_tempered(
        &self,
        state: &mut State,
        actions: &Tensor,
        guides: &Tensor,
        source_temperature: f32,
        depth_temperature: f32,
    ) -> Result<StepOutput> {
        check_source_temperature(source_temperature)?;
        check_depth_temperature(depth_temperature)?;
        let p = self.cfg.patch;
        let (gh, gw) = self.cfg.grid();
        let (b, h, w, gc) = guides.dims4()?;
        if (h, w, gc) != (gh, gw, p * p * 2 * GUIDE_CHANNELS) || state.h.dim(0)? != b {
            return Err(ModelError::Input(format!(
                "guides {:?} must be [B, {gh}, {gw}, {}] with B = the state's batch {}",
                guides.dims(),
                p * p * 2 * GUIDE_CHANNELS,
                state.h.dim(0)?
            )));
        }
        let a = actions
            .reshape((b, 1, 1, Action::FEATURES))?
            .broadcast_as((b, gh, gw, Action::FEATURES))?;
        let x = Tensor::cat(&[guides, &state.h, &a.contiguous()?], 3)?;
        let mut x = self.stem.forward(&x)?; // [B, gh, gw, C]
        for blk in &self.high_in {
            x = blk.forward(&x)?;
        }
        let mut y = self.down.forward(&silu(&x)?)?; // [B, gh/2, gw/2, M]
        for blk in &self.low {
            y = blk.forward(&y)?;
        }
        let y = depth_to_space(&self.up.forward(&silu(&y)?)?, 2)?; // [B, gh, gw, C]
        let mut x = (x + y)?;
        for blk in &self.high_out {
            x = blk.forward(&x)?;
        }
        let x = silu(&x)?;
        let head = self.head.forward(&x)?; // [B, gh, gw, p²·7]
        let mixed = compose_with(&head, guides, source_temperature, depth_temperature)?; // [B, gh, gw, p²·7]
        let mut image = depth_to_space(&mixed, p)?; // [B, H, W, 7]
        if let Some((r1, r2)) = &self.refine {
            // Full-resolution residual on colour + depth code (sources stay as composed).
            let base = image.narrow(3, 0, 4)?.contiguous()?; // [B, H, W, 4]
            let residual = r2.forward(&silu(&r1.forward(&base)?)?)?;
            image = Tensor::cat(&[&(base + residual)?, &image.narrow(3, 4, 3)?], 3)?;
        }

        // Convolutional GRU update of the state from the features that made this frame.
        let g = self.gate.forward(&Tensor::cat(&[&state.h, &x], 3)?)?; // [B, gh, gw, 2S]
        state.h = gru_update(&state.h, &g)?;
        Ok(StepOutput { image })
    }

    /// Starts a session from 1–4 prompt frames per batch item (`prompts[i]` is a guide tensor
    /// built with [`guides_tensor`] with the frame as the warp and no memory; depth may be unknown): the state reads each frame in turn,
    /// and the output of the last one (the prompt reproduced, with the model's depth where the
    /// prompt had none) is what the session shows first.
    pub fn prompt(&self, prompts: &[Tensor]) -> Result<(State, StepOutput)> {
        let Some(first) = prompts.first() else {
            return Err(ModelError::Input(
                "a prompt needs 1 to 4 frames, got 0".into(),
            ));
        };
        if prompts.len() > 4 {
            return Err(ModelError::Input(format!(
                "a prompt needs 1 to 4 frames, got {}",
                prompts.len()
            )));
        }
        let b = first.dim(0)?;
        let mut state = State::zeros(&self.cfg, b, &self.device)?;
        let idle = actions_tensor(&vec![Action::IDLE; b], &self.device)?;
        let mut out = None;
        for p in prompts {
            out = Some(self.generate(&mut state, &idle, p)?);
        }
        match out {
            Some(o) => Ok((state, o)),
            None => Err(ModelError::Input("empty prompt".into())),
        }
    }

    /// Multiply-adds of one [`WorldModel::generate`] call per batch item (for benchmarks).
    pub fn macs_per_step(&self) -> usize {
        let (gh, gw) = self.cfg.grid();
        let grid = gh * gw;
        let half = grid / 4;
        let blocks = |v: &[ResBlock]| -> usize {
            v.iter()
                .map(|b| b.conv1.macs_per_pixel() + b.conv2.macs_per_pixel())
                .sum()
        };
        let refine = self
            .refine
            .as_ref()
            .map_or(0, |(a, b)| a.macs_per_pixel() + b.macs_per_pixel());
        grid * self.cfg.patch * self.cfg.patch * refine
            + grid
                * (self.stem.macs_per_pixel()
                    + blocks(&self.high_in)
                    + blocks(&self.high_out)
                    + self.head.macs_per_pixel()
                    + self.gate.macs_per_pixel())
            + half * (self.down.macs_per_pixel() + blocks(&self.low) + self.up.macs_per_pixel())
    }
}
