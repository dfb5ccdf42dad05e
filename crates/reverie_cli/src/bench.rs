//! `reverie bench`: the real-time runtime, headless, on a checkpoint with memory on, replaying a
//! mixed action script at 24 Hz from its own clock; and `--session-minutes`, a fast-forwarded
//! long session that reports tick cost and resident memory minute by minute.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reverie_core::{Action, Intrinsics, TICK_HZ};
use reverie_model::{WorldModel, checkpoint};
use reverie_runtime::{
    Engine, EngineOptions, MetricsSnapshot, Prompt, Quality, RuntimeConfig, RuntimeHandle,
    StageTimes,
};
use reverie_train::plot::{Series, line_chart};
use reverie_world::policy::PolicyKind;
use reverie_world::{World, WorldSpec, episode};
use serde::Serialize;

/// What `reverie bench` was asked to do.
#[derive(Debug)]
pub struct BenchArgs<'a> {
    pub checkpoint: &'a Path,
    pub world: &'a Path,
    pub seed: u64,
    pub seconds: f64,
    pub session_minutes: u64,
    pub trace: Option<&'a Path>,
    /// Start the fast-forward from this saved session instead of the prompt.
    pub session_from: Option<&'a Path>,
    /// Save the fast-forwarded session here at its end.
    pub session_save: Option<&'a Path>,
    /// The real-time run's frame deadline (ms after the slot starts; `None` = off).
    pub frame_deadline_ms: Option<f64>,
    /// The sessions' source temperature ([`EngineOptions::source_temperature`]).
    pub source_temperature: f32,
}

impl BenchArgs<'_> {
    /// The engine options of every session the benchmark runs.
    fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            source_temperature: self.source_temperature,
            ..EngineOptions::default()
        }
    }
}

/// The real-time part of the report.
#[derive(Debug, Serialize)]
pub struct RealtimeReport {
    /// Seconds replayed.
    pub seconds: f64,
    /// Everything the runtime measured (fps, tick p50/p99, stages, input-to-frame, late, dropped,
    /// time per quality level).
    pub metrics: MetricsSnapshot,
    /// Frames the consumer received (latest-wins: the display side).
    pub frames_received: u64,
    /// Memory at the end.
    pub memory_bytes: u64,
    /// Memory cells at the end.
    pub memory_cells: u64,
}

/// One minute of the fast-forwarded session.
#[derive(Debug, Serialize)]
pub struct SessionMinute {
    /// 1-based minute.
    pub minute: u64,
    /// Mean whole-tick time (full quality), milliseconds.
    pub tick_mean_ms: f64,
    /// Median and 99th percentile of the tick time.
    pub tick_p50_ms: f64,
    /// See `tick_p50_ms`.
    pub tick_p99_ms: f64,
    /// Mean per stage, in `StageTimes::NAMES` order (motion, warp, memory render, network,
    /// memory render ahead, memory write).
    pub stages_mean_ms: [f64; StageTimes::COUNT],
    /// Mean splats drawn by the memory render (made ahead or inside the tick: the work it did),
    /// per tick.
    pub render_splats_mean: f64,
    /// Mean overdraw of the memory render: pixels its splats reached / image pixels.
    pub render_overdraw_mean: f64,
    /// Memory resident bytes at the end of the minute.
    pub memory_bytes: u64,
    /// Process resident set size at the end of the minute (0 if unknown).
    pub process_rss: u64,
}

/// The fast-forwarded session.
#[derive(Debug, Serialize)]
pub struct SessionReport {
    /// Minutes of session (24 ticks per second).
    pub minutes: u64,
    /// Wall seconds it took.
    pub wall_seconds: f64,
    /// Per minute.
    pub per_minute: Vec<SessionMinute>,
    /// Last minute's mean tick over the first's.
    pub last_over_first: f64,
    /// After the last minute, one more: the aged session's mean tick (ms) while a fresh session
    /// replays the first minute beside it, tick for tick (so a drift of the host's speed over
    /// the run hits both alike). 0 when not measured (a one-minute session, or one continued
    /// with `--session-from`).
    #[serde(default)]
    pub aged_beside_replay_ms: f64,
    /// The first minute's mean tick, replayed beside the aged session (ms).
    #[serde(default)]
    pub first_replayed_beside_ms: f64,
    /// `aged_beside_replay_ms / first_replayed_beside_ms`: the cost of the session's age alone.
    #[serde(default)]
    pub aged_over_first_side_by_side: f64,
    /// The memory's configured bound.
    pub memory_bound_bytes: u64,
    /// Process RSS at the end minus at the end of minute 1.
    pub rss_growth_bytes: i64,
    /// `rss_growth_bytes / memory_bound_bytes` (≤ 1.05 is "within 5 % of the bound").
    pub rss_growth_over_bound: f64,
}

/// The whole `reverie bench` report.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Checkpoint directory.
    pub checkpoint: String,
    /// World of the prompt.
    pub world: String,
    /// Its seed (the prompt is that seed's spawn view; nothing else of the oracle is used).
    pub seed: u64,
    /// Cores available.
    pub threads: usize,
    /// Threads the network's kernels use (candle's matmul; `RAYON_NUM_THREADS`).
    pub network_threads: usize,
    /// The real-time run (absent with `--seconds 0`).
    pub realtime: Option<RealtimeReport>,
    /// The fast-forwarded session (absent with `--session-minutes 0`).
    pub session: Option<SessionReport>,
}

/// Process resident set size in bytes (0 where `/proc` is missing), read after the allocator
/// returned the free pages of this thread's heap to the OS — what the process holds, not what
/// mimalloc keeps cached (without it RSS moved between 238 and 414 MB minute to minute in a
/// 60-minute session at a constant 255 MB of memory).
pub fn process_rss() -> u64 {
    // SAFETY: `mi_collect` takes no pointers and frees nothing in use: it returns the free pages
    // of the calling thread's heap (and abandoned ones) to the OS.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// A session's prompt: the spawn view of `seed` in the world.
pub fn world_prompt(world: &Path, seed: u64, k: &Intrinsics) -> Result<Prompt> {
    let f = episode::spawn_view(WorldSpec::load(world)?, seed, k);
    Ok(Prompt {
        rgb: f.rgb,
        depth_m: Some(f.depth_m),
        pose: f.pose,
    })
}

/// `ticks` actions of the mixed exploration policy walked in the oracle's physics (no rendering):
/// a realistic mix of walking, turning, looking around and running into walls.
pub fn mixed_script(world: &Path, seed: u64, ticks: usize) -> Result<Vec<Action>> {
    let mut spec = WorldSpec::load(world)?;
    spec.generator.seed = seed;
    let mut w = World::new(Arc::new(spec));
    let mut actions = Vec::with_capacity(ticks);
    let mut segment = 0u64;
    while actions.len() < ticks {
        // A new policy (walk, wall-follow or look-around) every 20 s.
        let ep = reverie_core::seed::derive(seed, &[0xbe, segment]);
        let mut player = episode::spawn(&mut w, ep);
        let mut policy = PolicyKind::Mixed.build(ep);
        for t in 1..=(20 * TICK_HZ as u64) {
            let a = policy.act(&w, &player, t);
            w.ensure_loaded(player.feet);
            player.step(&w, &a);
            actions.push(a);
            if actions.len() == ticks {
                break;
            }
        }
        segment += 1;
    }
    Ok(actions)
}

fn load_model(dir: &Path) -> Result<WorldModel> {
    checkpoint::load_cpu(dir).with_context(|| format!("loading the checkpoint {}", dir.display()))
}

/// Runs the benchmark; `progress` gets a line now and then.
pub fn run(args: &BenchArgs<'_>, out_json: &Path, progress: &dyn Fn(&str)) -> Result<BenchReport> {
    if !(args.seconds.is_finite() && (0.0..=3600.0).contains(&args.seconds)) {
        bail!(
            "--seconds {} is out of range, expected 0 ..= 3600",
            args.seconds
        );
    }
    if args.session_minutes > 24 * 60 {
        bail!(
            "--session-minutes {} is out of range, expected 0 ..= 1440",
            args.session_minutes
        );
    }
    let model = Arc::new(load_model(args.checkpoint)?);
    let cfg = model.config();
    let k = Intrinsics::from_vfov_deg(cfg.width as u32, cfg.height as u32, 70.0)?;
    let prompt = world_prompt(args.world, args.seed, &k)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut report = BenchReport {
        checkpoint: args.checkpoint.display().to_string(),
        world: args.world.display().to_string(),
        seed: args.seed,
        threads,
        network_threads: reverie_model::threads::cpu_threads(),
        realtime: None,
        session: None,
    };
    if args.seconds > 0.0 {
        report.realtime = Some(realtime(args, &model, k, &prompt, out_json, progress)?);
    }
    if args.session_minutes > 0 {
        report.session = Some(session(args, &model, k, &prompt, out_json, progress)?);
    }
    Ok(report)
}

fn realtime(
    args: &BenchArgs<'_>,
    model: &Arc<WorldModel>,
    k: Intrinsics,
    prompt: &Prompt,
    out_json: &Path,
    progress: &dyn Fn(&str),
) -> Result<RealtimeReport> {
    let ticks = (args.seconds * TICK_HZ as f64).round() as usize;
    let script = mixed_script(args.world, args.seed, ticks)?;
    let config = RuntimeConfig {
        trace: args.trace.map(Path::to_path_buf),
        frame_deadline_ms: args.frame_deadline_ms,
        ..RuntimeConfig::default()
    };
    let rt = RuntimeHandle::start(
        Arc::clone(model),
        k,
        prompt.clone(),
        args.engine_options(),
        config,
    )?;
    progress(&format!(
        "replaying {ticks} actions ({:.0} s) at 24 Hz, memory on",
        args.seconds
    ));
    // The player: one action per 1/24 s, each at a uniformly random moment within its 1/24 s
    // (a real input device is not in step with the runtime's clock; a sender locked to it would
    // make the latency depend on the phase it happened to start with).
    let rt = Arc::new(rt);
    let sender = {
        let rt = Arc::clone(&rt);
        let mut rng = reverie_core::seed::mix64(args.seed ^ 0x1a7e);
        std::thread::spawn(move || -> Result<(), String> {
            let start = Instant::now();
            for (i, a) in script.into_iter().enumerate() {
                rng = reverie_core::seed::mix64(rng);
                let u = (rng >> 11) as f64 / (1u64 << 53) as f64;
                let at = start + Duration::from_secs_f64((i as f64 + u) / TICK_HZ as f64);
                if let Some(d) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                rt.send(a).map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    };
    // The display: takes every frame it can, as a window would.
    let mut received = 0u64;
    let mut points = Vec::new();
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(args.seconds + 0.2);
    let mut next_report = 10.0;
    while Instant::now() < end {
        if let Some(f) = rt.wait_frame(Duration::from_millis(50)) {
            received += 1;
            points.push((
                f.published.duration_since(started).as_secs_f64(),
                f.times.to_frame_ms(),
            ));
        }
        let t = started.elapsed().as_secs_f64();
        if t >= next_report {
            let m = rt.metrics();
            progress(&format!(
                "  {t:.0} s: {:.1} fps, tick p50 {:.1} ms p99 {:.1} ms, late {} dropped {}, quality {}",
                m.fps_recent, m.tick_ms.p50, m.tick_ms.p99, m.late, m.dropped, m.quality
            ));
            next_report += 10.0;
        }
        if let Some(f) = rt.failure() {
            bail!("the runtime failed: {f}");
        }
    }
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("the input thread panicked"))?
        .map_err(anyhow::Error::msg)?;
    let info = rt.memory_info();
    let rt = Arc::try_unwrap(rt).map_err(|_| anyhow::anyhow!("runtime still shared"))?;
    let metrics = rt.stop()?;
    let png = out_json.with_extension("png");
    line_chart(
        &png,
        640,
        240,
        &[Series {
            points,
            color: [40, 90, 200],
        }],
    )
    .with_context(|| format!("writing {}", png.display()))?;
    Ok(RealtimeReport {
        seconds: args.seconds,
        metrics,
        frames_received: received,
        memory_bytes: info.stats.bytes,
        memory_cells: info.stats.cells,
    })
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn session(
    args: &BenchArgs<'_>,
    model: &WorldModel,
    k: Intrinsics,
    prompt: &Prompt,
    out_json: &Path,
    progress: &dyn Fn(&str),
) -> Result<SessionReport> {
    let per_minute = 60 * TICK_HZ as usize;
    let ticks = args.session_minutes as usize * per_minute;
    // One more minute after the last, in which a fresh session replays the first minute tick for
    // tick beside the aged one (their ticks alternate, so a drift of the host's speed over the
    // run hits both alike); the minute-by-minute numbers above are not touched by it.
    let side_by_side = args.session_minutes >= 2 && args.session_from.is_none();
    let extra = if side_by_side { per_minute } else { 0 };
    let script = mixed_script(args.world, args.seed ^ 0x5e55, ticks + extra)?;
    let mut engine = match args.session_from {
        Some(path) => Engine::load_session(model, path, args.engine_options())?,
        None => Engine::new(model, k, prompt, args.engine_options())?,
    };
    let bound = engine.memory().config().bound_bytes;
    progress(&format!(
        "fast-forwarding a {}-minute session{} ({ticks} ticks at full quality, memory bound {:.0} MB)",
        args.session_minutes,
        args.session_from
            .map(|p| format!(" from {} (tick {})", p.display(), engine.frame().tick))
            .unwrap_or_default(),
        bound as f64 / 1e6
    ));
    let started = Instant::now();
    let mut minutes = Vec::new();
    let mut times = Vec::with_capacity(per_minute);
    let mut stage_sum = [0.0f64; StageTimes::COUNT];
    let mut splats_sum = 0.0f64;
    let mut touched_sum = 0.0f64;
    for (i, a) in script[..ticks].iter().enumerate() {
        engine.advance(a, Quality::Full)?;
        engine.commit()?;
        let t = engine.frame().times;
        times.push(t.total_ms());
        splats_sum += engine.memory_splats_drawn().unwrap_or(0) as f64;
        touched_sum += engine.memory_pixels_touched().unwrap_or(0) as f64;
        for (s, v) in stage_sum.iter_mut().zip(t.as_array()) {
            *s += v;
        }
        if (i + 1) % per_minute == 0 {
            times.sort_by(f64::total_cmp);
            let n = times.len() as f64;
            let m = SessionMinute {
                minute: ((i + 1) / per_minute) as u64,
                tick_mean_ms: times.iter().sum::<f64>() / n,
                tick_p50_ms: percentile(&times, 0.5),
                tick_p99_ms: percentile(&times, 0.99),
                stages_mean_ms: stage_sum.map(|s| s / n),
                render_splats_mean: splats_sum / n,
                render_overdraw_mean: touched_sum / n / k.pixels() as f64,
                memory_bytes: engine.memory().bytes() as u64,
                process_rss: process_rss(),
            };
            let stages: Vec<String> = StageTimes::NAMES
                .iter()
                .zip(m.stages_mean_ms)
                .map(|(name, ms)| format!("{name} {ms:.1}"))
                .collect();
            progress(&format!(
                "  minute {}: tick mean {:.1} ms (p99 {:.1}; {}; {:.0} k splats, overdraw {:.1} per memory render), memory {:.1} MB, rss {:.0} MB, {:.0} s elapsed",
                m.minute,
                m.tick_mean_ms,
                m.tick_p99_ms,
                stages.join(", "),
                m.render_splats_mean / 1e3,
                m.render_overdraw_mean,
                m.memory_bytes as f64 / 1e6,
                m.process_rss as f64 / 1e6,
                started.elapsed().as_secs_f64()
            ));
            minutes.push(m);
            times.clear();
            stage_sum = [0.0; StageTimes::COUNT];
            splats_sum = 0.0;
            touched_sum = 0.0;
        }
    }
    if let Some(path) = args.session_save {
        engine.save_session(path)?;
        progress(&format!("session saved to {}", path.display()));
    }
    let first = minutes.first().map_or(0.0, |m| m.tick_mean_ms);
    let last = minutes.last().map_or(0.0, |m| m.tick_mean_ms);
    let (mut aged_sum, mut young_sum) = (0.0f64, 0.0f64);
    if side_by_side {
        let mut young = Engine::new(model, k, prompt, args.engine_options())?;
        for j in 0..per_minute {
            young.advance(&script[j], Quality::Full)?;
            young.commit()?;
            young_sum += young.frame().times.total_ms();
            engine.advance(&script[ticks + j], Quality::Full)?;
            engine.commit()?;
            aged_sum += engine.frame().times.total_ms();
        }
    }
    let (aged, replay) = (aged_sum / per_minute as f64, young_sum / per_minute as f64);
    if side_by_side {
        progress(&format!(
            "  side by side: minute {} tick mean {aged:.1} ms, minute 1 replayed by a fresh session beside it {replay:.1} ms (ratio {:.3})",
            args.session_minutes + 1,
            aged / replay.max(1e-9)
        ));
    }
    let rss_growth = minutes.last().map_or(0, |m| m.process_rss as i64)
        - minutes.first().map_or(0, |m| m.process_rss as i64);
    let png = out_json.with_extension("session.png");
    line_chart(
        &png,
        640,
        240,
        &[
            Series {
                points: minutes
                    .iter()
                    .map(|m| (m.minute as f64, m.tick_mean_ms))
                    .collect(),
                color: [40, 90, 200],
            },
            Series {
                points: minutes
                    .iter()
                    .map(|m| (m.minute as f64, m.stages_mean_ms[2] + m.stages_mean_ms[4]))
                    .collect(),
                color: [200, 90, 40],
            },
        ],
    )
    .with_context(|| format!("writing {}", png.display()))?;
    Ok(SessionReport {
        minutes: args.session_minutes,
        wall_seconds: started.elapsed().as_secs_f64(),
        last_over_first: if first > 0.0 { last / first } else { 0.0 },
        aged_beside_replay_ms: aged,
        first_replayed_beside_ms: replay,
        aged_over_first_side_by_side: if replay > 0.0 { aged / replay } else { 0.0 },
        per_minute: minutes,
        memory_bound_bytes: bound,
        rss_growth_bytes: rss_growth,
        rss_growth_over_bound: rss_growth as f64 / bound as f64,
    })
}
