//! `train.toml`: what to train on and how. Humans edit it; every field is checked and an error
//! names the file and the field.

use std::path::{Path, PathBuf};

use reverie_model::ModelConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The current `schema_version` of [`TrainConfig`].
pub const TRAIN_SCHEMA_VERSION: u32 = 1;

/// A training run's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// [`TRAIN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Seed of every random choice (batches, augmentation, initial weights).
    pub seed: u64,
    /// The network (fields left out take [`ModelConfig::default`]).
    #[serde(default)]
    pub model: ModelConfig,
    /// Datasets.
    pub data: DataConfig,
    /// Optimiser and schedule.
    pub optim: OptimConfig,
    /// Loss weights.
    #[serde(default)]
    pub loss: LossConfig,
    /// Self-forcing and augmentation.
    #[serde(default)]
    pub augment: AugmentConfig,
    /// Logging, validation and checkpoints.
    #[serde(default)]
    pub run: RunConfig,
    /// How the guides the network learns from (the warp of the previous frame, the memory
    /// renders) are drawn. Left out: the soft splatting every checkpoint before session 13 was
    /// trained with, so older configs train what they trained.
    #[serde(default)]
    pub guides: GuideConfig,
    /// How each tick's pixels are composed from the three sources during training. Left out:
    /// the plain softmax mix (temperature 1) every checkpoint before session 32 was trained with.
    #[serde(default)]
    pub compose: ComposeConfig,
}

/// The source temperatures of the per-pixel composition ([`reverie_model::compose`]) that a
/// training run generates with: the runtime's (`EngineOptions::source_temperature`,
/// `depth_temperature`, 0.5 each) trains the network on what its sessions show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComposeConfig {
    /// The colour's source logits are divided by this (1 = the plain softmax mix).
    pub source_temperature: f32,
    /// The depth's source logits are divided by this.
    pub depth_temperature: f32,
}

impl Default for ComposeConfig {
    fn default() -> ComposeConfig {
        ComposeConfig {
            source_temperature: 1.0,
            depth_temperature: 1.0,
        }
    }
}

/// Splatting of the training guides (see `reverie_memory::MemoryConfig`'s fields of the same
/// names; the runtime draws with the memory's defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuideConfig {
    /// Memory render: splat radius as a multiple of ¾ of a cell's edge.
    pub splat_scale: f32,
    /// Warp: splat radius as a multiple of a pixel's footprint.
    pub warp_splat_scale: f32,
    /// Exponent of the tent weight in colour blending (both).
    pub blend_power: f32,
}

impl Default for GuideConfig {
    fn default() -> GuideConfig {
        let soft = reverie_memory::Splatting::SOFT;
        GuideConfig {
            splat_scale: 1.0,
            warp_splat_scale: soft.scale,
            blend_power: soft.blend_power,
        }
    }
}

/// Datasets written by `reverie datagen` (paths relative to the working directory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Training datasets.
    pub train: Vec<PathBuf>,
    /// Held-out datasets (other world seeds): validation loss during training; evaluation.
    #[serde(default)]
    pub heldout: Vec<PathBuf>,
}

/// AdamW with linear warm-up and cosine decay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch: usize,
    /// Generated ticks per sequence after the prompt tick.
    pub seq_len: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate.
    #[serde(default)]
    pub min_lr: f64,
    /// Linear warm-up steps.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Decoupled weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Gradients are scaled down to this global norm (0 = no clipping).
    #[serde(default)]
    pub grad_clip: f64,
}

/// Weights of the loss terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// L1 on RGB.
    pub rgb_l1: f64,
    /// L1 between the image gradients (finite differences) of output and target: blur does not pay.
    pub rgb_grad: f64,
    /// L1 on the depth code 1/(1+z).
    pub depth: f64,
    /// L1 between the finite differences of the output's and the target's depth codes: a
    /// speckled depth (each pixel from another source) pays even where its mean is right.
    pub depth_grad: f64,
    /// L1 on the ego-motion, per component in units of the model's motion scales.
    pub motion: f64,
    /// How much more a tick where the body rises at least [`crate::loss::RISE_M`] (a step up
    /// onto a ledge: a few ticks in a thousand) counts in the ego-motion loss (1 = like any
    /// other tick).
    pub motion_rise: f64,
    /// Whether the ego-motion loss also trains the recurrent state the motion head reads (and so
    /// the frame network behind it). Off, only the head learns from it: a later stage that
    /// teaches the head something new (pose offsets) leaves the frames as they were.
    pub motion_trains_state: bool,
}

impl Default for LossConfig {
    fn default() -> LossConfig {
        LossConfig {
            rgb_l1: 1.0,
            rgb_grad: 1.0,
            depth: 1.0,
            depth_grad: 0.0,
            motion: 0.1,
            motion_rise: 1.0,
            motion_trains_state: true,
        }
    }
}

/// How the model is made to survive its own errors, and data augmentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Self-forcing ramps in from this step: the previous frame warped into the next pose is the
    /// model's own output (colour and depth) instead of the oracle's.
    pub self_forcing_from: usize,
    /// Steps over which the self-forcing share ramps from 0 to `self_forcing_max`.
    pub self_forcing_ramp: usize,
    /// Largest share of sequences that run on the model's own outputs.
    pub self_forcing_max: f64,
    /// Gaussian noise on guide colours: σ drawn per sequence uniformly in [0, this] (0..1 scale).
    pub guide_noise: f64,
    /// Share of sequences trained without the memory render.
    pub memory_drop: f64,
    /// Share of prompts given without depth (a user's image).
    pub prompt_depth_drop: f64,
    /// Share of ticks whose ego-motion starts from a camera lifted or lowered off the true pose
    /// (a `ground_probe` model reads its probe there, and the target is the motion back onto the
    /// true path). A session's camera integrates the predicted motion, errors and all; without
    /// this the head never sees a camera off its ground and a session drifts up or down for good.
    pub pose_offset_share: f64,
    /// Largest such vertical offset (metres), drawn uniformly within ± this.
    pub pose_offset_m: f64,
    /// Share of self-forced sequences with memory whose memory render comes from a memory the
    /// sequence builds as a session does: the prompt frame, then each frame the model made,
    /// written at its pose (else the dataset's render of the oracle's earlier frames). A session
    /// remembers only what it generated; a model taught only on the oracle's memory trusts it
    /// as truth and copies its own errors back out of it.
    pub session_memory_share: f64,
}

impl Default for AugmentConfig {
    fn default() -> AugmentConfig {
        AugmentConfig {
            self_forcing_from: 500,
            self_forcing_ramp: 2000,
            self_forcing_max: 0.75,
            guide_noise: 0.03,
            memory_drop: 0.25,
            prompt_depth_drop: 0.25,
            pose_offset_share: 0.0,
            pose_offset_m: 0.0,
            session_memory_share: 0.0,
        }
    }
}

/// Logging, validation and checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Metrics row every N steps.
    pub log_every: usize,
    /// Held-out validation every N steps.
    pub validate_every: usize,
    /// Batches per validation.
    pub validate_batches: usize,
    /// Checkpoint every N steps.
    pub checkpoint_every: usize,
    /// Threads that each run a share of every batch with its own graph, the gradients summed
    /// (data parallelism: at our sizes two single-threaded shards keep two cores busier than one
    /// graph whose every op is split in two). 0 = one per core that candle's kernels leave free
    /// (all cores when they run on one thread, as `reverie train` sets them).
    pub workers: usize,
    /// Start from this checkpoint's weights instead of a seeded initialisation (a later stage
    /// of a training recipe). Tensors the checkpoint lacks are an error; a tensor the model
    /// has grown (e.g. a layer reading new inputs) keeps the saved values in its leading part
    /// and zeros elsewhere, so the model starts out computing what the checkpoint did. Ignored
    /// when resuming.
    pub init_from: Option<PathBuf>,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            log_every: 10,
            validate_every: 250,
            validate_batches: 4,
            checkpoint_every: 250,
            workers: 0,
            init_from: None,
        }
    }
}

impl TrainConfig {
    /// Reads and checks a `train.toml`.
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::file(path, e))?;
        let cfg: TrainConfig = toml::from_str(&text).map_err(|e| TrainError::file(path, e))?;
        cfg.validate().map_err(|e| TrainError::file(path, e))?;
        Ok(cfg)
    }

    /// The memory configuration the training guides are drawn with.
    pub fn memory_config(&self) -> reverie_memory::MemoryConfig {
        reverie_memory::MemoryConfig {
            splat_scale: self.guides.splat_scale,
            warp_splat_scale: self.guides.warp_splat_scale,
            blend_power: self.guides.blend_power,
            ..reverie_memory::MemoryConfig::default()
        }
    }

    /// Checks every field; the message names the field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.schema_version != TRAIN_SCHEMA_VERSION {
            return Err(format!(
                "schema_version: {} is not {TRAIN_SCHEMA_VERSION}",
                self.schema_version
            ));
        }
        self.model.validate().map_err(|e| e.to_string())?;
        if self.data.train.is_empty() {
            return Err("data.train: at least one dataset directory is needed".into());
        }
        let o = &self.optim;
        for (field, v, lo, hi) in [
            ("optim.steps", o.steps, 1, 100_000_000),
            ("optim.batch", o.batch, 1, 1024),
            ("optim.seq_len", o.seq_len, 1, 256),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(format!("{field}: {v} is not within {lo}..={hi}"));
            }
        }
        for (field, v) in [
            ("optim.lr", o.lr),
            ("optim.min_lr", o.min_lr),
            ("optim.weight_decay", o.weight_decay),
            ("optim.grad_clip", o.grad_clip),
            ("loss.rgb_l1", self.loss.rgb_l1),
            ("loss.rgb_grad", self.loss.rgb_grad),
            ("loss.depth", self.loss.depth),
            ("loss.depth_grad", self.loss.depth_grad),
            ("loss.motion", self.loss.motion),
            ("loss.motion_rise", self.loss.motion_rise),
            ("augment.guide_noise", self.augment.guide_noise),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{field}: {v} must be a finite number ≥ 0"));
            }
        }
        if o.lr <= 0.0 || o.min_lr > o.lr {
            return Err(format!(
                "optim.lr: {} must be > 0 and ≥ min_lr {}",
                o.lr, o.min_lr
            ));
        }
        for (field, v) in [
            ("augment.self_forcing_max", self.augment.self_forcing_max),
            ("augment.memory_drop", self.augment.memory_drop),
            ("augment.prompt_depth_drop", self.augment.prompt_depth_drop),
            ("augment.pose_offset_share", self.augment.pose_offset_share),
            (
                "augment.session_memory_share",
                self.augment.session_memory_share,
            ),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{field}: {v} is not a share within 0..=1"));
            }
        }
        let a = &self.augment;
        if !(a.pose_offset_m.is_finite() && (0.0..=4.0).contains(&a.pose_offset_m)) {
            return Err(format!(
                "augment.pose_offset_m: {} is not a length within 0..=4 m",
                a.pose_offset_m
            ));
        }
        if a.pose_offset_share > 0.0 && a.pose_offset_m > 0.0 && !self.model.ground_probe {
            return Err(
                "augment.pose_offset_share: needs model.ground_probe = true (the probe is what \
                 shows the head a camera off its ground)"
                    .into(),
            );
        }
        reverie_model::model::check_source_temperature(self.compose.source_temperature)
            .map_err(|e| format!("compose.source_temperature: {e}"))?;
        reverie_model::model::check_depth_temperature(self.compose.depth_temperature)
            .map_err(|e| format!("compose.depth_temperature: {e}"))?;
        self.memory_config().validate().map_err(|e| match e {
            reverie_memory::MemoryError::Config {
                field,
                value,
                expected,
            } => format!("guides.{field}: {value}: {expected}"),
            e => format!("guides: {e}"),
        })?;
        if self.run.workers > 256 {
            return Err(format!(
                "run.workers: {} is more than 256",
                self.run.workers
            ));
        }
        for (field, v) in [
            ("run.log_every", self.run.log_every),
            ("run.validate_every", self.run.validate_every),
            ("run.checkpoint_every", self.run.checkpoint_every),
        ] {
            if v == 0 {
                return Err(format!("{field}: must be at least 1"));
            }
        }
        Ok(())
    }

    /// Learning rate at `step`: linear warm-up, then cosine decay to `min_lr`.
    pub fn lr_at(&self, step: usize) -> f64 {
        let o = &self.optim;
        if step < o.warmup_steps {
            return o.lr * (step + 1) as f64 / o.warmup_steps as f64;
        }
        let span = o.steps.saturating_sub(o.warmup_steps).max(1);
        let t = ((step - o.warmup_steps) as f64 / span as f64).min(1.0);
        o.min_lr + (o.lr - o.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }

    /// Share of sequences run on the model's own outputs at `step`.
    pub fn self_forcing_at(&self, step: usize) -> f64 {
        let a = &self.augment;
        if step < a.self_forcing_from {
            return 0.0;
        }
        let t = (step - a.self_forcing_from) as f64 / a.self_forcing_ramp.max(1) as f64;
        a.self_forcing_max * t.min(1.0)
    }
}
