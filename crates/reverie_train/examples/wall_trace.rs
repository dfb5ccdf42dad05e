//! The wall test of one seed, tick by tick: where the generated walker is, how far the wall
//! ahead is in the generated depth and in the oracle's at the session's pose, and a strip of
//! every 12th tick (oracle at the true pose | oracle at the session's pose | generated | its depth).
//! `cargo run --release -p reverie_train --example wall_trace -- CHECKPOINT WORLD.toml SEED OUT.png`
//! A diagnostic: it renders the oracle at the session's pose, which `reverie eval` never does.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use reverie_core::{Intrinsics, seed};
use reverie_runtime::{Engine, EngineOptions, Prompt};
use reverie_train::eval::{depth_ahead, depth_picture, wall_walk};
use reverie_world::{Renderer, World, WorldSpec};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: wall_trace CHECKPOINT WORLD.toml SEED OUT.png");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wall_trace: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let model = reverie_model::checkpoint::load_cpu(Path::new(&args[0]))?;
    let mut spec = WorldSpec::load(Path::new(&args[1]))?;
    let world_seed: u64 = args[2].parse()?;
    let mc = model.config();
    let k = Intrinsics::from_vfov_deg(mc.width as u32, mc.height as u32, 70.0)?;
    let (w, h) = (mc.width, mc.height);
    spec.generator.seed = world_seed;
    let Some(walk) = wall_walk(&spec, &k, world_seed, seed::derive(world_seed, &[2])) else {
        return Err("no wall within 2-10 m of this seed's spawn".into());
    };
    let spec = Arc::new(spec);
    let ep = &walk.episode;
    let s = walk.start;
    println!(
        "wall {:.2} m ahead, passed over {}",
        walk.wall_distance_m, walk.passed_over
    );
    let prompt = Prompt {
        rgb: ep.rgb[s].clone(),
        depth_m: Some(ep.depth_m[s].clone()),
        pose: ep.poses[s],
    };
    let mut engine = Engine::new(&model, k, &prompt, EngineOptions::default())?;
    let mut world = World::new(spec.clone());
    let renderer = Renderer::new(&spec);
    let p0 = ep.poses[s].position;
    let mut rows = Vec::new();
    println!("tick walked truth_walked fwd_m up_m ahead_gen ahead_truth_at_session");
    for (i, a) in ep.actions[s..].iter().enumerate() {
        if i > 0 {
            engine.step(a)?;
        }
        let g = engine.frame();
        let at_session = renderer.render_frame(&mut world, &g.pose, &k, i as u64);
        println!(
            "{:4} {:6.2} {:6.2} {:6.3} {:6.3} {:7.2} {:7.2}",
            i,
            (g.pose.position - p0).length(),
            (ep.poses[s + i].position - p0).length(),
            g.motion.forward_m,
            g.motion.up_m,
            depth_ahead(&g.depth_m, w, h),
            depth_ahead(&at_session.depth_m, w, h),
        );
        if i % 12 == 0 {
            rows.push(vec![
                ep.rgb[s + i].clone(),
                at_session.rgb.clone(),
                g.rgb.clone(),
                depth_picture(&g.depth_m),
            ]);
        }
    }
    let cols = 4usize;
    let mut img = Vec::new();
    for row in &rows {
        for y in 0..h {
            for f in row {
                img.extend_from_slice(&f[y * w * 3..(y + 1) * w * 3]);
            }
        }
    }
    reverie_world::imageio::write_png(
        Path::new(&args[3]),
        (cols * w) as u32,
        (rows.len() * h) as u32,
        &img,
    )?;
    Ok(())
}
