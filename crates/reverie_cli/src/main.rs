//! The `reverie` command: thin on purpose — parse arguments, call `run`, print the error once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use reverie_core::pose::parse_resolution;
use reverie_core::{Action, Intrinsics, Keys};
use reverie_model::threads;
use reverie_world::datagen::{self, DatagenConfig, Existing};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use reverie_world::episode::{self, EpisodeStart};
use reverie_world::imageio::{self, GifWriter};
use reverie_world::policy::PolicyKind;
use reverie_world::{Renderer, World, WorldSpec};

mod bench;
mod memory_eval;
mod train;

#[derive(Parser, Debug)]
#[command(
    name = "reverie",
    version,
    about = "Reverie: an interactive world-model engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a dataset of oracle episodes (RGB, depth, pose, action per tick).
    Datagen {
        /// World spec (worlds/*.toml).
        #[arg(long)]
        world: PathBuf,
        /// Number of episodes.
        #[arg(long, default_value_t = 8)]
        episodes: usize,
        /// Ticks (frames) per episode, 24 per second.
        #[arg(long, default_value_t = 240)]
        steps: usize,
        /// Frame size WIDTHxHEIGHT.
        #[arg(long, default_value = "128x128")]
        resolution: String,
        /// Vertical field of view in degrees.
        #[arg(long, default_value_t = 70.0)]
        fov: f32,
        /// World seed (replaces the spec's); episodes derive their own seeds from it.
        #[arg(long)]
        seed: Option<u64>,
        /// random-walk | wall-follow | look-around | loop-and-return:SECONDS | mixed | script:PATH
        #[arg(long, default_value = "random-walk")]
        policy: String,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Continue an interrupted dataset with the same arguments (skips finished episodes).
        #[arg(long, conflicts_with = "overwrite")]
        resume: bool,
        /// Replace the dataset in --out.
        #[arg(long)]
        overwrite: bool,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Render an action script in a world as a GIF (`.gif`) or a PNG sequence (a directory).
    Render {
        /// World spec (worlds/*.toml).
        #[arg(long)]
        world: PathBuf,
        /// JSONL action script (see reverie_core::script).
        #[arg(long)]
        actions: PathBuf,
        /// Output: a `.gif` file, or a directory for frame_00000.png, ...
        #[arg(long)]
        out: PathBuf,
        /// Frame size WIDTHxHEIGHT.
        #[arg(long, default_value = "256x256")]
        resolution: String,
        /// Vertical field of view in degrees.
        #[arg(long, default_value_t = 70.0)]
        fov: f32,
        /// World seed (replaces the spec's).
        #[arg(long)]
        seed: Option<u64>,
        /// Spawn seed (which spawn point).
        #[arg(long, default_value_t = 0)]
        spawn: u64,
        /// Replace an existing output.
        #[arg(long)]
        overwrite: bool,
    },
    /// The main job for now: render a tour of a world and say where it is (the game window replaces it).
    Tour {
        /// World spec.
        #[arg(long, default_value = "worlds/meadow.toml")]
        world: PathBuf,
        /// Output GIF.
        #[arg(long, default_value = "target/reverie/tour.gif")]
        out: PathBuf,
    },
    /// Summarise a dataset: manifest, episodes, policy reports; optionally a GIF of one episode.
    Inspect {
        /// Dataset directory.
        dir: PathBuf,
        /// Write episode N as a GIF here.
        #[arg(long)]
        gif: Option<PathBuf>,
        /// Which episode for --gif.
        #[arg(long, default_value_t = 0)]
        episode: usize,
    },
    /// Measure the spatial memory on oracle frames: same-pose and small-motion re-rendering, warping,
    /// and loop-and-return revisits. Writes memory-eval.json and memory-eval.png (oracle | memory
    /// render | warp | mask).
    MemoryEval {
        /// World spec.
        #[arg(long, default_value = "worlds/meadow.toml")]
        world: PathBuf,
        /// World seed (evaluation seeds are >= 1,000,000).
        #[arg(long, default_value_t = 1_000_000)]
        seed: u64,
        /// Frame size WIDTHxHEIGHT.
        #[arg(long, default_value = "128x128")]
        resolution: String,
        /// Vertical field of view in degrees.
        #[arg(long, default_value_t = 70.0)]
        fov: f32,
        /// Ticks in the probe episode.
        #[arg(long, default_value_t = 480)]
        steps: usize,
        /// Probe every this many ticks.
        #[arg(long, default_value_t = 24)]
        probe_every: usize,
        /// Loop-and-return lengths, seconds out (comma-separated; "" = none).
        #[arg(long, default_value = "10,60,300")]
        loops: String,
        /// Memory configuration JSON (fields of reverie_memory::MemoryConfig; missing = default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Memory bound in MiB (overrides the config's).
        #[arg(long)]
        bound_mib: Option<u64>,
        /// How each frame is stored: `all` (every pixel, re-observations averaged) or `new`
        /// (only what the memory did not already show; the runtime's way with a model's frames).
        #[arg(long, value_enum, default_value_t = memory_eval::WriteMode::All)]
        write: memory_eval::WriteMode,
        /// Output directory.
        #[arg(long, default_value = "target/reverie/memory-eval")]
        out: PathBuf,
    },
    /// Fast-forward a long session (random walk over a wide area) through the memory: per-tick
    /// cost of render + warp + write on one thread, minute by minute, and resident size against
    /// the bound; then (2+ minutes) one more minute beside a fresh memory replaying minute 1, so
    /// the host's speed drift cancels out of the cost of age. Writes JSON.
    MemoryBench {
        /// World spec.
        #[arg(long, default_value = "worlds/meadow.toml")]
        world: PathBuf,
        /// World seed.
        #[arg(long, default_value_t = 1_000_000)]
        seed: u64,
        /// Frame size WIDTHxHEIGHT.
        #[arg(long, default_value = "128x128")]
        resolution: String,
        /// Minutes of session (24 ticks per second).
        #[arg(long, default_value_t = 60)]
        minutes: u64,
        /// Memory bound in MiB (overrides the config's).
        #[arg(long, default_value_t = 256)]
        bound_mib: u64,
        /// Memory configuration JSON (fields of reverie_memory::MemoryConfig; missing = default).
        #[arg(long)]
        config: Option<PathBuf>,
        /// How each frame is stored: `all` (every pixel, re-observations averaged) or `new`
        /// (only what the memory did not already show; the runtime's way with a model's frames).
        #[arg(long, value_enum, default_value_t = memory_eval::WriteMode::All)]
        write: memory_eval::WriteMode,
        /// Output JSON.
        #[arg(long, default_value = "target/reverie/memory-bench.json")]
        out: PathBuf,
    },
    /// Train the world model (see configs/train-default.toml): builds memory renders beside the
    /// datasets on first use, then trains with checkpoints, metrics CSV and a loss curve in --out.
    Train {
        /// Training config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Run directory (checkpoints, metrics, loss.png, summary.json).
        #[arg(long)]
        out: PathBuf,
        /// Continue from OUT/latest.
        #[arg(long, conflicts_with = "overwrite")]
        resume: bool,
        /// Start over in an existing OUT.
        #[arg(long)]
        overwrite: bool,
    },
    /// Tune a trained checkpoint's ego-motion head alone on the runtime sessions it drives
    /// (see configs/tune-motion.toml): each round plays the oracle's actions from the prompt
    /// through a session, stores what the head read at every tick beside the oracle's motion,
    /// and fits the head on all rounds so far (DAgger). Writes OUT/final (the tuned checkpoint),
    /// OUT/tune.json and OUT/tune.png.
    TuneMotion {
        /// Tuning config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The checkpoint to tune (model.safetensors + model.json).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing OUT.
        #[arg(long)]
        overwrite: bool,
    },
    /// Evaluate a checkpoint on held-out seeds of a world: fidelity (PSNR, SSIM, sharpness at
    /// 1, 8, 24, 72, 240 ticks) against copy-last-frame and warp+memory baselines, control
    /// (ego-motion over 10 s, walking into a wall), revisits (memory on/off) and stability.
    /// The model sees only the prompt frame of each episode, then its own outputs.
    Eval {
        /// Checkpoint directory (model.safetensors + model.json).
        #[arg(long)]
        checkpoint: PathBuf,
        /// World spec.
        #[arg(long)]
        world: PathBuf,
        /// Output JSON; the image strip goes beside it (same name, .png).
        #[arg(long)]
        json: PathBuf,
        /// World seeds, comma-separated (evaluation seeds are ≥ 1,000,000; training uses 11–13, validation 901).
        #[arg(long, default_value = "1000001,1000002")]
        seeds: String,
        /// Ticks of the fidelity/control episodes (241 = 10 s after the prompt).
        #[arg(long, default_value_t = 241)]
        steps: usize,
        /// Loop-and-return lengths in seconds, comma-separated ("" = none).
        #[arg(long, default_value = "10,60")]
        loops: String,
        /// Minutes of the stability rollout (0 = skip).
        #[arg(long, default_value_t = 10.0)]
        stability_minutes: f64,
        /// How decisively each generated pixel copies the source the network prefers (warp,
        /// memory or its own colour): 1 = mixed as trained; the default is the runtime's.
        #[arg(long, default_value_t = reverie_runtime::EngineOptions::default().source_temperature, value_parser = reverie_runtime::parse_source_temperature)]
        source_temperature: f32,
        /// The same for each generated pixel's depth: 1 = mixed as trained; the default is the
        /// runtime's (0.5, the colour's: each pixel's depth from where its colour comes from).
        #[arg(long, default_value_t = reverie_runtime::EngineOptions::default().depth_temperature, value_parser = reverie_runtime::parse_depth_temperature)]
        depth_temperature: f32,
        /// Vertical motions under this many metres a tick are none (0 = all as predicted);
        /// the default is the runtime's.
        #[arg(long, default_value_t = reverie_runtime::EngineOptions::default().vertical_deadband_m, value_parser = reverie_runtime::parse_vertical_deadband)]
        vertical_deadband: f32,
        /// Ticks after a rise in which downward motions pass the dead band, down to where the
        /// rise began (0 = none); the default is the runtime's.
        #[arg(long, default_value_t = reverie_runtime::EngineOptions::default().fall_window_ticks, value_parser = reverie_runtime::parse_fall_window)]
        fall_window: u32,
        /// Walks under this many metres a tick on the ground plane are none (0 = all as
        /// predicted); the default is the runtime's.
        #[arg(long, default_value_t = reverie_runtime::EngineOptions::default().horizontal_deadband_m, value_parser = reverie_runtime::parse_horizontal_deadband)]
        horizontal_deadband: f32,
        /// The generated depth through a median of this radius (pixels, 0 = as generated)
        /// before the session warps, stores or reads it; the default is the runtime's.
        #[arg(long, default_value_t = reverie_runtime::EngineOptions::default().depth_median_radius, value_parser = reverie_runtime::parse_depth_median)]
        depth_median: u32,
        /// Keep the camera's height: the model's vertical motion off (no steps, falls or
        /// jumps; `vertical_motion = false`).
        #[arg(long)]
        keep_height: bool,
        /// Memory configuration JSON of the sessions (fields of reverie_memory::MemoryConfig;
        /// missing = the runtime's).
        #[arg(long)]
        memory_config: Option<PathBuf>,
    },
    /// Benchmark the real-time runtime headless: the checkpoint with memory on, paced at 24 Hz,
    /// replaying a mixed action script (fps, tick and stage p50/p99, input-to-frame, late and
    /// dropped frames, quality levels); with --session-minutes also a fast-forwarded long session
    /// (tick cost and resident memory minute by minute). Writes JSON and a PNG chart beside it.
    Bench {
        /// Checkpoint directory.
        #[arg(long, default_value = "assets/models/default")]
        checkpoint: PathBuf,
        /// World of the prompt (its spawn view is the only oracle frame used).
        #[arg(long, default_value = "worlds/meadow.toml")]
        world: PathBuf,
        /// World seed of the prompt (evaluation seeds are ≥ 1,000,000).
        #[arg(long, default_value_t = 1_000_001)]
        seed: u64,
        /// Seconds of real-time replay (0 = skip).
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Minutes of fast-forwarded session (0 = skip).
        #[arg(long, default_value_t = 0)]
        session_minutes: u64,
        /// Output JSON (charts go beside it).
        #[arg(long, default_value = "target/reverie/bench.json")]
        json: PathBuf,
        /// Also write a Chrome trace of the real-time run here.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Start the fast-forwarded session from this session file (e.g. one saved with
        /// --session-save) instead of the world's prompt.
        #[arg(long)]
        session_from: Option<PathBuf>,
        /// Save the fast-forwarded session to this file at its end (open it in the app with
        /// --session, or continue it with --session-from).
        #[arg(long)]
        session_save: Option<PathBuf>,
        /// Real-time run: milliseconds after a tick's slot starts by which its frame must be
        /// out, else the warp + memory fallback is shown (0 = always wait for the network).
        #[arg(long, default_value_t = reverie_runtime::DEFAULT_FRAME_DEADLINE_MS, value_parser = reverie_runtime::parse_frame_deadline_ms)]
        frame_deadline_ms: f64,
        /// How firmly each generated pixel copies the source the network prefers (1 = mixed as
        /// trained); the default is the runtime's.
        #[arg(long, default_value_t = reverie_runtime::EngineOptions::default().source_temperature, value_parser = reverie_runtime::parse_source_temperature)]
        source_temperature: f32,
    },
    /// List the bundled worlds.
    Worlds {
        /// Directory of world specs.
        #[arg(long, default_value = "worlds")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // One session at batch 1 runs fastest on one thread (see `reverie_model::threads`); training
    // runs a share of each batch per core, each share on one thread (`run.workers`); other
    // batch work (datagen) uses every core.
    let threads = match cli.command {
        Command::Bench { .. }
        | Command::Eval { .. }
        | Command::Train { .. }
        | Command::TuneMotion { .. } => threads::INTERACTIVE_THREADS,
        _ => threads::available_cores(),
    };
    // SAFETY: first thing after parsing the arguments; no other thread exists yet.
    #[allow(unsafe_code)]
    unsafe {
        threads::set_cpu_threads(threads);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}

fn load_world(path: &Path, seed: Option<u64>) -> Result<WorldSpec> {
    let mut spec = WorldSpec::load(path)?;
    if let Some(s) = seed {
        spec.generator.seed = s;
    }
    Ok(spec)
}

fn memory_config(
    path: Option<&Path>,
    bound_mib: Option<u64>,
) -> Result<reverie_memory::MemoryConfig> {
    let mut config = memory_config_over(reverie_memory::MemoryConfig::default(), path)?;
    if let Some(m) = bound_mib {
        config.bound_bytes = m.saturating_mul(1 << 20);
    }
    config.validate()?;
    Ok(config)
}

/// A memory configuration JSON's fields over `base` (fields the file leaves out keep `base`'s
/// values; an unknown field or a bad value is an error naming the file).
pub(crate) fn memory_config_over(
    base: reverie_memory::MemoryConfig,
    path: Option<&Path>,
) -> Result<reverie_memory::MemoryConfig> {
    let Some(p) = path else {
        return Ok(base);
    };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let fields: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a memory config", p.display()))?;
    let serde_json::Value::Object(fields) = fields else {
        bail!(
            "{}: not a memory config (expected a JSON object)",
            p.display()
        );
    };
    let mut merged = serde_json::to_value(&base)?;
    if let serde_json::Value::Object(m) = &mut merged {
        m.extend(fields);
    }
    let config: reverie_memory::MemoryConfig = serde_json::from_value(merged)
        .with_context(|| format!("{}: not a memory config", p.display()))?;
    config
        .validate()
        .with_context(|| format!("{}: bad memory config", p.display()))?;
    Ok(config)
}

fn camera(resolution: &str, fov: f32) -> Result<Intrinsics> {
    let (w, h) = parse_resolution(resolution).context("--resolution")?;
    Intrinsics::from_vfov_deg(w, h, fov).context("--fov")
}

fn bar(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:40}] {pos}/{len} frames, {per_sec}, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Datagen {
            world,
            episodes,
            steps,
            resolution,
            fov,
            seed,
            policy,
            out,
            resume,
            overwrite,
            threads,
        } => {
            let intrinsics = camera(&resolution, fov)?;
            let spec = load_world(&world, seed)?;
            let policy = PolicyKind::parse_with_scripts(&policy)
                .map_err(anyhow::Error::msg)
                .context("--policy")?;
            if steps == 0 {
                bail!("--steps must be at least 1");
            }
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            let cfg = DatagenConfig {
                world_file: world.clone(),
                seed: spec.generator.seed,
                spec,
                policy,
                episodes,
                steps,
                intrinsics,
                fov_deg: fov,
                out: out.clone(),
                existing: if resume {
                    Existing::Resume
                } else if overwrite {
                    Existing::Overwrite
                } else {
                    Existing::Refuse
                },
                threads,
            };
            let pb = bar((episodes * steps) as u64, "datagen");
            let done = AtomicU64::new(0);
            let tick = || {
                let n = done.fetch_add(1, Ordering::Relaxed);
                if n.is_multiple_of(64) {
                    pb.set_position(n);
                }
            };
            let summary = datagen::generate(&cfg, &tick)?;
            pb.finish_and_clear();
            say(&format!(
                "wrote {} episodes ({} already there) = {} frames in {:.1} s: {:.0} frames/min on {threads} threads -> {}",
                summary.written,
                summary.skipped,
                summary.frames,
                summary.seconds,
                summary.frames_per_minute,
                out.display()
            ));
            say(&serde_json::to_string(&summary)?);
            Ok(())
        }
        Command::Render {
            world,
            actions,
            out,
            resolution,
            fov,
            seed,
            spawn,
            overwrite,
        } => {
            let intrinsics = camera(&resolution, fov)?;
            let spec = load_world(&world, seed)?;
            let script = reverie_core::script::load(&actions)?;
            if script.is_empty() {
                bail!("{}: the script has no actions", actions.display());
            }
            let n = render_clip(&spec, &script, &intrinsics, spawn, &out, overwrite)?;
            say(&format!(
                "rendered {n} frames of {} -> {}",
                spec.name,
                out.display()
            ));
            Ok(())
        }
        Command::Tour { world, out } => {
            let spec = load_world(&world, None)?;
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let intrinsics = Intrinsics::from_vfov_deg(256, 256, 70.0)?;
            let n = render_clip(&spec, &tour_script(), &intrinsics, 0, &out, true)?;
            say(&format!(
                "Reverie: an oracle tour of \"{}\" ({n} frames at 24 fps, 256x256) is at {}",
                spec.name,
                out.display()
            ));
            say(
                "The playable game window opens here once the runtime and app land; until then this tour is the main job.",
            );
            Ok(())
        }
        Command::Inspect { dir, gif, episode } => {
            let ds = reverie_world::dataset::Dataset::open(&dir)?;
            let m = &ds.manifest;
            say(&format!(
                "{}: world \"{}\" (seed {}), policy {}, {}x{} fov {}°, {} of {} episodes finished, {} ticks each",
                dir.display(),
                m.world.name,
                m.world.generator.seed,
                m.policy,
                m.width,
                m.height,
                m.fov_deg,
                ds.episodes.len(),
                m.episodes,
                m.steps
            ));
            for (i, ep) in &ds.episodes {
                say(&format!(
                    "  episode {i}: seed {} report {}",
                    ep.metadata.get("seed").map_or("?", String::as_str),
                    ep.metadata.get("report").map_or("null", String::as_str)
                ));
            }
            if let Some(path) = gif {
                let ep = ds.episodes.get(&episode).with_context(|| {
                    format!("episode {episode} is not finished in {}", dir.display())
                })?;
                let mut g = GifWriter::create(&path, m.width, m.height, 24.0)?;
                let px = m.width as usize * m.height as usize * 3;
                for start in (0..ep.steps).step_by(240) {
                    let w = ep.window(start, 240.min(ep.steps - start))?;
                    for f in w.rgb.chunks_exact(px) {
                        g.push(f)?;
                    }
                }
                g.finish()?;
                say(&format!("wrote {}", path.display()));
            }
            Ok(())
        }
        Command::MemoryEval {
            world,
            seed,
            resolution,
            fov,
            steps,
            probe_every,
            loops,
            config,
            bound_mib,
            write,
            out,
        } => {
            let k = camera(&resolution, fov)?;
            let spec = load_world(&world, Some(seed))?;
            let config = memory_config(config.as_deref(), bound_mib)?;
            if steps < 2 || probe_every == 0 {
                bail!("--steps must be at least 2 and --probe-every at least 1");
            }
            let loops: Vec<f32> = train::list(&loops, "--loops")?;
            if let Some(bad) = loops
                .iter()
                .find(|s| !(s.is_finite() && **s > 0.0 && **s <= 3600.0))
            {
                bail!("--loops: {bad} is not a number of seconds in (0, 3600]");
            }
            let args = memory_eval::EvalArgs {
                world_file: world.display().to_string(),
                spec,
                k,
                fov_deg: fov,
                steps,
                probe_every,
                loops,
                config,
                write,
            };
            let r = memory_eval::eval(&args, &out, &|m| say(m))?;
            if r.same_pose.n == 0 {
                say(&format!(
                    "no probe poses: --steps {steps} is too short for one every {probe_every} ticks"
                ));
            } else {
                say(&format!(
                    "same pose: {:.1} dB, coverage {:.1}% (n={}; {})",
                    r.same_pose.psnr_mean_db,
                    100.0 * r.same_pose.coverage_mean,
                    r.same_pose.n,
                    r.same_pose.error
                ));
            }
            for m in r.motions.iter().filter(|m| m.render.n > 0) {
                say(&format!(
                    "{:<18} warp {:.1} dB cov {:.1}% (of {:.1}% seen before) | render {:.1} dB cov {:.1}% (n={})",
                    m.motion,
                    m.warp.psnr_mean_db,
                    100.0 * m.warp.coverage_mean,
                    100.0 * m.seen_before_mean,
                    m.render.psnr_mean_db,
                    100.0 * m.render.coverage_mean,
                    m.render.n
                ));
                say(&format!("{:<18} render {}", "", m.render.error));
            }
            for l in &r.loops {
                let f = |s: Option<memory_eval::Score>| match s {
                    Some(s) => format!(
                        "{} dB cov {:.1}% ({})",
                        s.psnr_db.map_or("-".into(), |p| format!("{p:.1}")),
                        100.0 * s.coverage,
                        s.error
                    ),
                    None => "never returned".into(),
                };
                say(&format!(
                    "loop {} s: returned at tick {:?} ({:.0} s): render {} | warp {}",
                    l.out_seconds,
                    l.returned_tick,
                    l.seconds_away,
                    f(l.render),
                    f(l.warp)
                ));
            }
            say(&format!(
                "per tick (one thread): write {:.2} ms + render {:.2} ms + warp {:.2} ms = {:.2} ms",
                r.timings.write_ms, r.timings.render_ms, r.timings.warp_ms, r.timings.total_ms
            ));
            say(&format!(
                "-> {}/memory-eval.json, memory-eval.png",
                out.display()
            ));
            Ok(())
        }
        Command::Eval {
            checkpoint,
            world,
            json,
            seeds,
            steps,
            loops,
            stability_minutes,
            source_temperature,
            depth_temperature,
            vertical_deadband,
            fall_window,
            horizontal_deadband,
            depth_median,
            keep_height,
            memory_config,
        } => train::eval(&train::EvalArgs {
            checkpoint: &checkpoint,
            world: &world,
            json: &json,
            seeds: &seeds,
            steps,
            loops: &loops,
            stability_minutes,
            source_temperature,
            depth_temperature,
            vertical_deadband_m: vertical_deadband,
            fall_window_ticks: fall_window,
            horizontal_deadband_m: horizontal_deadband,
            depth_median_radius: depth_median,
            keep_height,
            memory_config: memory_config.as_deref(),
        }),
        Command::Train {
            config,
            out,
            resume,
            overwrite,
        } => train::run(&config, &out, resume, overwrite),
        Command::TuneMotion {
            config,
            checkpoint,
            out,
            overwrite,
        } => train::tune_motion(&config, &checkpoint, &out, overwrite),
        Command::Bench {
            checkpoint,
            world,
            seed,
            seconds,
            session_minutes,
            json,
            trace,
            session_from,
            session_save,
            frame_deadline_ms,
            source_temperature,
        } => {
            if let Some(dir) = json.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let args = bench::BenchArgs {
                checkpoint: &checkpoint,
                world: &world,
                seed,
                seconds,
                session_minutes,
                trace: trace.as_deref(),
                session_from: session_from.as_deref(),
                session_save: session_save.as_deref(),
                frame_deadline_ms: (frame_deadline_ms > 0.0).then_some(frame_deadline_ms),
                source_temperature,
            };
            let r = bench::run(&args, &json, &|m| say(m))?;
            std::fs::write(&json, serde_json::to_string_pretty(&r)?)
                .with_context(|| format!("writing {}", json.display()))?;
            if let Some(rt) = &r.realtime {
                let m = &rt.metrics;
                say(&format!(
                    "{:.2} fps; tick p50 {:.1} ms p99 {:.1} ms; to frame p99 {:.1} ms; input-to-frame p50 {:.1} ms p99 {:.1} ms; late {} ({:.2} %), dropped {} ({:.2} %) of {} slots; network past the frame deadline {} ({:.2} %, fallback shown); frames not stored for lack of time {}",
                    m.fps,
                    m.tick_ms.p50,
                    m.tick_ms.p99,
                    m.to_frame_ms.p99,
                    m.input_to_frame_ms.p50,
                    m.input_to_frame_ms.p99,
                    m.late,
                    100.0 * m.late_share,
                    m.dropped,
                    100.0 * m.dropped_share,
                    m.slots,
                    m.rescued,
                    100.0 * m.rescued_share,
                    m.commits_skipped
                ));
            }
            if let Some(s) = &r.session {
                say(&format!(
                    "session {} min: minute {} / minute 1 tick cost {:.3}; RSS growth {:.1} MB = {:.2} of the {:.0} MB memory bound",
                    s.minutes,
                    s.minutes,
                    s.last_over_first,
                    s.rss_growth_bytes as f64 / 1e6,
                    s.rss_growth_over_bound,
                    s.memory_bound_bytes as f64 / 1e6
                ));
            }
            say(&format!("-> {}", json.display()));
            Ok(())
        }
        Command::MemoryBench {
            world,
            seed,
            resolution,
            minutes,
            bound_mib,
            config,
            write,
            out,
        } => {
            let k = camera(&resolution, 70.0)?;
            let spec = load_world(&world, Some(seed))?;
            let config = memory_config(config.as_deref(), Some(bound_mib))?;
            if minutes == 0 || minutes > 24 * 60 {
                bail!("--minutes must be between 1 and 1440");
            }
            let r = memory_eval::bench(
                &world.display().to_string(),
                spec,
                k,
                minutes,
                config,
                write,
                &|m| say(m),
            )?;
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&out, serde_json::to_string_pretty(&r)?)
                .with_context(|| format!("writing {}", out.display()))?;
            say(&format!(
                "minute {} / minute 1 per-tick cost: {:.3} (side by side, host drift cancelled: {:.3}); max resident {:.1} MB of a {:.1} MB bound; {:.0} m from the start -> {}",
                r.minutes.len(),
                r.last_over_first,
                r.aged_over_first_side_by_side,
                r.max_bytes as f64 / 1e6,
                r.bound_bytes as f64 / 1e6,
                r.distance_from_start_m,
                out.display()
            ));
            Ok(())
        }
        Command::Worlds { dir } => {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            entries.sort();
            for p in entries {
                match WorldSpec::load(&p) {
                    Ok(s) => say(&format!(
                        "{:<28} {:<14} {:?} seed {}: {}",
                        p.display(),
                        s.name,
                        s.generator.kind,
                        s.generator.seed,
                        s.description
                    )),
                    Err(e) => say(&format!("{:<28} INVALID: {e}", p.display())),
                }
            }
            Ok(())
        }
    }
}

/// A short tour: walk, look around, jump, sprint.
fn tour_script() -> Vec<Action> {
    let mut a = Vec::new();
    a.extend(std::iter::repeat_n(Action::keys(Keys::FORWARD), 48));
    a.extend(std::iter::repeat_n(Action::IDLE.with_look(0.065, 0.0), 48));
    a.extend(std::iter::repeat_n(
        Action::keys(Keys::FORWARD | Keys::SPRINT).with_look(-0.01, 0.0),
        48,
    ));
    a.push(Action::keys(Keys::FORWARD | Keys::JUMP));
    a.extend(std::iter::repeat_n(Action::keys(Keys::FORWARD), 23));
    a.extend(std::iter::repeat_n(Action::IDLE.with_look(0.0, 0.02), 12));
    a.extend(std::iter::repeat_n(
        Action::IDLE.with_look(-0.05, -0.02),
        12,
    ));
    a.extend(std::iter::repeat_n(
        Action::keys(Keys::FORWARD | Keys::LEFT),
        36,
    ));
    a
}

/// Renders `script` (from a spawn point) to a GIF or a PNG directory. Refuses to replace an existing
/// output unless `overwrite`; writes under temporary names first.
fn render_clip(
    spec: &WorldSpec,
    script: &[Action],
    k: &Intrinsics,
    spawn: u64,
    out: &Path,
    overwrite: bool,
) -> Result<usize> {
    let is_gif = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gif"));
    if out.exists() && !overwrite {
        bail!(
            "{} already exists; pass --overwrite to replace it",
            out.display()
        );
    }
    if !is_gif {
        if out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"))
        {
            bail!(
                "{}: give a .gif file or a directory for a PNG sequence",
                out.display()
            );
        }
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    let spec = Arc::new(spec.clone());
    let mut world = World::new(spec.clone());
    let renderer = Renderer::new(&spec);
    let mut policy = PolicyKind::Script {
        path: String::new(),
        actions: Arc::new(script.to_vec()),
    }
    .build(0);
    let mut gif = if is_gif {
        Some(GifWriter::create(out, k.width, k.height, 24.0)?)
    } else {
        None
    };
    let steps = script.len() + 1;
    let pb = bar(steps as u64, "render");
    episode::run(
        &mut world,
        &renderer,
        k,
        policy.as_mut(),
        EpisodeStart { seed: spawn, steps },
        |tick, frame, _| -> Result<()> {
            match gif.as_mut() {
                Some(g) => g.push(&frame.rgb)?,
                None => imageio::write_png(
                    &out.join(format!("frame_{tick:05}.png")),
                    k.width,
                    k.height,
                    &frame.rgb,
                )?,
            }
            pb.inc(1);
            Ok(())
        },
    )?;
    pb.finish_and_clear();
    if let Some(g) = gif {
        g.finish()?;
    }
    Ok(steps)
}
