//! How well the ground probe foretells the walker's step-ups, on a dataset: for every tick, the
//! step the probe's footprint after the intended walk shows (its top above the feet, 0..=1 m)
//! against the true rise, as a table of counts.
//! `cargo run --release -p reverie_train --example probe_stats -- DATASET_DIR [EPISODES]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;

use reverie_core::{EgoMotion, GroundProbe, Intrinsics};
use reverie_model::ModelConfig;
use reverie_world::dataset::Dataset;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: probe_stats DATASET_DIR [EPISODES]");
        return ExitCode::from(2);
    };
    let episodes: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    match run(Path::new(dir), episodes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("probe_stats: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &Path, episodes: usize) -> Result<(), Box<dyn std::error::Error>> {
    let ds = Dataset::open(dir)?;
    let m = &ds.manifest;
    let k = Intrinsics::from_vfov_deg(m.width, m.height, m.fov_deg)?;
    let cfg = ModelConfig::default();
    let at = 2 * GroundProbe::GRID * GroundProbe::GRID + 2;
    // rows: true rise (<0.5 m, ≥0.5 m); columns: probe step (unseen, <0.5 m, ≥0.5 m)
    let mut table = [[0usize; 3]; 2];
    let mut misses = Vec::new();
    for (&e, reader) in ds.episodes.iter().take(episodes) {
        let win = reader.window(0, reader.steps)?;
        let n = k.pixels();
        let mut probe = GroundProbe::new();
        for t in 1..reader.steps {
            probe.push(&k, &win.depth_m[(t - 1) * n..t * n], &win.poses[t - 1])?;
            let f = cfg.probe_features(&probe, &win.poses[t - 1], &win.actions[t]);
            let truth = EgoMotion::between(&win.poses[t - 1], &win.poses[t]);
            let step = if f[at + 1] > 0.0 {
                (f[at] + cfg.eye_height).clamp(0.0, 1.0)
            } else {
                -1.0
            };
            let row = usize::from(truth.up_m >= 0.5);
            let col = if step < 0.0 {
                0
            } else if step < 0.5 {
                1
            } else {
                2
            };
            table[row][col] += 1;
            if row == 1 && col != 2 && misses.len() < 12 {
                misses.push((e, t, truth.up_m, step, f[at - 2], f[at - 1]));
            }
        }
    }
    println!("true rise \\ probe step: unseen, <0.5 m, >=0.5 m");
    println!("rise < 0.5 m : {:?}", table[0]);
    println!("rise >= 0.5 m: {:?}", table[1]);
    for (e, t, up, step, now, seen) in misses {
        println!(
            "missed: episode {e} tick {t}: rise {up:.2}, probe step {step:.2}, footprint now {now:.2} (seen {seen})"
        );
    }
    Ok(())
}
