//! How well the ground probe foretells the walker's step-ups, on a dataset: for every tick,
//! whether the probe's footprint after the intended walk shows a step (a top 0.5–1.05 m above
//! the feet, what a `ground_probe` model's step gate lifts onto) against the true rise, as a
//! table of counts. `FALSE_POSITIVES=1` lists ticks with a step shown and none taken.
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
    // rows: true rise (<0.5 m, ≥0.5 m); columns: footprint unseen, seen but no step, a step
    let mut table = [[0usize; 3]; 2];
    let mut misses = Vec::new();
    let mut flatness: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    for (&e, reader) in ds.episodes.iter().take(episodes) {
        let win = reader.window(0, reader.steps)?;
        let n = k.pixels();
        let mut probe = GroundProbe::new();
        for t in 1..reader.steps {
            probe.push(&k, &win.depth_m[(t - 1) * n..t * n], &win.poses[t - 1])?;
            let f = cfg.probe_features(&probe, &win.poses[t - 1], &win.actions[t]);
            let truth = EgoMotion::between(&win.poses[t - 1], &win.poses[t]);
            // What the step gate of a `ground_probe` model would lift onto: a top 0.5–1.05 m
            // above the feet.
            let step = if f[at + 1] > 0.0 {
                let h = f[at] + cfg.eye_height;
                if (0.5..=1.05).contains(&h) { h } else { 0.0 }
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
            if col == 2 {
                // How flat the top is (the probe's share of the footprint's points within 5 cm
                // of it: a block's top is a dense surface, a plant's a few points).
                flatness[row].push(f[at + 5]);
            }
            if row == 0
                && col == 2
                && std::env::var_os("FALSE_POSITIVES").is_some()
                && misses.len() < 16
            {
                println!(
                    "false: ep {e} t {t}: truth {:?}, keys {:?}, footprint now {:.2} next {:.2} next2 {:.2}",
                    [truth.right_m, truth.up_m, truth.forward_m],
                    win.actions[t].keys,
                    f[at - 2] + cfg.eye_height,
                    f[at] + cfg.eye_height,
                    f[at + 2] + cfg.eye_height
                );
            }
            if row == 1 && col != 2 && misses.len() < 12 {
                misses.push((e, t, truth.up_m, step, f[at - 2], f[at - 1]));
            }
        }
    }
    println!(
        "true rise \\ footprint after the step: unseen, seen without a step, a 0.5-1.05 m step"
    );
    println!("rise < 0.5 m : {:?}", table[0]);
    println!("rise >= 0.5 m: {:?}", table[1]);
    for (row, name) in [(0, "steps not taken"), (1, "steps taken")] {
        let mut v = flatness[row].clone();
        v.sort_by(f32::total_cmp);
        if !v.is_empty() {
            println!(
                "{name}: share of the footprint's points within 5 cm of its top: min {:.2} median {:.2} max {:.2} ({} ticks)",
                v[0],
                v[v.len() / 2],
                v[v.len() - 1],
                v.len()
            );
        }
    }
    for (e, t, up, step, now, seen) in misses {
        println!(
            "missed: episode {e} tick {t}: rise {up:.2}, probe step {step:.2}, footprint now {now:.2} (seen {seen})"
        );
    }
    Ok(())
}
