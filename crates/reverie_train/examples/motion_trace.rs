//! Where a checkpoint's ego-motion parts from the oracle's over one evaluation episode (the
//! control protocol's random walk): per second, the true and predicted horizontal distance and
//! height change, and the ticks where one of them is blocked and the other walks.
//! `cargo run --release -p reverie_train --example motion_trace -- CHECKPOINT WORLD.toml [SEED[,SEED...]]`
//! (several seeds: each walk, then a summary line over all of them)
//! With `REVERIE_TRACE_TICKS=N` set, also the first N ticks one by one: the generated camera's
//! height, what its ground probe shows under the feet, and the predicted and true rise.
//! `REVERIE_TRACE_STEPS=N` walks N ticks instead of the control protocol's 241.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use reverie_core::{EgoMotion, GroundProbe, Intrinsics, TICK_HZ, seed};
use reverie_runtime::EngineOptions;
use reverie_train::eval::{depth_ratio_quantiles, record, rollout};
use reverie_world::WorldSpec;
use reverie_world::policy::PolicyKind;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(ckpt), Some(world)) = (args.first(), args.get(1)) else {
        eprintln!("usage: motion_trace CHECKPOINT WORLD.toml [SEED[,SEED...]]");
        return ExitCode::from(2);
    };
    let seeds: Vec<u64> = match args.get(2) {
        None => vec![1_000_001],
        Some(list) => match list.split(',').map(|s| s.trim().parse()).collect() {
            Ok(seeds) => seeds,
            Err(_) => {
                eprintln!("motion_trace: {list:?} is not a comma-separated list of world seeds");
                return ExitCode::from(2);
            }
        },
    };
    let mut total = Tally::default();
    for &seed in &seeds {
        if seeds.len() > 1 {
            println!("== world seed {seed}");
        }
        match run(Path::new(ckpt), Path::new(world), seed) {
            Ok(t) => total.add(&t),
            Err(e) => {
                eprintln!("motion_trace: world seed {seed}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if seeds.len() > 1 {
        let n = seeds.len() as f32;
        println!(
            "all {} walks: ticks blocked only in truth {} / only predicted {}; mean end error horizontal {:.2} m, height {:.2} m",
            seeds.len(),
            total.only_true,
            total.only_pred,
            total.horizontal_m / n,
            total.height_m / n
        );
    }
    ExitCode::SUCCESS
}

/// What one walk adds to the summary over several.
#[derive(Default)]
struct Tally {
    only_true: usize,
    only_pred: usize,
    horizontal_m: f32,
    height_m: f32,
}

impl Tally {
    fn add(&mut self, t: &Tally) {
        self.only_true += t.only_true;
        self.only_pred += t.only_pred;
        self.horizontal_m += t.horizontal_m;
        self.height_m += t.height_m;
    }
}

fn run(ckpt: &Path, world: &Path, world_seed: u64) -> Result<Tally, Box<dyn std::error::Error>> {
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
        std::env::var("REVERIE_TRACE_STEPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(241),
    );
    let mut poses: Vec<reverie_core::Pose> = Vec::new();
    // A ground probe fed with the generated frames (as the engine's is) and one fed with the
    // oracle's: at every step-up of the oracle walker, what each of them shows ahead.
    let mut seen = GroundProbe::new();
    let mut truth = GroundProbe::new();
    let mut steps = Vec::new();
    let trace_ticks: usize = std::env::var("REVERIE_TRACE_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let now = 2 * GroundProbe::GRID * GroundProbe::GRID;
    let at = 2 * GroundProbe::GRID * GroundProbe::GRID + 2;
    let step = |f: &[f32]| {
        if f[at + 1] > 0.0 {
            format!(
                "{:.2} m (flatness {:.2})",
                (f[at] + cfg.eye_height).clamp(0.0, 1.0),
                f[at + 5]
            )
        } else {
            "unseen".to_string()
        }
    };
    rollout(
        &model,
        &k,
        &ep.prompt(),
        &ep.actions,
        {
            // Diagnostics: REVERIE_TRACE_NO_MEMORY / _NO_AHEAD / _TEMPERATURE=T.
            let mut o = EngineOptions::default();
            let var = |n: &str| std::env::var(n).ok();
            if var("REVERIE_TRACE_NO_MEMORY").is_some() {
                o.use_memory = false;
            }
            if var("REVERIE_TRACE_NO_AHEAD").is_some() {
                o.memory_ahead = false;
            }
            if let Some(t) = var("REVERIE_TRACE_TEMPERATURE").and_then(|t| t.parse().ok()) {
                o.source_temperature = t;
            }
            o
        },
        &|_| false,
        |g| {
            let t = poses.len();
            if t > 0 && t <= trace_ticks {
                let prev = &poses[t - 1];
                let f = cfg.probe_features(&seen, prev, &ep.actions[t]);
                let o = cfg.probe_features(&truth, &ep.poses[t - 1], &ep.actions[t]);
                // The ground right under the feet (what a `ground_vertical` head stands on: the
                // highest seen top of the grid's four cells around the camera), and the top of
                // the whole footprint (walls it touches included).
                let feet = |f: &[f32]| {
                    let gg = GroundProbe::GRID;
                    let mid = [gg / 2 - 1, gg / 2];
                    let under = mid
                        .iter()
                        .flat_map(|&i| mid.iter().map(move |&j| i * gg + j))
                        .filter(|&c| f[gg * gg + c] > 0.0)
                        .map(|c| f[c])
                        .reduce(f32::max);
                    let show = |t: Option<f32>| match t {
                        Some(t) => format!("{:+.2}", t + cfg.eye_height),
                        None => "  -  ".to_string(),
                    };
                    format!(
                        "{} (footprint {})",
                        show(under),
                        show((f[now + 1] > 0.0).then_some(f[now]))
                    )
                };
                // The generated depth against the oracle's, over the lower half of the frame
                // (ground, mostly): median ratio and its spread (quartiles).
                let n = g.depth_m.len();
                let q = depth_ratio_quantiles(
                    &g.depth_m[n / 2..],
                    &ep.depth_m[t][n / 2..],
                    None,
                    &[0.1, 0.25, 0.5, 0.75, 0.9],
                );
                println!(
                    "          depth ratio (lower half) q10 {:.3} q25 {:.3} q50 {:.3} q75 {:.3} q90 {:.3}",
                    q[0], q[1], q[2], q[3], q[4]
                );
                println!(
                    "tick {t:>3}: height {:+7.2} (true {:+6.2}) | top under the feet {} (oracle's {}) | rise {:+.3} (true {:+.3})",
                    prev.position.y,
                    ep.poses[t - 1].position.y,
                    feet(&f),
                    feet(&o),
                    g.pose.position.y - prev.position.y,
                    ep.poses[t].position.y - ep.poses[t - 1].position.y,
                );
            }
            if t > 0 && t <= trace_ticks && std::env::var("REVERIE_TRACE_FOOTPRINT").is_ok() {
                // The session probe's points in the body's footprint now: how many, and those
                // within 1 m of the eye's height by the age of the frame they came from, with
                // how far from that frame's camera they were.
                let prev = &poses[t - 1];
                let (h, r) = (prev.heading(), prev.right());
                let half = cfg.body_half_width;
                let frames: Vec<&[_]> = seen.frames().collect();
                let mut all = 0;
                let mut high = Vec::new();
                for (i, pts) in frames.iter().enumerate() {
                    let age = frames.len() - i;
                    let cam = poses[t - age].position;
                    for p in pts.iter() {
                        let rel = *p - prev.position;
                        if rel.dot(h).abs() <= half && rel.dot(r).abs() <= half {
                            all += 1;
                            if rel.y > -0.5 {
                                high.push(format!(
                                    "{:+.2}@{age}({:.2}m)",
                                    rel.y,
                                    (*p - cam).length()
                                ));
                            }
                        }
                    }
                }
                if !high.is_empty() {
                    println!(
                        "          footprint: {all} points; near the eye: {}",
                        high.join(" ")
                    );
                }
            }
            if t > 0 && ep.poses[t].position.y - ep.poses[t - 1].position.y >= 0.5 {
                let prev = &poses[t - 1];
                steps.push(format!(
                    "tick {t}: true rise {:.2} m, predicted {:.2} m; step ahead in the generated probe {}, in the oracle's {}",
                    ep.poses[t].position.y - ep.poses[t - 1].position.y,
                    g.pose.position.y - prev.position.y,
                    step(&cfg.probe_features(&seen, prev, &ep.actions[t])),
                    step(&cfg.probe_features(&truth, &ep.poses[t - 1], &ep.actions[t])),
                ));
            }
            let _ = seen.push(&k, &g.depth_m, &g.pose);
            let _ = truth.push(&k, &ep.depth_m[t], &ep.poses[t]);
            poses.push(g.pose);
        },
    )?;
    let sec = TICK_HZ as usize;
    let mut tally = Tally::default();
    println!(
        "second | true walk m, rise m | predicted walk m, rise m | ticks: blocked only in truth / only predicted"
    );
    // Whole seconds only (second s spans poses s·24 ..= (s + 1)·24).
    for s in 0..poses.len().saturating_sub(1) / sec {
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
        tally.only_true += only_true;
        tally.only_pred += only_pred;
        println!(
            "{s:>6} | {:>6.2} {:>6.2} | {:>6.2} {:>6.2} | {only_true:>3} / {only_pred:>3}",
            flat(&ep.poses[a..=b]),
            rise(&ep.poses[a..=b]),
            flat(&poses[a..=b]),
            rise(&poses[a..=b]),
        );
    }
    for s in &steps {
        println!("{s}");
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
    tally.horizontal_m = (t.position - p.position).with_y(0.0).length();
    tally.height_m = (t.position - p.position).y.abs();
    Ok(tally)
}
