//! Where a checkpoint's ego-motion parts from the oracle's over one evaluation episode (the
//! control protocol's random walk): per second, the true and predicted horizontal distance and
//! height change, and the ticks where one of them is blocked and the other walks.
//! `cargo run --release -p reverie_train --example motion_trace -- CHECKPOINT WORLD.toml [SEED]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use reverie_core::{EgoMotion, Intrinsics, TICK_HZ, seed};
use reverie_runtime::EngineOptions;
use reverie_train::eval::{record, rollout};
use reverie_world::WorldSpec;
use reverie_world::policy::PolicyKind;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(ckpt), Some(world)) = (args.first(), args.get(1)) else {
        eprintln!("usage: motion_trace CHECKPOINT WORLD.toml [SEED]");
        return ExitCode::from(2);
    };
    let world_seed: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_001);
    match run(Path::new(ckpt), Path::new(world), world_seed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("motion_trace: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(ckpt: &Path, world: &Path, world_seed: u64) -> Result<(), Box<dyn std::error::Error>> {
    let model = reverie_model::checkpoint::load_cpu(ckpt)?;
    let mut spec = WorldSpec::load(world)?;
    spec.generator.seed = world_seed;
    let cfg = model.config().clone();
    let k = Intrinsics::from_vfov_deg(cfg.width as u32, cfg.height as u32, 70.0)?;
    let ep = record(
        &Arc::new(spec),
        &k,
        &PolicyKind::RandomWalk,
        seed::derive(world_seed, &[1]),
        241,
    );
    let mut poses = Vec::new();
    rollout(
        &model,
        &k,
        &ep.prompt(),
        &ep.actions,
        EngineOptions::default(),
        &|_| false,
        |g| poses.push(g.pose),
    )?;
    let sec = TICK_HZ as usize;
    println!(
        "second | true walk m, rise m | predicted walk m, rise m | ticks: blocked only in truth / only predicted"
    );
    for s in 0..poses.len() / sec {
        let (a, b) = (s * sec, (s + 1) * sec);
        let flat = |p: &[reverie_core::Pose]| {
            p.windows(2)
                .map(|w| {
                    let d = w[1].position - w[0].position;
                    d.x.hypot(d.z)
                })
                .sum::<f32>()
        };
        let rise = |p: &[reverie_core::Pose]| p[p.len() - 1].position.y - p[0].position.y;
        let (mut only_true, mut only_pred) = (0, 0);
        for t in a + 1..=b.min(poses.len() - 1) {
            let i = EgoMotion::intended(&ep.actions[t], cfg.walk_speed, cfg.sprint_speed);
            let want = i.right_m.hypot(i.forward_m);
            if want < 1e-3 {
                continue;
            }
            let m = |p: &[reverie_core::Pose]| {
                let d = p[t].position - p[t - 1].position;
                d.x.hypot(d.z) / want
            };
            let (tr, pr) = (m(&ep.poses), m(&poses));
            only_true += usize::from(tr < 0.3 && pr > 0.7);
            only_pred += usize::from(pr < 0.3 && tr > 0.7);
        }
        println!(
            "{s:>6} | {:>6.2} {:>6.2} | {:>6.2} {:>6.2} | {only_true:>3} / {only_pred:>3}",
            flat(&ep.poses[a..=b]),
            rise(&ep.poses[a..=b]),
            flat(&poses[a..=b]),
            rise(&poses[a..=b]),
        );
    }
    let (t, p) = (ep.poses[poses.len() - 1], poses[poses.len() - 1]);
    println!(
        "end: true {:.2?}, predicted {:.2?}, apart {:.2} m (horizontal {:.2}, vertical {:.2})",
        t.position,
        p.position,
        (t.position - p.position).length(),
        (t.position - p.position).with_y(0.0).length(),
        (t.position - p.position).y
    );
    Ok(())
}
