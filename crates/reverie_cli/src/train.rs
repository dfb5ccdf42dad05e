//! `reverie train`: the training loop with a progress bar.
#![allow(clippy::print_stderr, clippy::print_stdout)] // a command-line front end prints

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use reverie_train::TrainConfig;
use reverie_train::train::{Observer, Report};

struct Bars {
    prep: ProgressBar,
    train: ProgressBar,
    /// Without a terminal the bars draw nothing: print a plain line every this many steps (and
    /// every tenth of the memory renders) instead.
    plain_every: Option<usize>,
}

impl Observer for Bars {
    fn preparing(&self, total: u64) {
        self.prep.set_length(total);
        self.prep.set_position(0);
    }
    fn prepared_frame(&self) {
        self.prep.inc(1);
        // Without a terminal: a line every tenth of the renders.
        let (done, total) = (self.prep.position(), self.prep.length().unwrap_or(0));
        if self.plain_every.is_some() && (done == total || done.is_multiple_of((total / 10).max(1)))
        {
            eprintln!("memory renders: {done}/{total} frames");
        }
    }
    fn step(&self, r: &Report) {
        if !self.prep.is_finished() {
            self.prep.finish_and_clear();
        }
        self.train.set_length(r.steps as u64);
        self.train.set_position(r.step as u64);
        let line = format!(
            "loss {:.4} (l1 {:.4} grad {:.4} depth {:.4} depth-grad {:.4} motion {:.3}) last-tick {:.1} dB, {:.1} frames/s",
            r.loss.total,
            r.loss.rgb_l1,
            r.loss.rgb_grad,
            r.loss.depth,
            r.loss.depth_grad,
            r.loss.motion,
            r.loss.last_psnr_db,
            r.samples_per_sec
        );
        if let Some(every) = self.plain_every
            && r.step.is_multiple_of(every)
        {
            eprintln!("step {}/{}: {line}", r.step, r.steps);
        }
        self.train.set_message(line);
    }
    fn message(&self, text: &str) {
        if self.plain_every.is_some() {
            eprintln!("{text}");
        } else {
            self.train.println(text);
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Runs `reverie train`.
pub fn run(config: &Path, out: &Path, resume: bool, overwrite: bool) -> Result<()> {
    let cfg = TrainConfig::load(config)?;
    if out.join("latest").exists() && !resume && !overwrite {
        bail!(
            "{} already holds a run: pass --resume to continue it or --overwrite to start over",
            out.display()
        );
    }
    if overwrite && out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let bars = Bars {
        prep: ProgressBar::new(0).with_style(style(
            "memory renders [{bar:30}] {pos}/{len} frames, {per_sec}, eta {eta}",
        )),
        train: ProgressBar::new(cfg.optim.steps as u64)
            .with_style(style("train [{bar:30}] {pos}/{len} steps, eta {eta} {msg}")),
        plain_every: (!std::io::stderr().is_terminal()).then_some(cfg.run.log_every),
    };
    let s = reverie_train::train::train(&cfg, out, resume, &bars)?;
    bars.train.finish();
    println!("{}", serde_json::to_string_pretty(&s)?);
    Ok(())
}

struct TuneBar {
    bar: ProgressBar,
    plain: bool,
}

impl reverie_train::tune::TuneObserver for TuneBar {
    fn played(&self, round: usize, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        self.bar.set_message(format!("round {round}"));
        // Without a terminal: a line every tenth of the round.
        if self.plain && (done == total || done.is_multiple_of((total / 10).max(1))) {
            eprintln!("round {round}: played {done}/{total} episodes");
        }
    }
    fn message(&self, text: &str) {
        if self.plain {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }
}

/// Runs `reverie tune-motion`.
pub fn tune_motion(config: &Path, checkpoint: &Path, out: &Path, overwrite: bool) -> Result<()> {
    let cfg = reverie_train::tune::TuneConfig::load(config)?;
    if out.join("tune.json").exists() && !overwrite {
        bail!(
            "{} already holds a tuning run: pass --overwrite to start over",
            out.display()
        );
    }
    if overwrite && out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let bar = TuneBar {
        bar: ProgressBar::new(0).with_style(style(
            "play [{bar:30}] {pos}/{len} episodes, eta {eta} {msg}",
        )),
        plain: !std::io::stderr().is_terminal(),
    };
    let report = reverie_train::tune::tune(&cfg, checkpoint, out, &bar)?;
    bar.bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

pub(crate) fn list<T: std::str::FromStr>(text: &str, flag: &str) -> Result<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<T>()
                .map_err(|e| anyhow::anyhow!("{flag}: `{s}`: {e}"))
        })
        .collect()
}

/// `reverie eval`'s arguments.
pub struct EvalArgs<'a> {
    /// Checkpoint directory.
    pub checkpoint: &'a Path,
    /// World spec.
    pub world: &'a Path,
    /// Output JSON.
    pub json: &'a Path,
    /// World seeds, comma-separated.
    pub seeds: &'a str,
    /// Fidelity/control episode ticks.
    pub steps: usize,
    /// Loop lengths (s), comma-separated.
    pub loops: &'a str,
    /// Stability rollout minutes.
    pub stability_minutes: f64,
    /// The sessions' source temperature.
    pub source_temperature: f32,
    /// The sessions' depth source temperature.
    pub depth_temperature: f32,
    /// The sessions' vertical dead band (m a tick).
    pub vertical_deadband_m: f32,
    /// The sessions' fall window (ticks).
    pub fall_window_ticks: u32,
    /// The sessions' horizontal dead band (m a tick).
    pub horizontal_deadband_m: f32,
    /// The sessions' depth median radius (pixels).
    pub depth_median_radius: u32,
    /// The model's vertical motion off ([`reverie_model::WorldModel::set_vertical_motion`]).
    pub keep_height: bool,
    /// Memory configuration JSON over the runtime's ([`crate::memory_config_over`]).
    pub memory_config: Option<&'a Path>,
}

/// Runs `reverie eval`.
pub fn eval(args: &EvalArgs) -> Result<()> {
    let (checkpoint, world, json) = (args.checkpoint, args.world, args.json);
    let (steps, stability_minutes) = (args.steps, args.stability_minutes);
    let source_temperature = args.source_temperature;
    let seeds: Vec<u64> = list(args.seeds, "--seeds")?;
    let loops_secs: Vec<f32> = list(args.loops, "--loops")?;
    if seeds.is_empty() {
        bail!("--seeds: give at least one world seed");
    }
    if !(2..=100_000).contains(&steps) {
        bail!("--steps must be within 2..=100000");
    }
    if !(0.0..=600.0).contains(&stability_minutes) {
        bail!("--stability-minutes must be within 0..=600");
    }
    if let Some(bad) = loops_secs.iter().find(|s| !(1.0..=3600.0).contains(*s)) {
        bail!("--loops: {bad} s is not within 1..=3600");
    }
    // The memory as sessions run it (the runtime's render budget included), unless a config
    // says otherwise: what a player sees is what is measured.
    let memory = crate::memory_config_over(
        reverie_runtime::EngineOptions::default().memory,
        args.memory_config,
    )?;
    let mut model =
        reverie_model::checkpoint::load(checkpoint, &reverie_model::candle_core::Device::Cpu)?;
    if args.keep_height {
        model.set_vertical_motion(false)?;
    }
    let spec = reverie_world::WorldSpec::load(world)?;
    let cfg = model.config();
    let k = reverie_core::Intrinsics::from_vfov_deg(cfg.width as u32, cfg.height as u32, 70.0)?;
    let opts = reverie_train::eval::EvalOptions {
        seeds,
        steps,
        loops_secs,
        stability_minutes,
        sessions: reverie_runtime::EngineOptions {
            memory,
            source_temperature,
            depth_temperature: args.depth_temperature,
            vertical_deadband_m: args.vertical_deadband_m,
            fall_window_ticks: args.fall_window_ticks,
            horizontal_deadband_m: args.horizontal_deadband_m,
            depth_median_radius: args.depth_median_radius,
            ..reverie_runtime::EngineOptions::default()
        },
    };
    if let Some(dir) = json.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let strip = json.with_extension("png");
    let mut report = reverie_train::eval::evaluate(&model, &spec, &k, &opts, Some(&strip), &|m| {
        eprintln!("{m}")
    })?;
    report.checkpoint = checkpoint.display().to_string();
    report.world = world.display().to_string();
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(json, &text)?;
    println!("{text}");
    let mut wrote = vec![json.display().to_string(), strip.display().to_string()];
    for (path, made) in [
        (
            reverie_train::eval::revisit_strip_path(&strip),
            !report.revisit.is_empty(),
        ),
        (
            reverie_train::eval::stability_strip_path(&strip),
            report.stability.is_some(),
        ),
    ] {
        if made && path.exists() {
            wrote.push(path.display().to_string());
        }
    }
    eprintln!("wrote {}", wrote.join(", "));
    Ok(())
}
