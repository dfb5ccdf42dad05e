//! Whether the short-term warp biases depth: over an evaluation episode (the control protocol's
//! random walk), each oracle frame warped into the next pose against the oracle's next frame
//! (one step), and a frame warped tick after tick from its own warped output (holes filled from
//! the oracle, as a network would fill them) — the median ratio of warped to true depth.
//! `cargo run --release -p reverie_train --example warp_depth_bias -- WORLD.toml [SEED] [SCALE]`
//! (SCALE: the warp's splat scale, default the runtime's `MemoryConfig::warp_splat_scale`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use reverie_core::{Intrinsics, seed};
use reverie_memory::{MemoryConfig, View, warp};
use reverie_train::eval::{depth_ratio_quantiles, record};
use reverie_world::WorldSpec;
use reverie_world::policy::PolicyKind;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(world) = args.first() else {
        eprintln!("usage: warp_depth_bias WORLD.toml [SEED]");
        return ExitCode::from(2);
    };
    let world_seed: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_001);
    let mut splatting = MemoryConfig::default().splatting();
    if let Some(scale) = args.get(2).and_then(|s| s.parse().ok()) {
        splatting.scale = scale;
    }
    match run(Path::new(world), world_seed, splatting) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warp_depth_bias: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Quartiles of warped / true depth where the warp has a pixel.
fn ratios(warped: &[f32], truth: &[f32], valid: &[f32]) -> Vec<f32> {
    depth_ratio_quantiles(warped, truth, Some(valid), &[0.25, 0.5, 0.75])
}

fn run(
    world: &Path,
    world_seed: u64,
    splatting: reverie_memory::Splatting,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut spec = WorldSpec::load(world)?;
    spec.generator.seed = world_seed;
    let k = Intrinsics::from_vfov_deg(128, 128, 70.0)?;
    let ep = record(
        &Arc::new(spec),
        &k,
        &PolicyKind::RandomWalk,
        seed::derive(world_seed, &[1]),
        121,
    );
    let mut view = View::new(&k);
    let (mut rgb, mut depth) = (ep.rgb[0].clone(), ep.depth_m[0].clone());
    println!("tick | one step q25 q50 q75 | chained q25 q50 q75");
    for t in 1..ep.poses.len() {
        warp(
            &k,
            &ep.rgb[t - 1],
            &ep.depth_m[t - 1],
            &ep.poses[t - 1],
            &ep.poses[t],
            splatting,
            &mut view,
        )?;
        let one = ratios(&view.depth_m, &ep.depth_m[t], &view.confidence);
        warp(
            &k,
            &rgb,
            &depth,
            &ep.poses[t - 1],
            &ep.poses[t],
            splatting,
            &mut view,
        )?;
        let chained = ratios(&view.depth_m, &ep.depth_m[t], &view.confidence);
        // Holes (and sky) from the oracle, the rest kept as warped.
        for i in 0..depth.len() {
            if view.confidence[i] > 0.0 && view.depth_m[i].is_finite() {
                depth[i] = view.depth_m[i];
                rgb[3 * i..3 * i + 3].copy_from_slice(&view.rgb[3 * i..3 * i + 3]);
            } else {
                depth[i] = ep.depth_m[t][i];
                rgb[3 * i..3 * i + 3].copy_from_slice(&ep.rgb[t][3 * i..3 * i + 3]);
            }
        }
        if t % 8 == 0 {
            println!(
                "{t:>4} | {:.4} {:.4} {:.4} | {:.4} {:.4} {:.4}",
                one[0], one[1], one[2], chained[0], chained[1], chained[2]
            );
        }
    }
    Ok(())
}
