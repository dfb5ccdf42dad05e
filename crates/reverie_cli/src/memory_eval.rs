//! `reverie memory-eval` and `reverie memory-bench`: the spatial memory measured on oracle frames,
//! where the truth is known.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use reverie_core::glam::Vec3;
use reverie_core::metrics::{fraction, psnr_rgb8};
use reverie_core::{Frame, Intrinsics, Pose, TICK_HZ};
use reverie_memory::{MemoryConfig, SAME_SURFACE, SpatialMemory, Splatting, View, warp};
use reverie_world::episode::{self, EpisodeStart};
use reverie_world::policy::PolicyKind;
use reverie_world::{Renderer, World, WorldSpec, imageio};
use serde::Serialize;

/// How each tick's frame goes into the memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// [`SpatialMemory::write`]: every pixel, re-observed cells averaged.
    #[default]
    All,
    /// [`SpatialMemory::write_new`] with the tick's memory render, as the runtime does with a
    /// model's frames: only what the memory did not already show at the frame's detail is
    /// written (cheaper; a pose seen again shows the cells first written there).
    New,
}

impl WriteMode {
    /// Carves with `shown` (the memory's render at the frame's pose) and writes the frame.
    fn store(self, mem: &mut SpatialMemory, k: &Intrinsics, f: &Frame, shown: &View) -> Result<()> {
        mem.carve(shown, &f.depth_m);
        match self {
            WriteMode::New => mem.write_new(k, &f.rgb, &f.depth_m, &f.pose, f.tick, shown)?,
            WriteMode::All => mem.write(k, &f.rgb, &f.depth_m, &f.pose, f.tick)?,
        }
        Ok(())
    }
}

/// Warps an oracle frame into `to` (the memory's short-term path).
fn warp_frame(
    k: &Intrinsics,
    from: &Frame,
    to: &Pose,
    splatting: Splatting,
    out: &mut View,
) -> Result<()> {
    warp(k, &from.rgb, &from.depth_m, &from.pose, to, splatting, out)?;
    Ok(())
}

/// PSNR over covered pixels and the covered share, for one comparison.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Score {
    /// PSNR in dB over covered pixels (`null` in JSON if nothing was covered; 99 if identical).
    pub psnr_db: Option<f64>,
    /// Covered share of the pixels.
    pub coverage: f64,
    /// Where the squared error over the covered pixels comes from.
    pub error: ErrorSplit,
}

/// The covered pixels of a comparison by how the view's depth relates to the truth's, each
/// class's share of the pixels and of the summed squared error: what to fix first.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ErrorSplit {
    /// The same surface (depths within the render's own same-surface margin,
    /// [`SAME_SURFACE`] = 6 %, or sky in both): a wrong colour.
    pub same: [f64; 2],
    /// The view shows something behind the true surface (or sky where there is one): a hole
    /// seen through.
    pub behind: [f64; 2],
    /// The view shows something in front of the true surface (or a surface in the sky): a
    /// stale or spilling sample.
    pub in_front: [f64; 2],
}

impl ErrorSplit {
    /// `[pixel share, error share]` per class over the pixels where `mask` holds.
    fn measure(view: &View, truth: &Frame, mask: &[bool]) -> ErrorSplit {
        let mut sums = [[0f64; 2]; 3];
        for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m) {
            let (z, t) = (view.depth_m[i], truth.depth_m[i]);
            let class = if (z.is_infinite() && t.is_infinite()) || (z - t).abs() <= SAME_SURFACE * t
            {
                0
            } else if z > t {
                1
            } else {
                2
            };
            let e: f64 = (0..3)
                .map(|c| (f64::from(view.rgb[3 * i + c]) - f64::from(truth.rgb[3 * i + c])).powi(2))
                .sum();
            sums[class][0] += 1.0;
            sums[class][1] += e;
        }
        let (n, e) = (
            sums.iter().map(|s| s[0]).sum::<f64>().max(1.0),
            sums.iter().map(|s| s[1]).sum::<f64>().max(1e-9),
        );
        let share = |s: [f64; 2]| [s[0] / n, s[1] / e];
        ErrorSplit {
            same: share(sums[0]),
            behind: share(sums[1]),
            in_front: share(sums[2]),
        }
    }
}

impl ErrorSplit {
    /// The mean of `splits` (all zero if there are none).
    fn mean<'a>(splits: impl Iterator<Item = &'a ErrorSplit>) -> ErrorSplit {
        let mut m = ErrorSplit::default();
        let mut n = 0.0;
        for s in splits {
            for (a, b) in [
                (&mut m.same, s.same),
                (&mut m.behind, s.behind),
                (&mut m.in_front, s.in_front),
            ] {
                a[0] += b[0];
                a[1] += b[1];
            }
            n += 1.0;
        }
        if n > 0.0 {
            for a in [&mut m.same, &mut m.behind, &mut m.in_front] {
                a[0] /= n;
                a[1] /= n;
            }
        }
        m
    }
}

impl std::fmt::Display for ErrorSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pc = |x: [f64; 2]| (100.0 * x[0], 100.0 * x[1]);
        let (same, behind, front) = (pc(self.same), pc(self.behind), pc(self.in_front));
        write!(
            f,
            "pixels/error: same surface {:.0}/{:.0}%, behind {:.0}/{:.0}%, in front {:.0}/{:.0}%",
            same.0, same.1, behind.0, behind.1, front.0, front.1
        )
    }
}

/// Compares a view with the oracle frame over the pixels the view covers.
pub fn score(view: &View, truth: &Frame) -> Score {
    let mask = view.mask();
    Score {
        psnr_db: psnr_rgb8(&view.rgb, &truth.rgb, Some(&mask)).map(|p| p.min(99.0)),
        coverage: fraction(&mask),
        error: ErrorSplit::measure(view, truth, &mask),
    }
}

/// Mean, minimum and count of a set of scores.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Comparisons.
    pub n: usize,
    /// Mean PSNR (dB) over comparisons that covered anything.
    pub psnr_mean_db: f64,
    /// Worst PSNR (dB).
    pub psnr_min_db: f64,
    /// Mean coverage.
    pub coverage_mean: f64,
    /// Worst coverage.
    pub coverage_min: f64,
    /// The comparisons' error splits, averaged.
    pub error: ErrorSplit,
}

fn summarise(scores: &[Score]) -> Summary {
    let ps: Vec<f64> = scores.iter().filter_map(|s| s.psnr_db).collect();
    let n = scores.len();
    Summary {
        n,
        psnr_mean_db: ps.iter().sum::<f64>() / ps.len().max(1) as f64,
        psnr_min_db: ps.iter().copied().fold(f64::INFINITY, f64::min),
        coverage_mean: scores.iter().map(|s| s.coverage).sum::<f64>() / n.max(1) as f64,
        coverage_min: scores
            .iter()
            .map(|s| s.coverage)
            .fold(f64::INFINITY, f64::min),
        error: ErrorSplit::mean(scores.iter().map(|s| &s.error)),
    }
}

/// A small pose change from a probe pose.
#[derive(Clone, Copy, Debug)]
enum Motion {
    Forward,
    Back,
    Left,
    Right,
    TurnLeft,
    TurnRight,
}

impl Motion {
    const ALL: [Motion; 6] = [
        Motion::Forward,
        Motion::Back,
        Motion::Left,
        Motion::Right,
        Motion::TurnLeft,
        Motion::TurnRight,
    ];

    fn name(self) -> &'static str {
        match self {
            Motion::Forward => "step_forward_1m",
            Motion::Back => "step_back_1m",
            Motion::Left => "step_left_1m",
            Motion::Right => "step_right_1m",
            Motion::TurnLeft => "turn_left_10deg",
            Motion::TurnRight => "turn_right_10deg",
        }
    }

    fn apply(self, p: &Pose) -> Pose {
        let turn = 10f32.to_radians();
        let (pos, yaw) = match self {
            Motion::Forward => (p.position + p.heading(), p.yaw_rad),
            Motion::Back => (p.position - p.heading(), p.yaw_rad),
            Motion::Left => (p.position - p.right(), p.yaw_rad),
            Motion::Right => (p.position + p.right(), p.yaw_rad),
            Motion::TurnLeft => (p.position, p.yaw_rad - turn),
            Motion::TurnRight => (p.position, p.yaw_rad + turn),
        };
        Pose::new(pos, yaw, p.pitch_rad)
    }
}

/// Share of `truth`'s pixels whose surface `prev` saw: the point at the pixel's true depth
/// (for sky, its direction) lands inside `prev`'s image where `prev` saw the same depth
/// (within [`SAME_SURFACE`], at one of the 3×3 pixels around it: an upper bound at
/// silhouettes).
fn seen_before(k: &Intrinsics, prev: &Frame, truth: &Frame) -> f64 {
    let to_prev = prev.pose.camera_from_world() * truth.pose.world_from_camera();
    let (w, h) = (k.width as i32, k.height as i32);
    let mut seen = 0usize;
    for (i, &z) in truth.depth_m.iter().enumerate() {
        let ray = k.ray_camera((i % w as usize) as f32, (i / w as usize) as f32);
        let landed = if z.is_finite() {
            k.project(to_prev.transform_point3(ray * z))
        } else {
            k.project(to_prev.transform_vector3(ray))
        };
        let Some((x, y, zp)) = landed else {
            continue;
        };
        if !(x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32) {
            continue;
        }
        let (x, y) = (x as i32, y as i32);
        let matches = |d: f32| {
            if z.is_finite() {
                d.is_finite() && (zp - d).abs() <= SAME_SURFACE * d
            } else {
                d.is_infinite()
            }
        };
        let hit = (-1..=1).any(|dy| {
            (-1..=1).any(|dx| {
                let (xx, yy) = (x + dx, y + dy);
                xx >= 0
                    && yy >= 0
                    && xx < w
                    && yy < h
                    && matches(prev.depth_m[(yy * w + xx) as usize])
            })
        });
        seen += usize::from(hit);
    }
    seen as f64 / truth.depth_m.len().max(1) as f64
}

/// Whether the eye can move in a straight line from `a` to `b` without entering a block.
fn free_path(world: &World, a: Vec3, b: Vec3) -> bool {
    let d = b - a;
    let len = d.length();
    if len < 1e-6 {
        return true;
    }
    let inside =
        |p: Vec3| world.is_solid(p.x.floor() as i32, p.y.floor() as i32, p.z.floor() as i32);
    // Eye and the body below it (1.62 m tall walker): sample densely along the way.
    let steps = (len / 0.05).ceil() as usize;
    (0..=steps).all(|i| {
        let p = a + d * (i as f32 / steps as f32);
        !inside(p) && !inside(p - Vec3::Y * 1.0)
    })
}

/// Per-motion results.
#[derive(Clone, Debug, Serialize)]
pub struct MotionResult {
    /// e.g. `step_forward_1m`.
    pub motion: &'static str,
    /// The previous frame warped into the moved pose.
    pub warp: Summary,
    /// The memory (all frames so far) rendered at the moved pose.
    pub render: Summary,
    /// Mean share of the moved view's pixels whose surface (or, for sky, direction) the
    /// previous frame saw: the most a forward warp of that frame can cover.
    pub seen_before_mean: f64,
}

/// Stops a loop-and-return episode once the return has been measured.
#[derive(Debug)]
struct Returned;

impl std::fmt::Display for Returned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("returned")
    }
}

impl std::error::Error for Returned {}

/// Loop-and-return result.
#[derive(Clone, Debug, Serialize)]
pub struct LoopResult {
    /// Seconds out before turning back.
    pub out_seconds: f32,
    /// The first tick back at the start pose (from the policy's report).
    pub returned_tick: Option<u64>,
    /// Seconds between the start and the return.
    pub seconds_away: f32,
    /// Memory render at the return pose (before the return frame is written) vs the oracle.
    pub render: Option<Score>,
    /// Previous frame warped into the return pose vs the oracle.
    pub warp: Option<Score>,
    /// Memory stats at the return.
    pub stats: Option<reverie_memory::MemoryStats>,
}

/// Mean per-tick cost of the memory operations, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// Ticks timed.
    pub ticks: u64,
    /// carve + write, per tick.
    pub write_ms: f64,
    /// render at the new pose, per tick.
    pub render_ms: f64,
    /// warp of the previous frame, per tick.
    pub warp_ms: f64,
    /// The three together.
    pub total_ms: f64,
}

/// The `memory-eval` report (written as JSON).
#[derive(Debug, Serialize)]
pub struct EvalReport {
    /// World spec file.
    pub world: String,
    /// World seed.
    pub seed: u64,
    /// WIDTHxHEIGHT.
    pub resolution: String,
    /// Vertical field of view.
    pub fov_deg: f32,
    /// Memory configuration used.
    pub config: MemoryConfig,
    /// How frames were written.
    pub write: WriteMode,
    /// Ticks in the probe episode.
    pub probe_steps: usize,
    /// Render at the pose just written vs that frame.
    pub same_pose: Summary,
    /// One-block steps and 10° turns from each probe pose.
    pub motions: Vec<MotionResult>,
    /// Loop-and-return trajectories.
    pub loops: Vec<LoopResult>,
    /// Memory operation cost over the probe episode (one thread).
    pub timings: Timings,
    /// Memory stats at the end of the probe episode.
    pub stats: reverie_memory::MemoryStats,
}

/// What `memory-eval` needs.
#[derive(Debug)]
pub struct EvalArgs {
    /// World spec file (for the report).
    pub world_file: String,
    /// The world.
    pub spec: WorldSpec,
    /// Camera.
    pub k: Intrinsics,
    /// Field of view (for the report).
    pub fov_deg: f32,
    /// Probe episode length.
    pub steps: usize,
    /// Probe every this many ticks.
    pub probe_every: usize,
    /// Loop lengths in seconds.
    pub loops: Vec<f32>,
    /// Memory configuration.
    pub config: MemoryConfig,
    /// How frames are written.
    pub write: WriteMode,
}

/// Rows of the PNG strip: oracle | memory render | warp | mask.
struct Strip {
    w: u32,
    h: u32,
    rows: Vec<Vec<u8>>,
}

impl Strip {
    fn push(&mut self, truth: &Frame, render: &View, warped: &View) {
        let (w, h) = (self.w as usize, self.h as usize);
        let panels = [
            truth.rgb.clone(),
            render.rgb.clone(),
            warped.rgb.clone(),
            render.mask_rgb(),
        ];
        let mut row = vec![0u8; 4 * w * h * 3];
        for (p, img) in panels.iter().enumerate() {
            for y in 0..h {
                let dst = (y * 4 * w + p * w) * 3;
                row[dst..dst + w * 3].copy_from_slice(&img[y * w * 3..(y + 1) * w * 3]);
            }
        }
        self.rows.push(row);
    }

    fn write(&self, path: &Path) -> Result<()> {
        let data: Vec<u8> = self.rows.concat();
        imageio::write_png(path, 4 * self.w, self.h * self.rows.len() as u32, &data)?;
        Ok(())
    }
}

/// Runs the evaluation; writes `memory-eval.json` and `memory-eval.png` into `out`.
pub fn eval(args: &EvalArgs, out: &Path, progress: &dyn Fn(&str)) -> Result<EvalReport> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let spec = std::sync::Arc::new(args.spec.clone());
    let renderer = Renderer::new(&spec);
    let mut world = World::new(spec.clone());
    let k = args.k;
    let seed = spec.generator.seed;
    let mut strip = Strip {
        w: k.width,
        h: k.height,
        rows: Vec::new(),
    };

    // 1. Probe episode: a mixed-policy walk; at probe ticks, same pose and small motions.
    progress(&format!("probe episode: {} ticks", args.steps));
    let mut frames: Vec<Frame> = Vec::with_capacity(args.steps);
    let mut policy = PolicyKind::Mixed.build(reverie_core::seed::derive(seed, &[0]));
    episode::run(
        &mut world,
        &renderer,
        &k,
        policy.as_mut(),
        EpisodeStart {
            seed: reverie_core::seed::derive(seed, &[0]),
            steps: args.steps,
        },
        |_, f, _| {
            frames.push(f.clone());
            Ok::<(), anyhow::Error>(())
        },
    )?;
    let mut mem = SpatialMemory::new(args.config.clone())?;
    let mut view = View::new(&k);
    let mut warped = View::new(&k);
    let mut same = Vec::new();
    let mut per_motion: Vec<(Vec<Score>, Vec<Score>, Vec<f64>)> = vec![Default::default(); 6];
    let mut timings = Timings::default();
    let mut truth = Frame::new(k.width, k.height, Pose::default(), 0);
    for (t, f) in frames.iter().enumerate() {
        // The per-tick pipeline, timed: render + warp into this pose, then write this frame.
        let t0 = Instant::now();
        mem.render(&f.pose, &k, &mut view);
        let t1 = Instant::now();
        if t > 0 {
            let p = &frames[t - 1];
            warp_frame(&k, p, &f.pose, args.config.splatting(), &mut warped)?;
        }
        let t2 = Instant::now();
        args.write.store(&mut mem, &k, f, &view)?;
        let t3 = Instant::now();
        if t > 0 {
            timings.ticks += 1;
            timings.render_ms += (t1 - t0).as_secs_f64() * 1e3;
            timings.warp_ms += (t2 - t1).as_secs_f64() * 1e3;
            timings.write_ms += (t3 - t2).as_secs_f64() * 1e3;
        }
        if t == 0 || t % args.probe_every != 0 {
            continue;
        }
        mem.render(&f.pose, &k, &mut view);
        same.push(score(&view, f));
        if strip.rows.is_empty() {
            warp_frame(&k, f, &f.pose, args.config.splatting(), &mut warped)?;
            strip.push(f, &view, &warped);
        }
        for (m, motion) in Motion::ALL.iter().enumerate() {
            let moved = motion.apply(&f.pose);
            if !free_path(&world, f.pose.position, moved.position) {
                continue;
            }
            truth.pose = moved;
            world.ensure_loaded(moved.position);
            renderer.render_into(&mut world, &k, &mut truth);
            warp_frame(&k, f, &moved, args.config.splatting(), &mut warped)?;
            mem.render(&moved, &k, &mut view);
            per_motion[m].0.push(score(&warped, &truth));
            per_motion[m].1.push(score(&view, &truth));
            per_motion[m].2.push(seen_before(&k, f, &truth));
            if t == args.probe_every * 2 && matches!(motion, Motion::Back | Motion::TurnRight) {
                strip.push(&truth, &view, &warped);
            }
        }
    }
    let n = timings.ticks.max(1) as f64;
    timings.render_ms /= n;
    timings.warp_ms /= n;
    timings.write_ms /= n;
    timings.total_ms = timings.render_ms + timings.warp_ms + timings.write_ms;
    let stats = mem.stats();
    drop(mem);
    drop(frames);
    let motions = Motion::ALL
        .iter()
        .zip(&per_motion)
        .map(|(m, (w, r, seen))| MotionResult {
            motion: m.name(),
            warp: summarise(w),
            render: summarise(r),
            seen_before_mean: seen.iter().sum::<f64>() / seen.len().max(1) as f64,
        })
        .collect();

    // 2. Loop-and-return: out for S seconds and back; memory render at the moment of return.
    let mut loops = Vec::new();
    for (li, &secs) in args.loops.iter().enumerate() {
        progress(&format!("loop-and-return: {secs} s out and back"));
        let kind = PolicyKind::LoopAndReturn { out_secs: secs };
        let ep_seed = reverie_core::seed::derive(seed, &[1 + li as u64]);
        let mut policy = kind.build(ep_seed);
        let mut mem = SpatialMemory::new(args.config.clone())?;
        let mut prev: Option<Frame> = None;
        let mut start: Option<Pose> = None;
        let mut result = LoopResult {
            out_seconds: secs,
            returned_tick: None,
            seconds_away: 0.0,
            render: None,
            warp: None,
            stats: None,
        };
        let out_ticks = (secs * TICK_HZ as f32).round() as u64;
        let run: Result<()> = episode::run(
            &mut world,
            &renderer,
            &k,
            policy.as_mut(),
            EpisodeStart {
                seed: ep_seed,
                steps: kind.min_steps(),
            },
            |tick, f, _| {
                if result.returned_tick.is_some() {
                    return Err(anyhow::Error::new(Returned));
                }
                let s = *start.get_or_insert(f.pose);
                let back = tick > out_ticks
                    && f.pose.position.distance(s.position) <= 0.17
                    && reverie_core::pose::wrap_angle(f.pose.yaw_rad - s.yaw_rad).abs() < 1e-5
                    && (f.pose.pitch_rad - s.pitch_rad).abs() < 1e-5;
                if back {
                    mem.render(&f.pose, &k, &mut view);
                    result.render = Some(score(&view, f));
                    if let Some(p) = &prev {
                        warp_frame(&k, p, &f.pose, args.config.splatting(), &mut warped)?;
                        result.warp = Some(score(&warped, f));
                    }
                    result.returned_tick = Some(tick);
                    result.seconds_away = tick as f32 / TICK_HZ as f32;
                    result.stats = Some(mem.stats());
                    strip.push(f, &view, &warped);
                    return Ok(());
                }
                // The runtime's order: render at the new pose, carve with the new frame, write.
                mem.render(&f.pose, &k, &mut view);
                args.write.store(&mut mem, &k, f, &view)?;
                match &mut prev {
                    Some(p) => p.clone_from(f),
                    None => prev = Some(f.clone()),
                }
                if tick % 2400 == 0 && tick > 0 {
                    progress(&format!(
                        "  tick {tick}, memory {:.0} MB",
                        mem.bytes() as f64 / 1e6
                    ));
                }
                Ok(())
            },
        );
        if let Err(e) = run
            && !e.is::<Returned>()
        {
            return Err(e);
        }
        // Cross-check with the policy's own account of when it returned (it notices one tick
        // later, when it next acts).
        let reported = policy.report()["returned_tick"].as_u64();
        let agree = match (reported, result.returned_tick) {
            (Some(a), Some(b)) => a.abs_diff(b) <= 1,
            (None, None) => true,
            _ => false,
        };
        if !agree {
            anyhow::bail!(
                "loop-and-return {secs} s: the policy reports return at {reported:?}, the evaluation saw {:?}",
                result.returned_tick
            );
        }
        loops.push(result);
    }

    let report = EvalReport {
        world: args.world_file.clone(),
        seed,
        resolution: format!("{}x{}", k.width, k.height),
        fov_deg: args.fov_deg,
        config: args.config.clone(),
        write: args.write,
        probe_steps: args.steps,
        same_pose: summarise(&same),
        motions,
        loops,
        timings,
        stats,
    };
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(out.join("memory-eval.json"), json)
        .with_context(|| format!("writing {}", out.join("memory-eval.json").display()))?;
    strip.write(&out.join("memory-eval.png"))?;
    Ok(report)
}

/// One minute of a `memory-bench` session.
#[derive(Clone, Debug, Serialize)]
pub struct MinuteStats {
    /// 1-based minute.
    pub minute: u64,
    /// Mean write + render + warp per tick, milliseconds.
    pub tick_ms: f64,
    /// Mean carve + write per tick.
    pub write_ms: f64,
    /// Mean render per tick.
    pub render_ms: f64,
    /// Mean warp per tick.
    pub warp_ms: f64,
    /// Largest resident size seen in the minute (bytes, after each call).
    pub max_bytes: u64,
    /// Cells at the end of the minute.
    pub cells: u64,
    /// Chunks evicted so far.
    pub evicted_chunks: u64,
    /// Process resident set size at the end of the minute (bytes; 0 if unknown).
    pub process_rss: u64,
    /// Mean splats the memory render drew per tick (its work).
    pub render_splats: f64,
    /// Mean overdraw of the memory render: pixels its splats reached / image pixels.
    pub render_overdraw: f64,
    /// Mean chunks in the render's frustum per tick.
    pub render_chunks: f64,
}

/// The `memory-bench` report.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// World spec file.
    pub world: String,
    /// World seed.
    pub seed: u64,
    /// WIDTHxHEIGHT.
    pub resolution: String,
    /// Ticks run.
    pub ticks: u64,
    /// The configured bound.
    pub bound_bytes: u64,
    /// How frames were written.
    pub write: WriteMode,
    /// Largest resident size seen after any call.
    pub max_bytes: u64,
    /// Per minute.
    pub minutes: Vec<MinuteStats>,
    /// Last minute's per-tick cost over the first minute's.
    pub last_over_first: f64,
    /// Per-tick cost of the aged memory in the minute after the last, run beside a fresh
    /// memory replaying minute 1 (0 when there was no such minute: fewer than 2 minutes).
    pub aged_beside_replay_ms: f64,
    /// Per-tick cost of that fresh memory replaying minute 1.
    pub first_replayed_beside_ms: f64,
    /// Their ratio: the cost of the memory's age with the host's speed drift cancelled.
    pub aged_over_first_side_by_side: f64,
    /// Distance walked from the start, metres (how wide the area is).
    pub distance_from_start_m: f32,
}

/// One memory's per-tick work in `memory-bench`: render at the new pose, warp of the previous
/// frame, carve + write. Returns the three times in seconds.
struct BenchMemory {
    write: WriteMode,
    mem: SpatialMemory,
    view: View,
    warped: View,
    prev: Option<Frame>,
}

impl BenchMemory {
    fn new(config: &MemoryConfig, k: &Intrinsics, write: WriteMode) -> Result<BenchMemory> {
        Ok(BenchMemory {
            write,
            mem: SpatialMemory::new(config.clone())?,
            view: View::new(k),
            warped: View::new(k),
            prev: None,
        })
    }

    /// Runs one tick on `f`; returns (render, warp, write) seconds and the largest resident
    /// size seen (the render's work is left in `view`).
    fn tick(&mut self, k: &Intrinsics, splatting: Splatting, f: Frame) -> Result<([f64; 3], u64)> {
        let t0 = Instant::now();
        self.mem.render(&f.pose, k, &mut self.view);
        let b1 = self.mem.bytes() as u64;
        let t1 = Instant::now();
        if let Some(p) = &self.prev {
            warp_frame(k, p, &f.pose, splatting, &mut self.warped)?;
        }
        let t2 = Instant::now();
        self.write.store(&mut self.mem, k, &f, &self.view)?;
        let t3 = Instant::now();
        let b2 = self.mem.bytes() as u64;
        self.prev = Some(f);
        Ok((
            [
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                (t3 - t2).as_secs_f64(),
            ],
            b1.max(b2),
        ))
    }
}

/// A fast-forwarded session: `minutes` of random-walk frames rendered by the oracle on a second
/// thread, while this thread runs render + warp + write per tick on one core and times them.
/// With `minutes` ≥ 2, one more minute follows in which a fresh memory replays minute 1's
/// frames tick for tick beside the aged one (their ticks alternate, so a drift of the host's
/// speed over the run hits both alike): the cost of the memory's age with the host's drift
/// cancelled. The minute-by-minute numbers are not touched by it.
pub fn bench(
    world_file: &str,
    spec: WorldSpec,
    k: Intrinsics,
    minutes: u64,
    config: MemoryConfig,
    write: WriteMode,
    progress: &dyn Fn(&str),
) -> Result<BenchReport> {
    let per_minute = 60 * TICK_HZ as u64;
    let ticks = minutes * per_minute;
    let side_by_side = minutes >= 2;
    let produced = ticks + if side_by_side { per_minute } else { 0 };
    let seed = spec.generator.seed;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Frame>(48);
    let producer = std::thread::spawn(move || -> Result<()> {
        let spec = std::sync::Arc::new(spec);
        let renderer = Renderer::new(&spec);
        let mut world = World::new(spec.clone());
        let ep_seed = reverie_core::seed::derive(seed, &[0]);
        let mut policy = PolicyKind::RandomWalk.build(ep_seed);
        let r: Result<(), ()> = episode::run(
            &mut world,
            &renderer,
            &k,
            policy.as_mut(),
            EpisodeStart {
                seed: ep_seed,
                steps: produced as usize,
            },
            |_, f, _| tx.send(f.clone()).map_err(|_| ()),
        );
        r.map_err(|()| anyhow::anyhow!("the benchmark stopped taking frames"))
    });
    let mut aged = BenchMemory::new(&config, &k, write)?;
    let mut young = BenchMemory::new(&config, &k, write)?;
    let mut first_minute: Vec<Frame> = Vec::new();
    let mut minutes_out = Vec::new();
    let (mut w_s, mut r_s, mut p_s) = (0.0f64, 0.0f64, 0.0f64);
    let (mut aged_s, mut young_s) = (0.0f64, 0.0f64);
    let mut max_bytes = 0u64;
    let mut minute_max = 0u64;
    let (mut splats, mut touched, mut chunks) = (0.0f64, 0.0f64, 0.0f64);
    let mut start = None;
    let mut last_pos = Vec3::ZERO;
    for (t, f) in rx.iter().enumerate() {
        let t = t as u64;
        if t >= ticks {
            // The side-by-side minute: the fresh memory's tick j, then the aged one's.
            let j = (t - ticks) as usize;
            let Some(old) = first_minute.get(j).cloned() else {
                continue;
            };
            let (y, yb) = young.tick(&k, config.splatting(), old)?;
            let (a, ab) = aged.tick(&k, config.splatting(), f)?;
            young_s += y.iter().sum::<f64>();
            aged_s += a.iter().sum::<f64>();
            max_bytes = max_bytes.max(yb).max(ab);
            continue;
        }
        if side_by_side && t < per_minute {
            first_minute.push(f.clone());
        }
        start.get_or_insert(f.pose.position);
        last_pos = f.pose.position;
        let ([r, p, w], bytes) = aged.tick(&k, config.splatting(), f)?;
        minute_max = minute_max.max(bytes);
        splats += aged.view.splats_drawn() as f64;
        touched += aged.view.pixels_touched() as f64;
        chunks += aged.view.chunks_drawn().0 as f64;
        r_s += r;
        p_s += p;
        w_s += w;
        if (t + 1).is_multiple_of(per_minute) {
            let n = per_minute as f64;
            let st = aged.mem.stats();
            let m = MinuteStats {
                minute: (t + 1) / per_minute,
                tick_ms: (w_s + r_s + p_s) / n * 1e3,
                write_ms: w_s / n * 1e3,
                render_ms: r_s / n * 1e3,
                warp_ms: p_s / n * 1e3,
                max_bytes: minute_max,
                cells: st.cells,
                evicted_chunks: st.evicted_chunks,
                process_rss: crate::bench::process_rss(),
                render_splats: splats / n,
                render_overdraw: touched / n / k.pixels() as f64,
                render_chunks: chunks / n,
            };
            progress(&format!(
                "minute {:>3}: {:.2} ms/tick (write {:.2}, render {:.2}: {:.1} k splats, overdraw {:.1}, {:.0} chunks in view; warp {:.2}), {:.1} MB resident (max {:.1}, bound {:.1}), {} cells, {} chunks evicted",
                m.minute,
                m.tick_ms,
                m.write_ms,
                m.render_ms,
                m.render_splats / 1e3,
                m.render_overdraw,
                m.render_chunks,
                m.warp_ms,
                st.bytes as f64 / 1e6,
                minute_max as f64 / 1e6,
                config.bound_bytes as f64 / 1e6,
                m.cells,
                m.evicted_chunks
            ));
            minutes_out.push(m);
            max_bytes = max_bytes.max(minute_max);
            (w_s, r_s, p_s, minute_max) = (0.0, 0.0, 0.0, 0);
            (splats, touched, chunks) = (0.0, 0.0, 0.0);
        }
    }
    let (aged_ms, young_ms) = (
        aged_s / per_minute as f64 * 1e3,
        young_s / per_minute as f64 * 1e3,
    );
    if side_by_side {
        progress(&format!(
            "side by side: minute {} {aged_ms:.2} ms/tick, minute 1 replayed by a fresh memory beside it {young_ms:.2} ms/tick (ratio {:.3})",
            minutes + 1,
            aged_ms / young_ms.max(1e-9)
        ));
    }
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("the oracle thread panicked"))??;
    let first = minutes_out.first().map_or(f64::NAN, |m| m.tick_ms);
    let last = minutes_out.last().map_or(f64::NAN, |m| m.tick_ms);
    Ok(BenchReport {
        world: world_file.to_string(),
        seed,
        resolution: format!("{}x{}", k.width, k.height),
        ticks,
        bound_bytes: config.bound_bytes,
        write,
        max_bytes,
        minutes: minutes_out,
        last_over_first: last / first,
        aged_beside_replay_ms: aged_ms,
        first_replayed_beside_ms: young_ms,
        aged_over_first_side_by_side: if young_ms > 0.0 {
            aged_ms / young_ms
        } else {
            0.0
        },
        distance_from_start_m: start.map_or(0.0, |s: Vec3| s.distance(last_pos)),
    })
}
