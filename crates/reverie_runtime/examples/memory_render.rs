//! Times the memory render a session makes each tick (the render made ahead) on a saved
//! session's memory: renders at the session's pose and at poses turned and stepped from it,
//! and prints time per render, splats drawn and overdraw.
//!
//! `cargo run --release -p reverie_runtime --example memory_render -- SESSION [CHECKPOINT [BUDGET]]`
//! (save a long session with `reverie bench --seconds 0 --session-minutes 20 --session-save F`).

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use glam::Vec3;
use reverie_core::Pose;
use reverie_memory::View;
use reverie_runtime::{Engine, EngineOptions};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let session = PathBuf::from(
        args.next()
            .context("usage: memory_render SESSION [CHECKPOINT [BUDGET]]")?,
    );
    let checkpoint = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "assets/models/default".into()),
    );
    let model = reverie_model::checkpoint::load_cpu(&checkpoint)
        .with_context(|| format!("loading {}", checkpoint.display()))?;
    let engine = Engine::load_session(&model, &session, EngineOptions::default())?;
    let mut memory = reverie_memory::SpatialMemory::from_bytes(&engine.memory().to_bytes())
        .map_err(anyhow::Error::msg)?;
    if let Some(budget) = args.next() {
        memory.set_render_budget(budget.parse().context("BUDGET: splats per pixel")?)?;
    }
    let memory = &memory;
    let k = *engine.intrinsics();
    let base = engine.frame().pose;
    let stats = memory.stats();
    println!(
        "{}: {} cells in {} chunks, {:.1} MB, render budget {} splats/pixel",
        session.display(),
        stats.cells,
        stats.chunks,
        stats.bytes as f64 / 1e6,
        memory.config().render_splats_per_pixel
    );
    let mut poses = Vec::new();
    for i in 0..24 {
        let yaw = base.yaw_rad + (i as f32 - 12.0) * 0.05;
        let step = Vec3::new((i % 5) as f32 * 0.1 - 0.2, 0.0, (i % 3) as f32 * 0.1 - 0.1);
        poses.push(Pose::new(base.position + step, yaw, base.pitch_rad));
    }
    let mut view = View::new(&k);
    let mut times = Vec::new();
    let (mut splats, mut touched, mut chunks) = (0usize, 0usize, (0usize, 0usize));
    for round in 0..6 {
        for pose in &poses {
            let t = Instant::now();
            memory.render(pose, &k, &mut view);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if round > 0 {
                times.push(ms);
                splats += view.splats_drawn();
                touched += view.pixels_touched();
                let (seen, drawn) = view.chunks_drawn();
                chunks = (chunks.0 + seen, chunks.1 + drawn);
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let n = times.len();
    println!(
        "render: mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms over {n} renders; {:.1} k splats, overdraw {:.1}; chunks in view {:.0}, drawn {:.0}",
        times.iter().sum::<f64>() / n as f64,
        times[n / 2],
        times[n * 9 / 10],
        splats as f64 / n as f64 / 1e3,
        touched as f64 / n as f64 / k.pixels() as f64,
        chunks.0 as f64 / n as f64,
        chunks.1 as f64 / n as f64
    );
    Ok(())
}
