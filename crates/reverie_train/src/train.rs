//! The training loop: sequences of oracle ticks with memory renders, the model run autoregressively
//! over each (its own outputs warped into the next pose once self-forcing ramps in), losses on
//! colour, image gradients, depth and ego-motion, AdamW with warm-up + cosine, checkpoints that
//! resume exactly, metrics CSV/JSON and a loss-curve PNG.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use reverie_core::{Action, EgoMotion, Intrinsics, seed};
use reverie_memory::{MemoryConfig, SpatialMemory, View, warp};
use reverie_model::model::{actions_tensor, depth_to_code, guides_tensor};
use reverie_model::{Guide, WorldModel, checkpoint};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::{Sequence, TrainData};
use crate::error::{Result, TrainError};
use crate::loss;
use crate::optim::{AdamW, NonFinite};

/// Consecutive skipped (non-finite) updates after which training stops.
const MAX_BAD_STEPS: usize = 10;
use crate::plot::{Series, line_chart};

/// Loss terms of one batch (means over its frames).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LossParts {
    /// Weighted total.
    pub total: f64,
    /// L1 colour.
    pub rgb_l1: f64,
    /// L1 image gradients.
    pub rgb_grad: f64,
    /// L1 depth code.
    pub depth: f64,
    /// L1 depth-code gradients.
    #[serde(default)]
    pub depth_grad: f64,
    /// L1 ego-motion (in motion-scale units).
    pub motion: f64,
    /// PSNR (dB) of the last generated tick against the oracle.
    pub last_psnr_db: f64,
}

/// How each sequence of a batch is run.
#[derive(Clone, Debug)]
pub struct SequencePlan {
    /// Warp the model's own previous output (else the oracle's previous frame).
    pub self_forcing: bool,
    /// Give the memory render (else an empty memory).
    pub memory: bool,
    /// With `memory` and `self_forcing`: the render of a memory the sequence builds from its
    /// own frames, as a session does (else the dataset's render of the oracle's frames).
    pub session_memory: bool,
    /// Give the prompt's depth (else the model must infer it).
    pub prompt_depth: bool,
    /// σ of the uniform noise added to guide colours (0..1 scale).
    pub noise: f32,
    /// Seed of that noise.
    pub noise_seed: u64,
}

fn noisy(rgb: &[u8], sigma: f32, seed: u64) -> Vec<u8> {
    if sigma <= 0.0 {
        return rgb.to_vec();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let a = sigma * 255.0 * 3f32.sqrt();
    rgb.iter()
        .map(|&v| {
            (f32::from(v) + rng.random_range(-a..=a))
                .round()
                .clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// The ego-motion the model is taught for tick `t` (≥ 1) of `s`: from its camera at tick t − 1
/// (pose t − 1, lifted by [`Sequence::start_offsets`]) to pose t.
pub fn motion_target(s: &Sequence, t: usize) -> EgoMotion {
    let mut from = s.poses[t - 1];
    from.position.y += s.start_offsets[t];
    EgoMotion::between(&from, &s.poses[t])
}

/// Runs the model over a batch of sequences (tick 0 is the prompt) and returns the weighted
/// loss tensor (for backward) and its parts.
pub fn run_batch(
    model: &WorldModel,
    cfg: &TrainConfig,
    k: &Intrinsics,
    seqs: &[Sequence],
    plans: &[SequencePlan],
    memory_config: &MemoryConfig,
) -> Result<(Tensor, LossParts)> {
    let dev = model.device().clone();
    let mc = model.config();
    let (w, h) = (mc.width, mc.height);
    let n = w * h;
    if (k.width as usize, k.height as usize) != (w, h) {
        return Err(TrainError::Other(format!(
            "data is {}×{}, the model is {w}×{h}",
            k.width, k.height
        )));
    }
    let b = seqs.len();
    let len = seqs[0].poses.len();
    let target = |t: usize| -> Result<(Tensor, Tensor)> {
        let mut rgb = Vec::with_capacity(b * n * 3);
        let mut code = Vec::with_capacity(b * n);
        for s in seqs {
            rgb.extend(
                s.rgb[t * 3 * n..(t + 1) * 3 * n]
                    .iter()
                    .map(|&v| f32::from(v) / 255.0),
            );
            code.extend(
                s.depth_m[t * n..(t + 1) * n]
                    .iter()
                    .map(|&d| depth_to_code(d)),
            );
        }
        Ok((
            Tensor::from_vec(rgb, (b, h, w, 3), &dev)?,
            Tensor::from_vec(code, (b, h, w, 1), &dev)?,
        ))
    };
    let lw = &cfg.loss;
    let mut total = Tensor::zeros((), DType::F32, &dev)?;
    let mut parts = LossParts::default();
    let mut add_frame =
        |total: &mut Tensor, out: &reverie_model::StepOutput, t: usize| -> Result<f64> {
            let (trgb, tcode) = target(t)?;
            let rgb = out.rgb()?;
            let l1 = loss::l1(&rgb, &trgb)?;
            let grad = loss::gradient_l1(&rgb, &trgb)?;
            let code = out.depth_code()?;
            let depth = loss::l1(&code, &tcode)?;
            let depth_grad = loss::gradient_l1(&code, &tcode)?;
            let frame = (((&l1 * lw.rgb_l1)? + (&grad * lw.rgb_grad)?)?
                + ((&depth * lw.depth)? + (&depth_grad * lw.depth_grad)?)?)?;
            *total = (&*total + frame)?;
            parts.rgb_l1 += f64::from(l1.to_scalar::<f32>()?);
            parts.rgb_grad += f64::from(grad.to_scalar::<f32>()?);
            parts.depth += f64::from(depth.to_scalar::<f32>()?);
            parts.depth_grad += f64::from(depth_grad.to_scalar::<f32>()?);
            let mse = f64::from((rgb - trgb)?.sqr()?.mean_all()?.to_scalar::<f32>()?);
            Ok(mse)
        };

    // Tick 0: the prompt.
    let prompt_guides: Vec<Guide> = seqs
        .iter()
        .zip(plans)
        .map(|(s, p)| Guide {
            rgb: &s.rgb[..3 * n],
            depth_m: p.prompt_depth.then(|| &s.depth_m[..n]),
            confidence: None,
        })
        .collect();
    let g0 = guides_tensor(mc, &prompt_guides, &vec![Guide::EMPTY; b], &dev)?;
    let (mut state, out) = model.prompt(&[g0])?;
    let mut last_mse = add_frame(&mut total, &out, 0)?;
    let mut prev = own_frames(&out, seqs, plans, 0, n)?;
    // The motion head reads the depth of the frame the session shows: the model's own output.
    let mut shown_code = out.depth_code()?.detach();
    let mut views: Vec<View> = (0..b).map(|_| View::new(k)).collect();
    // Sequences whose memory is their own, as a session's is: the prompt frame as the engine
    // writes it (its depth where the prompt gave one), then every frame the model makes.
    let mut sessions: Vec<Option<(SpatialMemory, View)>> = seqs
        .iter()
        .zip(plans)
        .zip(&prev)
        .map(|((s, p), (rgb, depth))| {
            if !(p.memory && p.session_memory && p.self_forcing) {
                return Ok(None);
            }
            let mut m = SpatialMemory::new(memory_config.clone())?;
            let depth = if p.prompt_depth {
                &s.depth_m[..n]
            } else {
                &depth[..]
            };
            m.write(k, rgb, depth, &s.poses[0], 0)?;
            m.pin_view(k, rgb, depth, &s.poses[0])?;
            Ok(Some((m, View::new(k))))
        })
        .collect::<Result<_>>()?;

    // Per sequence, a `vertical_momentum` head's lift and previous vertical motion.
    let mut lifts = vec![(reverie_runtime::Lift::default(), None); seqs.len()];
    let window = reverie_runtime::EngineOptions::default().fall_window_ticks;
    for t in 1..len {
        let actions: Vec<Action> = seqs.iter().map(|s| s.actions[t]).collect();
        let a = actions_tensor(&actions, &dev)?;
        // The motion context: the ground probe, then (a `vertical_momentum` head) the previous
        // tick's target vertical motion as a session reads its own
        // (`reverie_runtime::Lift::airborne_motion`; on the ground before the first).
        let contexts: Vec<Vec<f32>> = seqs
            .iter()
            .zip(&mut lifts)
            .map(|(s, (lift, previous))| {
                let mut c = s.probe[t].clone();
                if mc.vertical_momentum {
                    c.extend(reverie_model::ModelConfig::airborne_features(*previous));
                    let up = motion_target(s, t).up_m;
                    *lift = lift.after(up, window);
                    *previous = lift.airborne_motion(up);
                }
                c
            })
            .collect();
        let probes: Vec<&[f32]> = contexts.iter().map(Vec::as_slice).collect();
        let probe = model.probe_tensor(&probes)?;
        // Without `motion_trains_state` the head reads a detached copy of the state.
        let head_only;
        let motion_state = if lw.motion_trains_state {
            &state
        } else {
            head_only = reverie_model::State {
                h: state.h.detach(),
            };
            &head_only
        };
        let motion = model.predict_motion(motion_state, &actions, &shown_code, &probe)?;
        let truth: Vec<f32> = seqs
            .iter()
            .flat_map(|s| motion_target(s, t).to_array())
            .collect();
        let ml = loss::motion_l1(&motion, &truth, lw.motion_rise as f32)?;
        total = (total + (&ml * lw.motion)?)?;
        parts.motion += f64::from(ml.to_scalar::<f32>()?);

        views
            .par_iter_mut()
            .zip(seqs.par_iter().zip(prev.par_iter()))
            .try_for_each(|(view, (s, (rgb, depth)))| {
                warp(
                    k,
                    rgb,
                    depth,
                    &s.poses[t - 1],
                    &s.poses[t],
                    memory_config.splatting(),
                    view,
                )
            })?;
        let warped_rgb: Vec<Vec<u8>> = views
            .iter()
            .zip(plans)
            .map(|(v, p)| noisy(&v.rgb, p.noise, seed::derive(p.noise_seed, &[t as u64, 0])))
            .collect();
        sessions
            .par_iter_mut()
            .zip(seqs.par_iter())
            .for_each(|(session, s)| {
                if let Some((m, view)) = session {
                    m.render(&s.poses[t], k, view);
                }
            });
        let memory_rgb: Vec<Vec<u8>> = seqs
            .iter()
            .zip(plans)
            .zip(&sessions)
            .map(|((s, p), session)| {
                let rgb = match session {
                    Some((_, view)) => &view.rgb,
                    None => &s.memory[t].rgb,
                };
                noisy(rgb, p.noise, seed::derive(p.noise_seed, &[t as u64, 1]))
            })
            .collect();
        let warps: Vec<Guide> = views
            .iter()
            .zip(&warped_rgb)
            .map(|(v, rgb)| Guide {
                rgb,
                depth_m: Some(&v.depth_m),
                confidence: Some(&v.confidence),
            })
            .collect();
        let memories: Vec<Guide> = seqs
            .iter()
            .zip(plans)
            .zip(&memory_rgb)
            .zip(&sessions)
            .map(|(((s, p), rgb), session)| match (p.memory, session) {
                (false, _) => Guide::EMPTY,
                (true, Some((_, view))) => Guide {
                    rgb,
                    depth_m: Some(&view.depth_m),
                    confidence: Some(&view.confidence),
                },
                (true, None) => Guide {
                    rgb,
                    depth_m: Some(&s.memory[t].depth_m),
                    confidence: Some(&s.memory[t].confidence),
                },
            })
            .collect();
        let g = guides_tensor(mc, &warps, &memories, &dev)?;
        let out = model.generate_tempered(
            &mut state,
            &a,
            &g,
            cfg.compose.source_temperature,
            cfg.compose.depth_temperature,
        )?;
        last_mse = add_frame(&mut total, &out, t)?;
        prev = own_frames(&out, seqs, plans, t, n)?;
        shown_code = out.depth_code()?.detach();
        // What the session remembers of this tick: its own frame (self-forced, so `prev`).
        sessions
            .par_iter_mut()
            .zip(seqs.par_iter().zip(prev.par_iter()))
            .try_for_each(|(session, (s, (rgb, depth)))| -> Result<()> {
                if let Some((m, view)) = session {
                    m.carve(view, depth);
                    m.write_new(k, rgb, depth, &s.poses[t], t as u64, view)?;
                }
                Ok(())
            })?;
    }
    let frames = len as f64;
    let total = (total / frames)?;
    parts.total = f64::from(total.to_scalar::<f32>()?);
    parts.rgb_l1 /= frames;
    parts.rgb_grad /= frames;
    parts.depth /= frames;
    parts.depth_grad /= frames;
    parts.motion /= (len - 1).max(1) as f64;
    parts.last_psnr_db = loss::psnr(last_mse);
    let _ = &mut state;
    Ok((total, parts))
}

/// Runs `f` on `workers` contiguous shares of a batch, side by side on scoped threads (the first
/// on the calling thread), and returns each result with its share's size.
fn sharded<T: Send>(
    workers: usize,
    seqs: &[Sequence],
    plans: &[SequencePlan],
    f: impl Fn(&[Sequence], &[SequencePlan]) -> Result<T> + Sync,
) -> Result<Vec<(T, usize)>> {
    let size = seqs.len().div_ceil(workers.clamp(1, seqs.len().max(1)));
    let shares: Vec<(&[Sequence], &[SequencePlan])> = seqs
        .chunks(size.max(1))
        .zip(plans.chunks(size.max(1)))
        .collect();
    let Some(&(first_seqs, first_plans)) = shares.first() else {
        return Err(TrainError::Other("an empty batch".into()));
    };
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares[1..]
            .iter()
            .map(|&(s, p)| scope.spawn(move || f(s, p).map(|t| (t, s.len()))))
            .collect();
        let mut out = vec![f(first_seqs, first_plans).map(|t| (t, first_seqs.len()))?];
        for h in handles {
            out.push(
                h.join()
                    .map_err(|_| TrainError::Other("a training worker panicked".into()))??,
            );
        }
        Ok(out)
    })
}

/// The loss parts of a batch from those of its shares (weighted by size; the last-tick PSNR from
/// the mean of the shares' squared errors, as one batch gives it).
fn merge_parts(parts: &[(LossParts, usize)]) -> LossParts {
    let n: usize = parts.iter().map(|(_, k)| k).sum();
    let mut m = LossParts::default();
    let mut mse = 0.0;
    for (p, k) in parts {
        let w = *k as f64 / n.max(1) as f64;
        m.total += w * p.total;
        m.rgb_l1 += w * p.rgb_l1;
        m.rgb_grad += w * p.rgb_grad;
        m.depth += w * p.depth;
        m.depth_grad += w * p.depth_grad;
        m.motion += w * p.motion;
        mse += w * 10f64.powf(-p.last_psnr_db / 10.0);
    }
    m.last_psnr_db = loss::psnr(mse);
    m
}

/// The gradients of a batch's mean loss with respect to `vars`, and its loss parts: the batch
/// runs as `workers` shares side by side (see [`crate::config::RunConfig::workers`]), each with
/// its own graph; their gradients are summed weighted by share size (the batch mean).
#[allow(clippy::too_many_arguments)]
pub fn batch_gradients(
    model: &WorldModel,
    vars: &[Var],
    cfg: &TrainConfig,
    k: &Intrinsics,
    seqs: &[Sequence],
    plans: &[SequencePlan],
    memory_config: &MemoryConfig,
    workers: usize,
) -> Result<(GradStore, LossParts)> {
    let n = seqs.len();
    let mut shares = sharded(workers, seqs, plans, |s, p| {
        let (loss, parts) = run_batch(model, cfg, k, s, p, memory_config)?;
        Ok((loss.backward()?, parts))
    })?;
    let parts = merge_parts(
        &shares
            .iter()
            .map(|((_, p), k)| (*p, *k))
            .collect::<Vec<_>>(),
    );
    if shares.len() == 1 {
        let ((grads, _), _) = shares.remove(0);
        return Ok((grads, parts));
    }
    let mut iter = shares.into_iter();
    let Some(((mut grads, _), k0)) = iter.next() else {
        return Err(TrainError::Other("an empty batch".into()));
    };
    let rest: Vec<(GradStore, usize)> = iter.map(|((g, _), k)| (g, k)).collect();
    for var in vars {
        let t = var.as_tensor();
        let mut sum: Option<Tensor> = grads
            .remove(t)
            .map(|g| g * (k0 as f64 / n as f64))
            .transpose()?;
        for (g, k) in &rest {
            if let Some(g) = g.get(t) {
                let g = (g * (*k as f64 / n as f64))?;
                sum = Some(match sum {
                    Some(s) => (s + g)?,
                    None => g,
                });
            }
        }
        if let Some(s) = sum {
            grads.insert(t, s);
        }
    }
    Ok((grads, parts))
}

/// The worker count `run.workers` asks for (0: the cores candle's kernels leave free).
pub fn workers_for(cfg: &TrainConfig) -> usize {
    if cfg.run.workers > 0 {
        cfg.run.workers
    } else {
        (reverie_model::threads::available_cores() / reverie_model::threads::cpu_threads().max(1))
            .max(1)
    }
}

/// The frames each sequence warps into its next tick: the model's own output (self-forcing) or
/// the oracle's frame at `t`.
fn own_frames(
    out: &reverie_model::StepOutput,
    seqs: &[Sequence],
    plans: &[SequencePlan],
    t: usize,
    n: usize,
) -> Result<Vec<(Vec<u8>, Vec<f32>)>> {
    seqs.iter()
        .zip(plans)
        .enumerate()
        .map(|(i, (s, p))| {
            if p.self_forcing {
                Ok(out.frame(i)?)
            } else {
                Ok((
                    s.rgb[t * 3 * n..(t + 1) * 3 * n].to_vec(),
                    s.depth_m[t * n..(t + 1) * n].to_vec(),
                ))
            }
        })
        .collect()
}

/// Draws a batch: random episodes and windows, and a plan per sequence.
pub fn sample_batch(
    data: &TrainData,
    cfg: &TrainConfig,
    rng: &mut ChaCha8Rng,
    self_forcing: f64,
) -> Result<(Vec<Sequence>, Vec<SequencePlan>)> {
    let len = cfg.optim.seq_len + 1;
    let mut seqs = Vec::new();
    let mut plans = Vec::new();
    while seqs.len() < cfg.optim.batch {
        let e = rng.random_range(0..data.episodes());
        let steps = data.steps(e);
        if steps < len {
            continue;
        }
        let start = rng.random_range(0..=steps - len);
        let a = &cfg.augment;
        let offsets: Vec<f32> = if a.pose_offset_share > 0.0 && a.pose_offset_m > 0.0 {
            let m = a.pose_offset_m as f32;
            (0..len)
                .map(|t| {
                    if t > 0 && rng.random_bool(a.pose_offset_share.clamp(0.0, 1.0)) {
                        rng.random_range(-m..=m)
                    } else {
                        0.0
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        seqs.push(data.sequence(e, start, len, &cfg.model, &offsets)?);
        plans.push(SequencePlan {
            self_forcing: rng.random_bool(self_forcing.clamp(0.0, 1.0)),
            memory: !rng.random_bool(a.memory_drop),
            // Drawn only when asked for, so that older configs see the batches they saw.
            session_memory: a.session_memory_share > 0.0
                && rng.random_bool(a.session_memory_share.clamp(0.0, 1.0)),
            prompt_depth: !rng.random_bool(a.prompt_depth_drop),
            noise: rng.random_range(0.0..=a.guide_noise as f32),
            noise_seed: rng.random(),
        });
    }
    Ok((seqs, plans))
}

/// What a training run reports when it ends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Steps done in total (including earlier sittings).
    pub steps: usize,
    /// Steps done in this sitting.
    pub steps_this_sitting: usize,
    /// Wall time of this sitting (s).
    pub wall_secs: f64,
    /// Wall time of all sittings so far (s).
    pub total_wall_secs: f64,
    /// Frames with a loss per second in this sitting.
    pub samples_per_sec: f64,
    /// Last training loss terms.
    pub last: LossParts,
    /// Last validation loss terms (held-out datasets), if any.
    pub validation: Option<LossParts>,
    /// The final checkpoint directory.
    pub checkpoint: PathBuf,
}

/// Resumable progress, saved in every checkpoint as `progress.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Progress {
    step: usize,
    wall_secs: f64,
}

/// One progress report (for a progress bar).
#[derive(Clone, Debug)]
pub struct Report {
    /// Step just done.
    pub step: usize,
    /// Steps in the run.
    pub steps: usize,
    /// Its loss terms.
    pub loss: LossParts,
    /// Frames per second so far in this sitting.
    pub samples_per_sec: f64,
}

/// What the caller hears about during a run.
pub trait Observer: Sync {
    /// Preparing data: `total` frames of memory renders to check or build.
    fn preparing(&self, total: u64);
    /// One frame of memory renders done.
    fn prepared_frame(&self);
    /// A training step finished.
    fn step(&self, report: &Report);
    /// A one-line message (validation results, checkpoints).
    fn message(&self, text: &str);
}

fn checkpoint_to(
    dir: &Path,
    cfg: &TrainConfig,
    varmap: &VarMap,
    opt: &AdamW,
    progress: &Progress,
) -> Result<()> {
    let tmp = dir.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::file(&tmp, e))?;
    }
    checkpoint::save(&tmp, &cfg.model, varmap)?;
    opt.save(&tmp.join("optim.safetensors"))?;
    let text =
        serde_json::to_string_pretty(progress).map_err(|e| TrainError::Other(e.to_string()))?;
    std::fs::write(tmp.join("progress.json"), text).map_err(|e| TrainError::file(&tmp, e))?;
    let toml = toml::to_string(cfg).map_err(|e| TrainError::Other(e.to_string()))?;
    std::fs::write(tmp.join("train.toml"), toml).map_err(|e| TrainError::file(&tmp, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| TrainError::file(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| TrainError::file(dir, e))
}

/// Trains per `cfg` into `out`: `out/latest` (the checkpoint to resume from), `out/checkpoints/
/// step_NNNNNN`, `out/final`, `out/metrics.csv`, `out/summary.json`, `out/loss.png`. With
/// `resume`, continues from `out/latest` (weights, optimiser moments, step; the batch RNG is
/// derived from the step, so a resumed run sees the batches an uninterrupted one would).
pub fn train(
    cfg: &TrainConfig,
    out: &Path,
    resume: bool,
    observer: &(dyn Observer + Sync),
) -> Result<TrainSummary> {
    let dev = Device::Cpu;
    std::fs::create_dir_all(out).map_err(|e| TrainError::file(out, e))?;
    let memory_config = cfg.memory_config();
    let data = TrainData::open(
        &cfg.data.train,
        &memory_config,
        &|t| observer.preparing(t),
        &|| observer.prepared_frame(),
    )?;
    let heldout = if cfg.data.heldout.is_empty() {
        None
    } else {
        Some(TrainData::open(
            &cfg.data.heldout,
            &memory_config,
            &|t| observer.preparing(t),
            &|| observer.prepared_frame(),
        )?)
    };
    let k = data.intrinsics;

    let mut varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let model = WorldModel::new(&cfg.model, vb)?;
    seeded_init(&varmap, cfg.seed)?;
    if let (Some(dir), false) = (&cfg.run.init_from, resume) {
        init_from(&varmap, dir)?;
        observer.message(&format!("initialised from {}", dir.display()));
    }
    let mut opt = AdamW::new(&varmap, cfg.optim.weight_decay)?;
    let latest = out.join("latest");
    let mut progress = Progress::default();
    if resume {
        let p = latest.join("progress.json");
        let text = std::fs::read_to_string(&p).map_err(|e| TrainError::file(&p, e))?;
        progress = serde_json::from_str(&text).map_err(|e| TrainError::file(&p, e))?;
        let saved = checkpoint::load_config(&latest)?;
        if saved != cfg.model {
            return Err(TrainError::file(
                &latest.join("model.json"),
                "the checkpoint's model config differs from the training config's [model]",
            ));
        }
        varmap
            .load(latest.join(checkpoint::WEIGHTS_FILE))
            .map_err(|e| TrainError::file(&latest.join(checkpoint::WEIGHTS_FILE), e))?;
        opt.load(&latest.join("optim.safetensors"), progress.step)?;
        observer.message(&format!(
            "resumed at step {} from {}",
            progress.step,
            latest.display()
        ));
    }

    let csv_path = out.join("metrics.csv");
    let new_csv = !resume || !csv_path.exists();
    let mut csv = std::fs::OpenOptions::new()
        .create(true)
        .append(!new_csv)
        .write(true)
        .truncate(new_csv)
        .open(&csv_path)
        .map_err(|e| TrainError::file(&csv_path, e))?;
    if new_csv {
        writeln!(
            csv,
            "step,split,lr,self_forcing,total,rgb_l1,rgb_grad,depth,motion,last_psnr_db,grad_norm,samples_per_sec,depth_grad"
        )
        .map_err(|e| TrainError::file(&csv_path, e))?;
    }

    let vars = varmap.all_vars();
    let workers = workers_for(cfg);
    observer.message(&format!(
        "{workers} worker(s), each running its share of a batch on {} thread(s)",
        reverie_model::threads::cpu_threads()
    ));
    let started = Instant::now();
    let start_step = progress.step;
    let frames_per_step = cfg.optim.batch * (cfg.optim.seq_len + 1);
    let mut last = LossParts::default();
    let mut validation = None;
    let mut bad_steps = 0;
    for step in start_step..cfg.optim.steps {
        let mut rng = ChaCha8Rng::seed_from_u64(seed::derive(cfg.seed, &[step as u64]));
        let sf = cfg.self_forcing_at(step);
        let lr = cfg.lr_at(step);
        let (seqs, plans) = sample_batch(&data, cfg, &mut rng, sf)?;
        let (grads, parts) = batch_gradients(
            &model,
            &vars,
            cfg,
            &k,
            &seqs,
            &plans,
            &memory_config,
            workers,
        )?;
        let norm = match opt.step(&grads, lr, cfg.optim.grad_clip)? {
            Ok(norm) => {
                bad_steps = 0;
                norm
            }
            Err(NonFinite(norm)) => {
                bad_steps += 1;
                observer.message(&format!(
                    "step {}: gradient norm {norm}, update skipped",
                    step + 1
                ));
                if bad_steps >= MAX_BAD_STEPS {
                    return Err(TrainError::Other(format!(
                        "{MAX_BAD_STEPS} steps in a row had a non-finite gradient: training diverged \
                         (lower optim.lr or optim.grad_clip)"
                    )));
                }
                norm
            }
        };
        last = parts;
        let done = step + 1;
        let sps = ((done - start_step) * frames_per_step) as f64 / started.elapsed().as_secs_f64();
        observer.step(&Report {
            step: done,
            steps: cfg.optim.steps,
            loss: parts,
            samples_per_sec: sps,
        });
        let row = |split: &str, p: &LossParts, norm: f64| {
            format!(
                "{done},{split},{lr:.3e},{sf:.3},{:.5},{:.5},{:.5},{:.5},{:.5},{:.2},{norm:.4},{sps:.1},{:.5}",
                p.total, p.rgb_l1, p.rgb_grad, p.depth, p.motion, p.last_psnr_db, p.depth_grad
            )
        };
        if done.is_multiple_of(cfg.run.log_every) || done == cfg.optim.steps {
            writeln!(csv, "{}", row("train", &parts, norm))
                .map_err(|e| TrainError::file(&csv_path, e))?;
        }
        if let Some(ho) = &heldout
            && (done.is_multiple_of(cfg.run.validate_every) || done == cfg.optim.steps)
        {
            let v = validate(&model, cfg, ho, &memory_config)?;
            writeln!(csv, "{}", row("heldout", &v, f64::NAN))
                .map_err(|e| TrainError::file(&csv_path, e))?;
            observer.message(&format!(
                "step {done}: held-out loss {:.4}, last-tick PSNR {:.2} dB (self-forced {} ticks)",
                v.total, v.last_psnr_db, cfg.optim.seq_len
            ));
            validation = Some(v);
        }
        if done.is_multiple_of(cfg.run.checkpoint_every) || done == cfg.optim.steps {
            progress = Progress {
                step: done,
                wall_secs: progress.wall_secs,
            };
            let wall = progress.wall_secs + started.elapsed().as_secs_f64();
            let p = Progress {
                step: done,
                wall_secs: wall,
            };
            checkpoint_to(
                &out.join("checkpoints").join(format!("step_{done:06}")),
                cfg,
                &varmap,
                &opt,
                &p,
            )?;
            checkpoint_to(&latest, cfg, &varmap, &opt, &p)?;
            csv.flush().map_err(|e| TrainError::file(&csv_path, e))?;
            plot_metrics(&csv_path, &out.join("loss.png"))?;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let total_wall = progress.wall_secs + wall;
    let final_dir = out.join("final");
    checkpoint_to(
        &final_dir,
        cfg,
        &varmap,
        &opt,
        &Progress {
            step: cfg.optim.steps,
            wall_secs: total_wall,
        },
    )?;
    csv.flush().map_err(|e| TrainError::file(&csv_path, e))?;
    plot_metrics(&csv_path, &out.join("loss.png"))?;
    let done_now = cfg.optim.steps.saturating_sub(start_step);
    let summary = TrainSummary {
        steps: cfg.optim.steps,
        steps_this_sitting: done_now,
        wall_secs: wall,
        total_wall_secs: total_wall,
        samples_per_sec: (done_now * frames_per_step) as f64 / wall.max(1e-9),
        last,
        validation,
        checkpoint: final_dir,
    };
    let text =
        serde_json::to_string_pretty(&summary).map_err(|e| TrainError::Other(e.to_string()))?;
    std::fs::write(out.join("summary.json"), text)
        .map_err(|e| TrainError::file(&out.join("summary.json"), e))?;
    Ok(summary)
}

/// Re-initialises every variable from `seed` (candle's CPU RNG cannot be seeded): weights
/// uniform in ±1/√fan_in (fan_in = all dims but the first, as PyTorch's default), biases zero.
pub fn seeded_init(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| TrainError::Other("variable map poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for (i, name) in names.into_iter().enumerate() {
        let var = &data[name];
        let dims = var.dims();
        let mut rng = ChaCha8Rng::seed_from_u64(seed::derive(seed, &[0x1417, i as u64]));
        let values: Vec<f32> = if dims.len() >= 2 {
            let fan_in: usize = dims[1..].iter().product();
            let b = 1.0 / (fan_in as f32).sqrt();
            (0..var.elem_count())
                .map(|_| rng.random_range(-b..=b))
                .collect()
        } else {
            vec![0.0; var.elem_count()]
        };
        var.set(&Tensor::from_vec(values, dims, var.device())?)?;
    }
    Ok(())
}

/// Sets every variable from the checkpoint in `dir` (see [`crate::config::RunConfig::init_from`]):
/// same shape → copied; same rank and no dimension smaller → copied into the leading part, the
/// rest zero. A missing tensor, any other shape, or a saved tensor the model does not have is an
/// error naming it.
pub fn init_from(varmap: &VarMap, dir: &Path) -> Result<()> {
    let path = dir.join(checkpoint::WEIGHTS_FILE);
    let saved = candle_core::safetensors::load(&path, &Device::Cpu)
        .map_err(|e| TrainError::file(&path, e))?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| TrainError::Other("variable map poisoned".into()))?;
    if let Some(extra) = saved.keys().find(|k| !data.contains_key(*k)) {
        return Err(TrainError::file(
            &path,
            format!("tensor {extra} is not in the model being trained"),
        ));
    }
    for (name, var) in data.iter() {
        let Some(t) = saved.get(name) else {
            return Err(TrainError::file(&path, format!("tensor {name} is missing")));
        };
        let (have, want) = (t.dims().to_vec(), var.dims().to_vec());
        if have.len() != want.len() || have.iter().zip(&want).any(|(h, w)| h > w) {
            return Err(TrainError::file(
                &path,
                format!("tensor {name} is {have:?}, which does not fit the model's {want:?}"),
            ));
        }
        let mut grown = t.to_dtype(DType::F32)?;
        for (axis, &w) in want.iter().enumerate() {
            let h = grown.dims()[axis];
            if h < w {
                let mut pad = grown.dims().to_vec();
                pad[axis] = w - h;
                let zeros = Tensor::zeros(pad, DType::F32, &Device::Cpu)?;
                grown = Tensor::cat(&[&grown, &zeros], axis)?;
            }
        }
        var.set(&grown.to_device(var.device())?)?;
    }
    Ok(())
}

/// Mean loss over `validate_batches` fixed held-out batches, fully self-forced, memory on.
pub fn validate(
    model: &WorldModel,
    cfg: &TrainConfig,
    data: &TrainData,
    memory_config: &MemoryConfig,
) -> Result<LossParts> {
    let mut sum = LossParts::default();
    let n = cfg.run.validate_batches.max(1);
    // Held-out batches measure sessions as they run: every camera on its true pose.
    let mut plain = cfg.clone();
    plain.augment.pose_offset_share = 0.0;
    for i in 0..n {
        let mut rng = ChaCha8Rng::seed_from_u64(seed::derive(cfg.seed ^ 0x5EED, &[i as u64]));
        let (seqs, mut plans) = sample_batch(data, &plain, &mut rng, 1.0)?;
        for p in &mut plans {
            p.memory = true;
            p.prompt_depth = true;
            p.noise = 0.0;
        }
        let shares = sharded(workers_for(cfg), &seqs, &plans, |s, p| {
            run_batch(model, cfg, &data.intrinsics, s, p, memory_config).map(|(_, v)| v)
        })?;
        let v = merge_parts(&shares);
        sum.total += v.total / n as f64;
        sum.rgb_l1 += v.rgb_l1 / n as f64;
        sum.rgb_grad += v.rgb_grad / n as f64;
        sum.depth += v.depth / n as f64;
        sum.depth_grad += v.depth_grad / n as f64;
        sum.motion += v.motion / n as f64;
        sum.last_psnr_db += v.last_psnr_db / n as f64;
    }
    Ok(sum)
}

/// Redraws the loss curve (train total in blue, held-out total in orange) from the CSV.
pub fn plot_metrics(csv: &Path, png: &Path) -> Result<()> {
    let text = std::fs::read_to_string(csv).map_err(|e| TrainError::file(csv, e))?;
    let mut train = Vec::new();
    let mut held = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 5 {
            continue;
        }
        let (Ok(step), Ok(total)) = (f[0].parse::<f64>(), f[4].parse::<f64>()) else {
            continue;
        };
        if f[1] == "train" {
            train.push((step, total));
        } else {
            held.push((step, total));
        }
    }
    if train.is_empty() {
        return Ok(());
    }
    line_chart(
        png,
        800,
        400,
        &[
            Series {
                points: train,
                color: [40, 90, 200],
            },
            Series {
                points: held,
                color: [230, 120, 20],
            },
        ],
    )
}
