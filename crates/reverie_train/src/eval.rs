//! `reverie eval`: DESIGN.md's fidelity, control, revisit and stability protocols, with the
//! copy-last-frame and warp+memory baselines in the same run.
//!
//! The oracle records an episode first (frames, poses, actions); then the model plays it through
//! a [`reverie_runtime::Engine`] built from the **prompt alone** (tick 0's frame, depth and pose)
//! and fed only the actions ([`rollout`] takes nothing else); the scores compare afterwards.

use std::path::Path;
use std::sync::Arc;

use reverie_core::glam::Vec3;
use reverie_core::metrics::psnr_rgb8;
use reverie_core::{Action, EgoMotion, Intrinsics, Keys, Pose, TICK_HZ, seed};
use reverie_memory::{MemoryConfig, View};
use reverie_model::WorldModel;
use reverie_runtime::{Engine, EngineOptions, Generated, Prompt, Refine};
use reverie_world::episode::{self, EpisodeStart};
use reverie_world::physics::Player;
use reverie_world::policy::PolicyKind;
use reverie_world::{Renderer, World, WorldSpec};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Fidelity horizons in ticks (1/24 s).
pub const HORIZONS: [usize; 5] = [1, 8, 24, 72, 240];

/// An episode recorded from the oracle.
#[derive(Clone, Debug)]
pub struct OracleEpisode {
    /// Frames.
    pub rgb: Vec<Vec<u8>>,
    /// Depths.
    pub depth_m: Vec<Vec<f32>>,
    /// True poses.
    pub poses: Vec<Pose>,
    /// Actions (index t produced frame t; 0 is idle).
    pub actions: Vec<Action>,
    /// The policy's report (e.g. when a loop returned).
    pub report: serde_json::Value,
}

impl OracleEpisode {
    /// The session prompt: tick 0's frame, depth and pose. All the model ever sees of the oracle.
    pub fn prompt(&self) -> Prompt {
        Prompt {
            rgb: self.rgb[0].clone(),
            depth_m: Some(self.depth_m[0].clone()),
            pose: self.poses[0],
        }
    }
}

/// Records `steps` ticks of `policy` in the world (episode seed `seed`).
pub fn record(
    spec: &Arc<WorldSpec>,
    k: &Intrinsics,
    policy: &PolicyKind,
    seed: u64,
    steps: usize,
) -> OracleEpisode {
    let mut world = World::new(spec.clone());
    let renderer = Renderer::new(spec);
    let mut p = policy.build(seed);
    let mut ep = OracleEpisode {
        rgb: Vec::with_capacity(steps),
        depth_m: Vec::with_capacity(steps),
        poses: Vec::with_capacity(steps),
        actions: Vec::with_capacity(steps),
        report: serde_json::Value::Null,
    };
    let _ = episode::run::<()>(
        &mut world,
        &renderer,
        k,
        p.as_mut(),
        EpisodeStart { seed, steps },
        |_, f, a| {
            ep.rgb.push(f.rgb.clone());
            ep.depth_m.push(f.depth_m.clone());
            ep.poses.push(f.pose);
            ep.actions.push(*a);
            Ok(())
        },
    );
    ep.report = p.report();
    ep
}

/// Plays `actions[1..]` from `prompt` and returns every generated tick (index 0 = the prompt's).
/// Takes nothing of the oracle but the prompt: the honesty rule by signature.
pub fn rollout(
    model: &WorldModel,
    k: &Intrinsics,
    prompt: &Prompt,
    actions: &[Action],
    options: EngineOptions,
    keep: &dyn Fn(usize) -> bool,
    mut each: impl FnMut(&Generated),
) -> Result<Vec<(usize, Generated)>> {
    let mut engine =
        Engine::new(model, *k, prompt, options).map_err(|e| TrainError::Other(e.to_string()))?;
    let mut kept = Vec::new();
    each(engine.frame());
    if keep(0) {
        kept.push((0, engine.frame().clone()));
    }
    for (t, a) in actions.iter().enumerate().skip(1) {
        let g = engine
            .step(a)
            .map_err(|e| TrainError::Other(e.to_string()))?;
        each(g);
        if keep(t) {
            kept.push((t, g.clone()));
        }
    }
    Ok(kept)
}

fn grey(rgb: &[u8]) -> Vec<f32> {
    rgb.chunks_exact(3)
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect()
}

/// SSIM on luminance (8×8 windows, stride 4; Wang et al. 2004 constants).
pub fn ssim(a: &[u8], b: &[u8], w: usize, h: usize) -> f64 {
    let (ga, gb) = (grey(a), grey(b));
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (mut sum, mut n) = (0.0, 0usize);
    for y in (0..h.saturating_sub(7)).step_by(4) {
        for x in (0..w.saturating_sub(7)).step_by(4) {
            let (mut ma, mut mb, mut va, mut vb, mut cov) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
            for dy in 0..8 {
                for dx in 0..8 {
                    let i = (y + dy) * w + x + dx;
                    ma += f64::from(ga[i]);
                    mb += f64::from(gb[i]);
                }
            }
            ma /= 64.0;
            mb /= 64.0;
            for dy in 0..8 {
                for dx in 0..8 {
                    let i = (y + dy) * w + x + dx;
                    let (da, db) = (f64::from(ga[i]) - ma, f64::from(gb[i]) - mb);
                    va += da * da;
                    vb += db * db;
                    cov += da * db;
                }
            }
            let (va, vb, cov) = (va / 63.0, vb / 63.0, cov / 63.0);
            sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            n += 1;
        }
    }
    if n == 0 { 1.0 } else { sum / n as f64 }
}

/// Gradient energy (mean squared finite differences of luminance).
pub fn gradient_energy(rgb: &[u8], w: usize, h: usize) -> f64 {
    let g = grey(rgb);
    let mut e = 0.0f64;
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            let i = y * w + x;
            e += f64::from(g[i + 1] - g[i]).powi(2) + f64::from(g[i + w] - g[i]).powi(2);
        }
    }
    e / ((w - 1) * (h - 1)) as f64
}

/// Quantiles `qs` (each in 0..1) of `depth / truth` over the pixels where both are finite and
/// `valid` (if given) is positive: how far a generated or warped depth map runs short or long
/// of the truth (NaN where no pixel counts).
pub fn depth_ratio_quantiles(
    depth: &[f32],
    truth: &[f32],
    valid: Option<&[f32]>,
    qs: &[f32],
) -> Vec<f32> {
    let mut r: Vec<f32> = depth
        .iter()
        .zip(truth)
        .enumerate()
        .filter(|&(i, (a, b))| {
            a.is_finite() && b.is_finite() && *b > 0.0 && valid.is_none_or(|v| v[i] > 0.0)
        })
        .map(|(_, (a, b))| a / b)
        .collect();
    r.sort_by(f32::total_cmp);
    qs.iter()
        .map(|&q| {
            r.get(((q * r.len() as f32) as usize).min(r.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f32::NAN)
        })
        .collect()
}

/// Mean luminance (0..255).
pub fn brightness(rgb: &[u8]) -> f64 {
    grey(rgb).iter().map(|&v| f64::from(v)).sum::<f64>() / (rgb.len() / 3) as f64
}

/// Scores of one method at the fidelity horizons (means over episodes).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HorizonScores {
    /// PSNR (dB) per horizon.
    pub psnr_db: Vec<f64>,
    /// SSIM per horizon.
    pub ssim: Vec<f64>,
    /// Gradient energy of generated / oracle per horizon (1 = as sharp; PSNR alone rewards blur).
    pub sharpness_ratio: Vec<f64>,
}

/// Fidelity results.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Fidelity {
    /// Horizons (ticks).
    pub horizons: Vec<usize>,
    /// The model (network, memory on).
    pub model: HorizonScores,
    /// Baseline: the prompt frame repeated (copy-last-frame, open loop).
    pub copy_last_frame: HorizonScores,
    /// Baseline: warp + memory with the model's predicted poses, no network refinement.
    pub warp_memory: HorizonScores,
    /// Episodes averaged.
    pub episodes: usize,
}

/// Control results.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Control {
    /// Seconds of actions.
    pub seconds: f64,
    /// Mean absolute heading error at the end (degrees).
    pub rotation_error_deg: f64,
    /// Mean end-position error as a percentage of the true distance walked.
    pub translation_error_pct: f64,
    /// The same, of the horizontal end-position error only (where the walk went, whatever the
    /// camera's height).
    #[serde(default)]
    pub horizontal_error_pct: f64,
    /// Mean absolute end-height error (m).
    #[serde(default)]
    pub height_error_m: f64,
    /// Mean true distance walked (m).
    pub distance_walked_m: f64,
    /// Walking into a wall: the first seed's test.
    pub wall: Option<WallTest>,
    /// The wall test on every seed (in the order of the seeds; a seed whose spawn has no wall
    /// in reach has none). One walk per world says little: a head that stops at one wall may
    /// walk through the next.
    #[serde(default)]
    pub walls: Vec<Option<WallTest>>,
    /// Of [`Control::walls`], how many were walked ([`Control::walls_tested`]) and how many
    /// stopped in the generated world.
    #[serde(default)]
    pub walls_stopped: usize,
    /// See [`Control::walls_stopped`].
    #[serde(default)]
    pub walls_tested: usize,
}

/// Walking straight at the nearest wall for 4 s.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WallTest {
    /// The wall's distance straight ahead at the start (m, oracle depth).
    pub wall_distance_m: f64,
    /// How far the oracle walker got (m).
    pub true_distance_m: f64,
    /// How far the model says it got (m).
    pub predicted_distance_m: f64,
    /// The model's speed over the last second (m/s); walking speed is ~4.3 m/s.
    pub predicted_last_second_mps: f64,
    /// The oracle's speed over the last second (m/s).
    pub true_last_second_mps: f64,
    /// The model stopped: last-second speed under 25 % of its first-second speed.
    pub stopped: bool,
    /// Nearer candidates straight ahead that the oracle walker did not stop at (ledges it
    /// stepped onto), passed over for this wall.
    #[serde(default)]
    pub walls_passed_over: usize,
}

/// Revisit results for one loop length.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Revisit {
    /// Seconds out.
    pub out_secs: f32,
    /// Whether the loop was walked inside the generated session, by the model's own poses, back
    /// to where the session started (see `walk_loop`). `false` in reports from before: the
    /// oracle's loop actions were replayed, and the generated walker ended wherever they took it.
    #[serde(default)]
    pub closed_loop: bool,
    /// Memory on: the tick at which the generated walker was back at its start pose (None: not
    /// within the policy's time; then nothing is scored).
    pub return_tick: Option<usize>,
    /// Memory off: the same.
    #[serde(default)]
    pub return_tick_memory_off: Option<usize>,
    /// Memory on: PSNR (dB) of the generated frame at the return vs the one generated at tick 0.
    pub self_psnr_memory_on_db: Option<f64>,
    /// Memory off: the same.
    pub self_psnr_memory_off_db: Option<f64>,
    /// Memory on: the frame at the return warped (with its depth) to exactly the start pose,
    /// against the frame of tick 0, PSNR (dB) over the pixels the warp covers. The walker is
    /// back within a few centimetres, but at 128×128 a shift of one pixel alone costs a
    /// textured view about 25 dB; this takes the residual pose error out. None where the warp
    /// covers no pixel (a camera back over its start but far above it).
    #[serde(default)]
    pub self_psnr_aligned_memory_on_db: Option<f64>,
    /// Memory off: the same.
    #[serde(default)]
    pub self_psnr_aligned_memory_off_db: Option<f64>,
    /// Memory on: PSNR vs the oracle's view of the start pose (the prompt frame).
    pub oracle_psnr_memory_on_db: Option<f64>,
    /// Memory off: the same.
    pub oracle_psnr_memory_off_db: Option<f64>,
    /// Memory on: how far the generated session's camera is, at the return (or at the end, if it
    /// never got back), from where it was at tick 0 (metres).
    #[serde(default)]
    pub return_position_error_m: Option<f64>,
    /// Memory off: the same.
    #[serde(default)]
    pub return_position_error_memory_off_m: Option<f64>,
    /// Memory on: the horizontal part of [`Revisit::return_position_error_m`] (metres). The loop
    /// walker counts as back when it stands over its start: this is the part it controls; the
    /// height is what the model's ego-motion made of the walk.
    #[serde(default)]
    pub return_horizontal_error_m: Option<f64>,
    /// Memory on: the same for the heading (degrees).
    #[serde(default)]
    pub return_yaw_error_deg: Option<f64>,
    /// Memory on: ticks on which the generated walker was blocked (a move key held, less than a
    /// quarter of it moved).
    #[serde(default)]
    pub blocked_ticks: Option<usize>,
    /// Memory on, at the return: the memory rendered at exactly the start pose (before the
    /// return frame is written) against the frame of tick 0, PSNR (dB) over the pixels it
    /// covers — what the memory kept of the start, before the network refines it.
    #[serde(default)]
    pub memory_render_self_psnr_db: Option<f64>,
    /// …and the share of pixels that render covers.
    #[serde(default)]
    pub memory_render_coverage: Option<f64>,
}

/// Stability of a long random-policy rollout.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stability {
    /// Minutes rolled out.
    pub minutes: f64,
    /// Mean luminance per minute (0..255).
    pub brightness_per_minute: Vec<f64>,
    /// Largest |minute − minute 1| / minute 1 (%).
    pub max_brightness_drift_pct: f64,
    /// Mean saturation per minute (0..1).
    pub saturation_per_minute: Vec<f64>,
    /// Share of frames that collapsed (luminance std < 2).
    pub collapsed_share: f64,
    /// Mean |Δ mean luminance| between consecutive frames.
    pub flicker: f64,
    /// Mean network + memory tick time (ms).
    pub tick_ms: f64,
    /// For reference, the oracle's own mean luminance per minute along the same random walk
    /// (the policy plays the same actions in the true world): how much of the brightness
    /// change is the scenery the walk passes through (sky, shade, water), not the model.
    #[serde(default)]
    pub oracle_brightness_per_minute: Vec<f64>,
    /// Largest |minute − minute 1| / minute 1 of the oracle's walk (%).
    #[serde(default)]
    pub oracle_max_brightness_drift_pct: f64,
    /// The generated camera's height at the end of each minute, relative to its start (m):
    /// brightness alone does not see a session whose camera sinks into the ground or floats up
    /// into the trees (session 14 found both).
    #[serde(default)]
    pub height_per_minute_m: Vec<f64>,
    /// The true walker's height at the end of each minute, relative to its start (m).
    #[serde(default)]
    pub oracle_height_per_minute_m: Vec<f64>,
    /// Mean detail of each minute's frames (gradient energy, as the sharpness ratio) over the
    /// prompt frame's (an oracle frame at full resolution): a session that melts into fog keeps
    /// its brightness but not this.
    #[serde(default)]
    pub detail_vs_prompt_per_minute: Vec<f64>,
}

/// The whole report.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EvalReport {
    /// Checkpoint evaluated.
    pub checkpoint: String,
    /// World spec file.
    pub world: String,
    /// World seeds (held out from training).
    pub seeds: Vec<u64>,
    /// Fidelity.
    pub fidelity: Fidelity,
    /// Control.
    pub control: Control,
    /// Revisits.
    pub revisit: Vec<Revisit>,
    /// Stability.
    pub stability: Option<Stability>,
    /// The sessions' source temperature ([`EngineOptions::source_temperature`]; reports from
    /// before session 14 lack it, and were made at 1).
    #[serde(default = "as_trained")]
    pub source_temperature: f32,
    /// The sessions' depth source temperature ([`EngineOptions::depth_temperature`]; reports
    /// from before session 31 lack it, and mixed depth as trained).
    #[serde(default = "as_trained")]
    pub depth_temperature: f32,
    /// The sessions' memory configuration (reports from before session 14 lack it; they used
    /// `MemoryConfig::default()`, which has no render budget).
    #[serde(default)]
    pub memory: Option<MemoryConfig>,
    /// Whether the sessions rendered the memory ahead ([`EngineOptions::memory_ahead`]; reports
    /// from before session 15 lack it, and did).
    #[serde(default = "rendered_ahead")]
    pub memory_ahead: bool,
    /// The sessions' vertical dead band ([`EngineOptions::vertical_deadband_m`]; reports from
    /// before session 22 lack it, and had none).
    #[serde(default)]
    pub vertical_deadband_m: f32,
    /// The sessions' fall window ([`EngineOptions::fall_window_ticks`]; reports from before
    /// session 27 lack it, and had none).
    #[serde(default)]
    pub fall_window_ticks: u32,
    /// The sessions' horizontal dead band ([`EngineOptions::horizontal_deadband_m`]; reports
    /// from before session 31 lack it, and had none).
    #[serde(default)]
    pub horizontal_deadband_m: f32,
    /// The sessions' depth median radius ([`EngineOptions::depth_median_radius`]; reports
    /// from before session 33 lack it, and had none).
    #[serde(default)]
    pub depth_median_radius: u32,
    /// Whether the model moved the camera up or down ([`reverie_model::ModelConfig::vertical_motion`];
    /// reports from before session 16 lack it, and did).
    #[serde(default = "rendered_ahead")]
    pub vertical_motion: bool,
    /// Wall time of the evaluation (s).
    pub wall_secs: f64,
}

/// What reports from before a field was added did (render ahead, move vertically).
fn rendered_ahead() -> bool {
    true
}

fn as_trained() -> f32 {
    1.0
}

/// What to run.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// World seeds.
    pub seeds: Vec<u64>,
    /// Fidelity / control episode length (ticks, ≥ 241 for the 10 s horizon).
    pub steps: usize,
    /// Loop lengths (s) for revisits.
    pub loops_secs: Vec<f32>,
    /// Stability rollout minutes (0 = skip).
    pub stability_minutes: f64,
    /// How every session runs (its memory configuration, temperatures, dead bands, fall
    /// window); each protocol sets `use_memory` and `refine` itself.
    pub sessions: EngineOptions,
}

fn scores_at(
    generated: &[(usize, Generated)],
    ep: &OracleEpisode,
    horizons: &[usize],
    w: usize,
    h: usize,
) -> HorizonScores {
    let mut s = HorizonScores::default();
    for &t in horizons {
        let Some((_, g)) = generated.iter().find(|(i, _)| *i == t) else {
            continue;
        };
        s.psnr_db
            .push(psnr_rgb8(&g.rgb, &ep.rgb[t], None).unwrap_or(f64::NAN));
        s.ssim.push(ssim(&g.rgb, &ep.rgb[t], w, h));
        s.sharpness_ratio
            .push(gradient_energy(&g.rgb, w, h) / gradient_energy(&ep.rgb[t], w, h).max(1e-9));
    }
    s
}

fn add_into(acc: &mut HorizonScores, s: &HorizonScores, n: f64) {
    for (dst, src) in [
        (&mut acc.psnr_db, &s.psnr_db),
        (&mut acc.ssim, &s.ssim),
        (&mut acc.sharpness_ratio, &s.sharpness_ratio),
    ] {
        dst.resize(src.len(), 0.0);
        for (d, v) in dst.iter_mut().zip(src) {
            *d += v / n;
        }
    }
}

/// Runs every protocol on `spec` with the model; `say` hears progress lines; the image strip
/// (oracle | model | warp+memory at each horizon, first seed) is written to `strip`.
pub fn evaluate(
    model: &WorldModel,
    spec: &WorldSpec,
    k: &Intrinsics,
    opts: &EvalOptions,
    strip: Option<&Path>,
    say: &dyn Fn(&str),
) -> Result<EvalReport> {
    let started = std::time::Instant::now();
    let (w, h) = (k.width as usize, k.height as usize);
    let horizons: Vec<usize> = HORIZONS
        .iter()
        .copied()
        .filter(|&t| t < opts.steps)
        .collect();
    let mut report = EvalReport {
        seeds: opts.seeds.clone(),
        source_temperature: opts.sessions.source_temperature,
        depth_temperature: opts.sessions.depth_temperature,
        memory: Some(opts.sessions.memory.clone()),
        memory_ahead: opts.sessions.memory_ahead,
        vertical_deadband_m: opts.sessions.vertical_deadband_m,
        fall_window_ticks: opts.sessions.fall_window_ticks,
        horizontal_deadband_m: opts.sessions.horizontal_deadband_m,
        depth_median_radius: opts.sessions.depth_median_radius,
        vertical_motion: model.config().vertical_motion,
        ..EvalReport::default()
    };
    report.fidelity.horizons = horizons.clone();
    let n = opts.seeds.len().max(1) as f64;
    // Every session of the evaluation.
    let base = opts.sessions.clone();
    let engine = |use_memory: bool, refine: Refine| EngineOptions {
        use_memory,
        refine,
        ..base.clone()
    };
    let mut strip_rows: Vec<Vec<u8>> = Vec::new();
    let (mut rot, mut trans, mut dist) = (0.0, 0.0, 0.0);
    let (mut horizontal, mut height) = (0.0, 0.0);
    for (si, &world_seed) in opts.seeds.iter().enumerate() {
        let s = seeded(spec, world_seed);
        say(&format!(
            "seed {world_seed}: fidelity + control ({} ticks)",
            opts.steps
        ));
        let ep = record(
            &s,
            k,
            &PolicyKind::RandomWalk,
            seed::derive(world_seed, &[1]),
            opts.steps,
        );
        let keep = |t: usize| horizons.contains(&t) || t + 1 == opts.steps;
        let generated = rollout(
            model,
            k,
            &ep.prompt(),
            &ep.actions,
            engine(true, Refine::Network),
            &keep,
            |_| {},
        )?;
        let base = rollout(
            model,
            k,
            &ep.prompt(),
            &ep.actions,
            engine(true, Refine::WarpAndMemoryOnly),
            &keep,
            |_| {},
        )?;
        let copy: Vec<(usize, Generated)> = horizons
            .iter()
            .map(|&t| {
                let mut g = generated[0].1.clone();
                g.rgb = ep.rgb[0].clone();
                (t, g)
            })
            .collect();
        add_into(
            &mut report.fidelity.model,
            &scores_at(&generated, &ep, &horizons, w, h),
            n,
        );
        add_into(
            &mut report.fidelity.copy_last_frame,
            &scores_at(&copy, &ep, &horizons, w, h),
            n,
        );
        add_into(
            &mut report.fidelity.warp_memory,
            &scores_at(&base, &ep, &horizons, w, h),
            n,
        );
        if si == 0 {
            for rows in [
                horizons
                    .iter()
                    .map(|&t| ep.rgb[t].clone())
                    .collect::<Vec<_>>(),
                horizons
                    .iter()
                    .filter_map(|&t| {
                        generated
                            .iter()
                            .find(|(i, _)| *i == t)
                            .map(|(_, g)| g.rgb.clone())
                    })
                    .collect(),
                horizons
                    .iter()
                    .filter_map(|&t| {
                        base.iter()
                            .find(|(i, _)| *i == t)
                            .map(|(_, g)| g.rgb.clone())
                    })
                    .collect(),
            ] {
                strip_rows.push(hcat(&rows, w, h));
            }
        }
        // Control over the whole episode.
        let last = opts.steps - 1;
        if let Some((_, g)) = generated.iter().find(|(i, _)| *i == last) {
            let truth = ep.poses[last];
            rot += f64::from(
                reverie_core::pose::wrap_angle(g.pose.yaw_rad - truth.yaw_rad)
                    .abs()
                    .to_degrees(),
            ) / n;
            let e = EndError::of(&g.pose, &ep.poses);
            trans += e.translation_pct / n;
            horizontal += e.horizontal_pct / n;
            height += e.height_m / n;
            dist += e.walked_m / n;
        }
    }
    report.fidelity.episodes = opts.seeds.len();
    report.control = Control {
        seconds: (opts.steps - 1) as f64 / f64::from(TICK_HZ),
        rotation_error_deg: rot,
        translation_error_pct: trans,
        horizontal_error_pct: horizontal,
        height_error_m: height,
        distance_walked_m: dist,
        ..Control::default()
    };
    say("wall tests");
    for &world_seed in &opts.seeds {
        let t = wall_test(model, spec, k, world_seed, &base)?;
        if let Some(t) = &t {
            report.control.walls_tested += 1;
            report.control.walls_stopped += usize::from(t.stopped);
        }
        report.control.walls.push(t);
    }
    report.control.wall = report.control.walls.first().cloned().flatten();
    say(&format!(
        "  stopped at {} of {} walls",
        report.control.walls_stopped, report.control.walls_tested
    ));
    if let (Some(path), false) = (strip, strip_rows.is_empty()) {
        let width = w * horizons.len();
        let img: Vec<u8> = strip_rows.concat();
        reverie_world::imageio::write_png(path, width as u32, (h * strip_rows.len()) as u32, &img)
            .map_err(|e| TrainError::file(path, e))?;
    }

    if let Some(&world_seed) = opts.seeds.first() {
        let mut revisit_rows = Vec::new();
        for &secs in &opts.loops_secs {
            say(&format!("revisit: loop {secs} s out and back"));
            let (r, row) = revisit(model, spec, k, world_seed, secs, &base)?;
            revisit_rows.push(hcat(&row, w, h));
            let db = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} dB"));
            say(&format!(
                "  memory on: back at tick {:?}, self {} (aligned {}; oracle {}; the memory's render {} over {:.1} %); memory off: back at tick {:?}, self {} (aligned {}; oracle {})",
                r.return_tick,
                db(r.self_psnr_memory_on_db),
                db(r.self_psnr_aligned_memory_on_db),
                db(r.oracle_psnr_memory_on_db),
                db(r.memory_render_self_psnr_db),
                r.memory_render_coverage.unwrap_or(0.0) * 100.0,
                r.return_tick_memory_off,
                db(r.self_psnr_memory_off_db),
                db(r.self_psnr_aligned_memory_off_db),
                db(r.oracle_psnr_memory_off_db),
            ));
            report.revisit.push(r);
        }
        if let (Some(path), false) = (strip, revisit_rows.is_empty()) {
            let path = revisit_strip_path(path);
            let img: Vec<u8> = revisit_rows.concat();
            reverie_world::imageio::write_png(
                &path,
                (w * 4) as u32,
                (h * revisit_rows.len()) as u32,
                &img,
            )
            .map_err(|e| TrainError::file(&path, e))?;
        }
        if opts.stability_minutes > 0.0 {
            say(&format!(
                "stability: {} minutes of random policy",
                opts.stability_minutes
            ));
            let (st, rows) = stability(model, spec, k, world_seed, opts.stability_minutes, &base)?;
            report.stability = Some(st);
            if let (Some(path), false) = (strip, rows[1].is_empty()) {
                let path = stability_strip_path(path);
                let cols = rows[1].len();
                let img: Vec<u8> = rows.iter().flat_map(|r| hcat(r, w, h)).collect();
                reverie_world::imageio::write_png(
                    &path,
                    (w * cols) as u32,
                    (h * rows.len()) as u32,
                    &img,
                )
                .map_err(|e| TrainError::file(&path, e))?;
            }
        }
    }
    report.wall_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The spec with its world seed replaced.
fn seeded(spec: &WorldSpec, world_seed: u64) -> Arc<WorldSpec> {
    let mut s = spec.clone();
    s.generator.seed = world_seed;
    Arc::new(s)
}

fn hcat(frames: &[Vec<u8>], w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames.len() * w * h * 3);
    for y in 0..h {
        for f in frames {
            out.extend_from_slice(&f[y * w * 3..(y + 1) * w * 3]);
        }
    }
    out
}

/// An oracle walk straight at a wall ([`wall_walk`]).
#[derive(Clone, Debug)]
pub struct WallWalk {
    /// The tick the walk starts at (the turns before it are not part of the test).
    pub start: usize,
    /// The wall's distance straight ahead at `start` (m).
    pub wall_distance_m: f32,
    /// Nearer candidates that turned out to be no wall (a ledge the walker stepped onto).
    pub passed_over: usize,
    /// The episode: turns to the wall's heading, then 4 s of walking forward.
    pub episode: OracleEpisode,
}

/// The median depth of the 8×8 pixels at the centre of a `w`×`h` depth map (m; `+inf` sky):
/// how far the view straight ahead reaches.
pub fn depth_ahead(depth: &[f32], w: usize, h: usize) -> f32 {
    let mut v: Vec<f32> = (h / 2 - 4..h / 2 + 4)
        .flat_map(|y| (w / 2 - 4..w / 2 + 4).map(move |x| (y, x)))
        .map(|(y, x)| depth[y * w + x])
        .collect();
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// A depth map as a grey RGB picture for diagnostics: inverse depth, 1 m and nearer white,
/// sky black.
pub fn depth_picture(depth: &[f32]) -> Vec<u8> {
    depth
        .iter()
        .flat_map(|&d| {
            let v = if d.is_finite() {
                (255.0 / d.max(1.0)).min(255.0) as u8
            } else {
                0
            };
            [v, v, v]
        })
        .collect()
}

/// The wall test's oracle walk in world seed `world_seed` from the spawn of `episode_seed`: look
/// around (16 headings), take the nearest wall straight ahead 2–10 m away that stops the
/// oracle walker, turn to it and walk forward 4 s. `None` when no heading has one.
pub fn wall_walk(
    spec: &WorldSpec,
    k: &Intrinsics,
    world_seed: u64,
    episode_seed: u64,
) -> Option<WallWalk> {
    let s = seeded(spec, world_seed);
    // Look around at the spawn (16 headings) and pick the nearest wall straight ahead, 2–10 m,
    // that stops the oracle walker.
    let turn = std::f32::consts::TAU / 16.0;
    let script = |actions: Vec<Action>| PolicyKind::Script {
        path: "wall-test".into(),
        actions: Arc::new(actions),
    };
    let turns: Vec<Action> = (0..15).map(|_| Action::IDLE.with_look(turn, 0.0)).collect();
    // Frame i looks i sixteenths of a turn to the right of the spawn heading.
    let look = record(&s, k, &script(turns.clone()), episode_seed, 16);
    let (w, h) = (k.width as usize, k.height as usize);
    let ahead = |d: &[f32]| depth_ahead(d, w, h);
    // Candidates nearest first; the test needs a real wall, one the oracle walker stops at (a
    // one-block ledge straight ahead is stepped onto, and then nothing should stop).
    let mut candidates: Vec<(usize, f32)> = (0..16)
        .map(|i| (i, ahead(&look.depth_m[i])))
        .filter(|(_, d)| (2.0..=10.0).contains(d))
        .collect();
    candidates.sort_by(|a, b| a.1.total_cmp(&b.1));
    let walk = 4 * TICK_HZ as usize;
    let sec = TICK_HZ as usize;
    let dist = |p: &[Pose]| f64::from((p[p.len() - 1].position - p[0].position).length());
    for (passed_over, &(turns_needed, wall_distance)) in candidates.iter().enumerate() {
        // Turn there (not scored), then walk forward 4 s.
        let mut actions: Vec<Action> = turns[..turns_needed].to_vec();
        actions.extend(std::iter::repeat_n(Action::keys(Keys::FORWARD), walk));
        let ep = record(
            &s,
            k,
            &script(actions),
            episode_seed,
            turns_needed + walk + 1,
        );
        let truth = &ep.poses[turns_needed..];
        if dist(&truth[truth.len() - 1 - sec..]) < 0.25 * dist(&truth[..=sec]).max(1e-3) {
            return Some(WallWalk {
                start: turns_needed,
                wall_distance_m: wall_distance,
                passed_over,
                episode: ep,
            });
        }
    }
    None
}

/// The end point of a walk against the oracle's (`reverie eval`'s control measure).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EndError {
    /// Distance from the oracle's end point, % of the distance the oracle walked.
    pub translation_pct: f64,
    /// The same on the ground plane.
    pub horizontal_pct: f64,
    /// Absolute height difference (m).
    pub height_m: f64,
    /// The distance the oracle walked (m).
    pub walked_m: f64,
}

impl EndError {
    /// Of a session ending at `end` against the oracle's poses `truth` (same start, same
    /// actions).
    pub fn of(end: &Pose, truth: &[Pose]) -> EndError {
        let walked: f32 = truth
            .windows(2)
            .map(|p| (p[1].position - p[0].position).length())
            .sum();
        let off = truth
            .last()
            .map_or(Vec3::ZERO, |t| end.position - t.position);
        let pct = |d: f32| f64::from(d / walked.max(1e-3) * 100.0);
        EndError {
            translation_pct: pct(off.length()),
            horizontal_pct: pct(off.with_y(0.0).length()),
            height_m: f64::from(off.y.abs()),
            walked_m: f64::from(walked),
        }
    }
}

/// Whether a walk at a wall (one pose per tick, at least a second and a tick) stopped: its
/// last second covered under 25 % of its first second's distance.
pub fn stopped_at_wall(poses: &[Pose]) -> bool {
    let sec = TICK_HZ as usize;
    if poses.len() <= sec + 1 {
        return false;
    }
    let dist = |p: &[Pose]| (p[p.len() - 1].position - p[0].position).length();
    dist(&poses[poses.len() - 1 - sec..]) < 0.25 * dist(&poses[..=sec]).max(1e-3)
}

fn wall_test(
    model: &WorldModel,
    spec: &WorldSpec,
    k: &Intrinsics,
    world_seed: u64,
    options: &EngineOptions,
) -> Result<Option<WallTest>> {
    let Some(WallWalk {
        start,
        wall_distance_m: wall_distance,
        passed_over,
        episode: ep,
    }) = wall_walk(spec, k, world_seed, seed::derive(world_seed, &[2]))
    else {
        return Ok(None);
    };
    let sec = TICK_HZ as usize;
    let dist = |p: &[Pose]| f64::from((p[p.len() - 1].position - p[0].position).length());
    let prompt = Prompt {
        rgb: ep.rgb[start].clone(),
        depth_m: Some(ep.depth_m[start].clone()),
        pose: ep.poses[start],
    };
    let mut poses = Vec::new();
    rollout(
        model,
        k,
        &prompt,
        &ep.actions[start..],
        options.clone(),
        &|_| false,
        |g| poses.push(g.pose),
    )?;
    let truth = &ep.poses[start..];
    let pred_last = dist(&poses[poses.len() - 1 - sec..]);
    Ok(Some(WallTest {
        wall_distance_m: f64::from(wall_distance),
        true_distance_m: dist(truth),
        predicted_distance_m: dist(&poses),
        predicted_last_second_mps: pred_last,
        true_last_second_mps: dist(&truth[truth.len() - 1 - sec..]),
        stopped: stopped_at_wall(&poses),
        walls_passed_over: passed_over,
    }))
}

fn revisit(
    model: &WorldModel,
    spec: &WorldSpec,
    k: &Intrinsics,
    world_seed: u64,
    out_secs: f32,
    options: &EngineOptions,
) -> Result<(Revisit, Vec<Vec<u8>>)> {
    let s = seeded(spec, world_seed);
    let kind = PolicyKind::LoopAndReturn { out_secs };
    let policy_seed = seed::derive(world_seed, &[3]);
    // The oracle is needed for the prompt only (and, after the session, to score its start view).
    let ep = record(&s, k, &kind, policy_seed, 1);
    let mut r = Revisit {
        out_secs,
        closed_loop: true,
        ..Revisit::default()
    };
    let mut row = vec![ep.rgb[0].clone()];
    for use_memory in [true, false] {
        let walk = walk_loop(
            model,
            k,
            &ep.prompt(),
            &kind,
            policy_seed,
            EngineOptions {
                use_memory,
                refine: Refine::Network,
                ..options.clone()
            },
        )?;
        let (first, back) = (&walk.first, &walk.last);
        if use_memory {
            row.push(first.rgb.clone());
        }
        row.push(back.rgb.clone());
        // Only a walker back at its start is scored: elsewhere the two frames show different
        // places, and their PSNR says nothing about consistency.
        let scored = walk.returned.is_some();
        let self_psnr = psnr_rgb8(&back.rgb, &first.rgb, None).filter(|_| scored);
        let mut aligned = View::new(k);
        reverie_memory::warp(
            k,
            &back.rgb,
            &back.depth_m,
            &back.pose,
            &first.pose,
            options.memory.splatting(),
            &mut aligned,
        )
        .map_err(|e| TrainError::Other(e.to_string()))?;
        let aligned_psnr =
            psnr_rgb8(&aligned.rgb, &first.rgb, Some(&aligned.mask())).filter(|_| scored);
        // The oracle's view from the start pose is the prompt frame.
        let oracle_psnr = psnr_rgb8(&back.rgb, &ep.rgb[0], None).filter(|_| scored);
        let offset = back.pose.position - first.pose.position;
        let position_error = Some(f64::from(offset.length()));
        let horizontal_error = Some(f64::from(offset.x.hypot(offset.z)));
        let yaw_error = Some(f64::from(
            reverie_core::pose::wrap_angle(back.pose.yaw_rad - first.pose.yaw_rad)
                .abs()
                .to_degrees(),
        ));
        if use_memory {
            r.return_tick = walk.returned;
            r.self_psnr_memory_on_db = self_psnr;
            r.self_psnr_aligned_memory_on_db = aligned_psnr;
            r.oracle_psnr_memory_on_db = oracle_psnr;
            r.return_position_error_m = position_error;
            r.return_horizontal_error_m = horizontal_error;
            r.return_yaw_error_deg = yaw_error;
            r.blocked_ticks = Some(walk.blocked_ticks);
            if let (Some(v), true) = (&walk.memory_view, scored) {
                r.memory_render_self_psnr_db = psnr_rgb8(&v.rgb, &first.rgb, Some(&v.mask()));
                r.memory_render_coverage = Some(v.coverage());
            }
        } else {
            r.return_tick_memory_off = walk.returned;
            r.self_psnr_memory_off_db = self_psnr;
            r.self_psnr_aligned_memory_off_db = aligned_psnr;
            r.oracle_psnr_memory_off_db = oracle_psnr;
            r.return_position_error_memory_off_m = position_error;
        }
    }
    Ok((r, row))
}

/// Where [`evaluate`] writes the revisit strip beside the fidelity strip `strip`: `X.png` →
/// `X-revisit.png`. One row per loop: the oracle's start view (the prompt) | the session's frame
/// at tick 0 | at the return, memory on | at the return, memory off (the last frame where the
/// walker never got back).
pub fn revisit_strip_path(strip: &Path) -> std::path::PathBuf {
    let stem = strip
        .file_stem()
        .map_or_else(|| "eval".into(), |s| s.to_string_lossy().into_owned());
    strip.with_file_name(format!("{stem}-revisit.png"))
}

/// Where [`evaluate`] writes the stability strip beside the fidelity strip `strip`: `X.png` →
/// `X-stability.png`. Two rows, one picture per minute of the rollout (its last tick): the
/// oracle at the true walker's pose, and the session's frame (whose pose has drifted from it).
pub fn stability_strip_path(strip: &Path) -> std::path::PathBuf {
    let stem = strip
        .file_stem()
        .map_or_else(|| "eval".into(), |s| s.to_string_lossy().into_owned());
    strip.with_file_name(format!("{stem}-stability.png"))
}

/// A loop-and-return walked inside a generated session.
struct LoopWalk {
    /// The session's frame at tick 0.
    first: Generated,
    /// The memory rendered at the start pose just before the return frame (memory on, if it
    /// got back).
    memory_view: Option<View>,
    /// Its frame at the return, or at the last tick if it never got back.
    last: Generated,
    /// The tick at which the walker was back at its start pose.
    returned: Option<usize>,
    /// Ticks on which a move key was held and the walker moved less than half of it.
    blocked_ticks: usize,
}

/// Walks `kind` (a loop-and-return) in a session of `model` from `prompt`, closed loop: each
/// tick the policy sees only the session's own walker — the model's pose; on the ground when the
/// model's step has no vertical motion; blocked when a move key was held and the model moved
/// less than half of what the keys ask for — never the oracle (the honesty rule: no world is
/// passed, only what [`reverie_world::policy::BlindPolicy`] needs). So the walker comes back to
/// its start pose *in the generated world*, however the model's collisions differ from the
/// oracle's, and what the session shows there can be compared with what it showed at tick 0.
/// Stops at the return, or after twice the policy's [`PolicyKind::min_steps`] (a generated
/// walker is slower than the oracle's: it stops at what its session drew in its way).
fn walk_loop(
    model: &WorldModel,
    k: &Intrinsics,
    prompt: &Prompt,
    kind: &PolicyKind,
    policy_seed: u64,
    options: EngineOptions,
) -> Result<LoopWalk> {
    let mut policy = kind.build_blind(policy_seed).ok_or_else(|| {
        TrainError::Other(format!(
            "policy {kind} looks at the world; it cannot walk a generated one"
        ))
    })?;
    let mut engine =
        Engine::new(model, *k, prompt, options).map_err(|e| TrainError::Other(e.to_string()))?;
    let first = engine.frame().clone();
    let body = Player::new(Vec3::ZERO, 0.0).body;
    let at = |pose: &Pose| pose.position - Vec3::new(0.0, body.eye_height, 0.0);
    let mut player = Player::new(at(&first.pose), first.pose.yaw_rad);
    player.pitch_rad = first.pose.pitch_rad;
    player.on_ground = true;
    let mut blocked_ticks = 0;
    let mut returned = None;
    let mut memory_view = None;
    for t in 1..=2 * kind.min_steps() {
        let a = policy.act_blind(&player, t as u64);
        let back = !policy.report()["returned_tick"].is_null();
        if back && engine.options().use_memory {
            let mut v = View::new(k);
            engine.memory().render(&first.pose, k, &mut v);
            memory_view = Some(v);
        }
        let g = engine
            .step(&a)
            .map_err(|e| TrainError::Other(e.to_string()))?;
        if back {
            returned = Some(t);
            break;
        }
        let asked = EgoMotion::intended(&a, body.walk_speed, body.sprint_speed);
        let (asked_m, moved_m) = (
            asked.right_m.hypot(asked.forward_m),
            g.motion.right_m.hypot(g.motion.forward_m),
        );
        player.blocked = asked_m > 0.0 && moved_m < 0.25 * asked_m;
        blocked_ticks += usize::from(player.blocked);
        player.on_ground = g.motion.up_m.abs() < 0.02;
        player.feet = at(&g.pose);
        player.yaw_rad = g.pose.yaw_rad;
        player.pitch_rad = g.pose.pitch_rad;
    }
    Ok(LoopWalk {
        first,
        memory_view,
        last: engine.frame().clone(),
        returned,
        blocked_ticks,
    })
}

fn saturation(rgb: &[u8]) -> f64 {
    rgb.chunks_exact(3)
        .map(|p| {
            let mx = f64::from(p[0].max(p[1]).max(p[2]));
            let mn = f64::from(p[0].min(p[1]).min(p[2]));
            if mx > 0.0 { (mx - mn) / mx } else { 0.0 }
        })
        .sum::<f64>()
        / (rgb.len() / 3) as f64
}

/// Largest |x − x₀| / x₀ over a series (%).
fn max_drift_pct(series: &[f64]) -> f64 {
    let first = series.first().copied().unwrap_or(0.0).max(1e-9);
    series
        .iter()
        .map(|b| (b - first).abs() / first * 100.0)
        .fold(0.0, f64::max)
}

/// The stability protocol's walk in world `spec` (its seed already `world_seed`): `minutes` of
/// the random policy recorded at 32×32 (the actions, poses and the oracle's brightness for
/// reference: a small resolution is enough for a mean and keeps the oracle cheap), and its
/// first tick at `k` (the session's prompt).
pub fn stability_walk(
    spec: &Arc<WorldSpec>,
    k: &Intrinsics,
    world_seed: u64,
    minutes: f64,
) -> Result<(OracleEpisode, OracleEpisode)> {
    let steps = (minutes * 60.0 * f64::from(TICK_HZ)).round() as usize + 1;
    let tiny = Intrinsics::from_vfov_deg(32, 32, k.vfov_rad().to_degrees())
        .map_err(|e| TrainError::Other(e.to_string()))?;
    let policy_seed = seed::derive(world_seed, &[4]);
    let ep = record(spec, &tiny, &PolicyKind::RandomWalk, policy_seed, steps);
    let start = record(spec, k, &PolicyKind::RandomWalk, policy_seed, 1);
    Ok((ep, start))
}

fn stability(
    model: &WorldModel,
    spec: &WorldSpec,
    k: &Intrinsics,
    world_seed: u64,
    minutes: f64,
    options: &EngineOptions,
) -> Result<(Stability, [Vec<Vec<u8>>; 2])> {
    let s = seeded(spec, world_seed);
    let (ep, start) = stability_walk(&s, k, world_seed, minutes)?;
    let per_min = 60 * TICK_HZ as usize;
    let (w, h) = (k.width as usize, k.height as usize);
    let prompt_detail = gradient_energy(&start.rgb[0], w, h).max(1e-9);
    let y0 = start.poses[0].position.y;
    let (mut bright, mut sat) = (vec![0.0f64; 0], vec![0.0f64; 0]);
    let (mut detail, mut height) = (vec![0.0f64; 0], vec![0.0f64; 0]);
    let (mut b_acc, mut s_acc, mut d_acc, mut count) = (0.0, 0.0, 0.0, 0usize);
    let (mut collapsed, mut flicker, mut prev_b, mut frames) = (0usize, 0.0, None::<f64>, 0usize);
    let mut tick_ms = 0.0;
    let mut last_y = y0;
    // The session's last frame of each minute, and the tick it is.
    let (mut shown, mut shown_ticks) = (Vec::new(), Vec::new());
    let (mut tick, mut last_rgb) = (0usize, Vec::new());
    rollout(
        model,
        k,
        &start.prompt(),
        &ep.actions,
        options.clone(),
        &|_| false,
        |g| {
            let b = brightness(&g.rgb);
            let gy = grey(&g.rgb);
            let mean = gy.iter().map(|&v| f64::from(v)).sum::<f64>() / gy.len() as f64;
            let var = gy
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / gy.len() as f64;
            if var.sqrt() < 2.0 {
                collapsed += 1;
            }
            if let Some(p) = prev_b {
                flicker += (b - p).abs();
            }
            prev_b = Some(b);
            b_acc += b;
            s_acc += saturation(&g.rgb);
            d_acc += gradient_energy(&g.rgb, w, h) / prompt_detail;
            count += 1;
            frames += 1;
            tick_ms += g.times.total_ms();
            if count == per_min {
                shown.push(g.rgb.clone());
                shown_ticks.push(tick);
                bright.push(b_acc / count as f64);
                sat.push(s_acc / count as f64);
                detail.push(d_acc / count as f64);
                height.push(f64::from(g.pose.position.y - y0));
                (b_acc, s_acc, d_acc, count) = (0.0, 0.0, 0.0, 0);
            }
            last_y = g.pose.position.y;
            last_rgb.clone_from(&g.rgb);
            tick += 1;
        },
    )?;
    if count > per_min / 2 || bright.is_empty() {
        bright.push(b_acc / count.max(1) as f64);
        sat.push(s_acc / count.max(1) as f64);
        detail.push(d_acc / count.max(1) as f64);
        height.push(f64::from(last_y - y0));
        shown.push(last_rgb);
        shown_ticks.push(tick.saturating_sub(1));
    }
    // The true walker's height where each of those minutes ended.
    let oracle_height: Vec<f64> = (1..=height.len())
        .map(|m| {
            let t = (m * per_min).min(ep.poses.len() - 1);
            f64::from(ep.poses[t].position.y - ep.poses[0].position.y)
        })
        .collect();
    let oracle: Vec<f64> = ep
        .rgb
        .chunks(per_min)
        .enumerate()
        .filter(|(i, c)| *i == 0 || c.len() > per_min / 2)
        .map(|(_, c)| c.iter().map(|f| brightness(f)).sum::<f64>() / c.len() as f64)
        .collect();
    // The oracle at the true walker's pose on those ticks (after the session: nothing of it
    // reaches the model).
    let mut world = World::new(s.clone());
    let renderer = Renderer::new(&s);
    let truth: Vec<Vec<u8>> = shown_ticks
        .iter()
        .map(|&t| {
            renderer
                .render_frame(&mut world, &ep.poses[t], k, t as u64)
                .rgb
        })
        .collect();
    let stability = Stability {
        minutes,
        max_brightness_drift_pct: max_drift_pct(&bright),
        oracle_max_brightness_drift_pct: max_drift_pct(&oracle),
        oracle_brightness_per_minute: oracle,
        brightness_per_minute: bright,
        saturation_per_minute: sat,
        collapsed_share: collapsed as f64 / frames.max(1) as f64,
        flicker: flicker / (frames.max(2) - 1) as f64,
        tick_ms: tick_ms / frames.max(1) as f64,
        height_per_minute_m: height,
        oracle_height_per_minute_m: oracle_height,
        detail_vs_prompt_per_minute: detail,
    };
    Ok((stability, [truth, shown]))
}
