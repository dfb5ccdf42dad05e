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
    /// Without a terminal the bars draw nothing: print a plain line every this many steps instead.
    plain_every: Option<usize>,
}

impl Observer for Bars {
    fn preparing(&self, total: u64) {
        self.prep.set_length(total);
        self.prep.set_position(0);
    }
    fn prepared_frame(&self) {
        self.prep.inc(1);
    }
    fn step(&self, r: &Report) {
        if !self.prep.is_finished() {
            self.prep.finish_and_clear();
        }
        self.train.set_length(r.steps as u64);
        self.train.set_position(r.step as u64);
        let line = format!(
            "loss {:.4} (l1 {:.4} grad {:.4} depth {:.4} motion {:.3}) last-tick {:.1} dB, {:.1} frames/s",
            r.loss.total,
            r.loss.rgb_l1,
            r.loss.rgb_grad,
            r.loss.depth,
            r.loss.motion,
            r.loss.last_psnr_db,
            r.samples_per_sec
        );
        if let Some(every) = self.plain_every
            && r.step % every == 0
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
