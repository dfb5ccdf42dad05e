//! What a long session under the stability protocol's random policy looks like: every
//! `EVERY` seconds one row of seven pictures — the oracle at the true pose, the oracle at the
//! session's own pose, the warp guide, the memory guide, the generated frame, its depth and the
//! oracle's depth at the session's pose (inverse depth: 1 m white, sky black) — into a PNG, and
//! one line: the generated frame's brightness and detail against the prompt; where the session
//! and the truth stand; the generated depth against the truth's at the session's pose (the
//! median |ln(generated / true)| and each map's roughness, the mean |ln| between neighbours;
//! session 31: 7–30× the truth's within 2 s of meadow's walk, and the warp of it is speckled);
//! and how far the camera rose on ticks it also walked, rose standing still and fell since the
//! line before.
//! `cargo run --release -p reverie_train --example long_session -- CHECKPOINT WORLD.toml SEED MINUTES on|off OUT.png [EVERY_SECS]`
//! (`on`/`off`: the spatial memory; `REVERIE_SOURCE_TEMPERATURE`, `REVERIE_DEPTH_TEMPERATURE`
//! and `REVERIE_HORIZONTAL_DEADBAND` override the runtime's).
//! A diagnostic: it renders the oracle at the session's pose, which `reverie eval` never does.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use reverie_core::{Intrinsics, TICK_HZ};
use reverie_runtime::{Engine, EngineOptions};
use reverie_train::eval::{brightness, depth_picture, gradient_energy, stability_walk};
use reverie_world::{Renderer, World, WorldSpec};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 6 {
        eprintln!(
            "usage: long_session CHECKPOINT WORLD.toml SEED MINUTES on|off OUT.png [EVERY_SECS]"
        );
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("long_session: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let model = reverie_model::checkpoint::load_cpu(Path::new(&args[0]))?;
    let mut spec = WorldSpec::load(Path::new(&args[1]))?;
    let world_seed: u64 = args[2].parse()?;
    let minutes: f64 = args[3].parse()?;
    let use_memory = match args[4].as_str() {
        "on" => true,
        "off" => false,
        other => return Err(format!("memory {other:?}: on or off").into()),
    };
    let every: f64 = args.get(6).map_or(Ok(15.0), |s| s.parse())?;
    let mc = model.config();
    let k = Intrinsics::from_vfov_deg(mc.width as u32, mc.height as u32, 70.0)?;
    spec.generator.seed = world_seed;
    let spec = Arc::new(spec);
    let (ep, start) = stability_walk(&spec, &k, world_seed, minutes)?;
    let (w, h) = (mc.width, mc.height);
    let prompt_detail = gradient_energy(&start.rgb[0], w, h).max(1e-9);
    let y0 = start.poses[0].position.y;
    let period = (every * f64::from(TICK_HZ)).round().max(1.0) as usize;
    let mut options = EngineOptions {
        use_memory,
        ..EngineOptions::default()
    };
    if let Ok(t) = std::env::var("REVERIE_SOURCE_TEMPERATURE") {
        options.source_temperature = reverie_runtime::parse_source_temperature(&t)?;
    }
    if let Ok(t) = std::env::var("REVERIE_DEPTH_TEMPERATURE") {
        options.depth_temperature = reverie_runtime::parse_depth_temperature(&t)?;
    }
    if let Ok(m) = std::env::var("REVERIE_HORIZONTAL_DEADBAND") {
        options.horizontal_deadband_m = reverie_runtime::parse_horizontal_deadband(&m)?;
    }
    if let Ok(r) = std::env::var("REVERIE_DEPTH_MEDIAN") {
        options.depth_median_radius = reverie_runtime::parse_depth_median(&r)?;
    }
    let mut world = World::new(spec.clone());
    let renderer = Renderer::new(&spec);
    let mut engine = Engine::new(&model, k, &start.prompt(), options)?;
    let mut rows: Vec<Vec<Vec<u8>>> = Vec::new();
    println!(
        "secs brightness detail height_m truth_height_m x z truth_x truth_z warp_cov memory_cov depth_err depth_rough truth_rough rose_walking rose_standing fell"
    );
    // Since the last line: metres the camera rose on ticks it also walked, rose standing still
    // and fell.
    let (mut rose_walking, mut rose_standing, mut fell) = (0.0f32, 0.0f32, 0.0f32);
    let trace_ticks: usize = std::env::var("REVERIE_TRACE_TICKS").map_or(Ok(0), |n| n.parse())?;
    for (t, a) in ep.actions.iter().enumerate() {
        if t > 0 && t < trace_ticks {
            // The head's own vertical motion, before the session's dead bands and fall window.
            let raw = model.motion_of(&engine.motion_inputs(a)?)?;
            let truth_up = ep.poses[t].position.y - ep.poses[t - 1].position.y;
            let truth_walk = (ep.poses[t].position.x - ep.poses[t - 1].position.x)
                .hypot(ep.poses[t].position.z - ep.poses[t - 1].position.z);
            eprintln!(
                "tick {t:4} jump {} true up {truth_up:+.3} walk {truth_walk:.3} | head up {:+.3} walk {:.3} | in the air {:.2} m",
                u8::from(a.keys.contains(reverie_core::Keys::JUMP)),
                raw.up_m,
                raw.right_m.hypot(raw.forward_m),
                engine.lift().m,
            );
        }
        if t > 0 {
            let before = engine.frame().pose.position;
            let after = engine.step(a)?.pose.position;
            let dy = after.y - before.y;
            if dy < 0.0 {
                fell -= dy;
            } else if (after.x - before.x).hypot(after.z - before.z) > 0.0 {
                rose_walking += dy;
            } else {
                rose_standing += dy;
            }
        }
        if t % period != 0 {
            continue;
        }
        let g = engine.frame();
        let truth = ep.poses[t];
        let at_session = renderer.render_frame(&mut world, &g.pose, &k, t as u64);
        let (depth_err, rough, truth_rough) = depth_stats(&g.depth_m, &at_session.depth_m, w, h);
        println!(
            "{:5.0} {:6.1} {:5.2} {:7.2} {:7.2} {:7.1} {:7.1} {:7.1} {:7.1} {:5.2} {:5.2} {:5.3} {:5.3} {:5.3} {:6.2} {:6.2} {:6.2}",
            t as f64 / f64::from(TICK_HZ),
            brightness(&g.rgb),
            gradient_energy(&g.rgb, w, h) / prompt_detail,
            g.pose.position.y - y0,
            truth.position.y - y0,
            g.pose.position.x,
            g.pose.position.z,
            truth.position.x,
            truth.position.z,
            g.warp_coverage,
            g.memory_coverage,
            depth_err,
            rough,
            truth_rough,
            rose_walking,
            rose_standing,
            fell,
        );
        (rose_walking, rose_standing, fell) = (0.0, 0.0, 0.0);
        let at_truth = renderer.render_frame(&mut world, &truth, &k, t as u64).rgb;
        let (warp, memory) = engine.guides();
        rows.push(vec![
            at_truth,
            at_session.rgb.clone(),
            warp.rgb.clone(),
            memory.rgb.clone(),
            g.rgb.clone(),
            depth_picture(&g.depth_m),
            depth_picture(&at_session.depth_m),
        ]);
    }
    let cols = 7usize;
    let mut img = Vec::with_capacity(rows.len() * h * cols * w * 3);
    for row in &rows {
        for y in 0..h {
            for f in row {
                img.extend_from_slice(&f[y * w * 3..(y + 1) * w * 3]);
            }
        }
    }
    reverie_world::imageio::write_png(
        Path::new(&args[5]),
        (cols * w) as u32,
        (rows.len() * h) as u32,
        &img,
    )?;
    Ok(())
}

/// Median |ln(generated / true)| depth over pixels both see as surface, and each map's
/// roughness: mean |ln d − ln d_right| over horizontally neighbouring surface pixels.
fn depth_stats(made: &[f32], truth: &[f32], w: usize, h: usize) -> (f64, f64, f64) {
    let mut err: Vec<f64> = made
        .iter()
        .zip(truth)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| f64::from((a.max(0.05) / b.max(0.05)).ln().abs()))
        .collect();
    err.sort_by(f64::total_cmp);
    let median = err.get(err.len() / 2).copied().unwrap_or(f64::NAN);
    let rough = |d: &[f32]| {
        let (mut s, mut n) = (0.0f64, 0usize);
        for y in 0..h {
            for x in 0..w - 1 {
                let (a, b) = (d[y * w + x], d[y * w + x + 1]);
                if a.is_finite() && b.is_finite() {
                    s += f64::from((a.max(0.05) / b.max(0.05)).ln().abs());
                    n += 1;
                }
            }
        }
        s / n.max(1) as f64
    };
    (median, rough(made), rough(truth))
}
