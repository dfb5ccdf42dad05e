//! Training data: oracle episodes (the datagen format) and, beside each, the memory renders the
//! model would have had at every tick.
//!
//! For tick t the memory holds the frames of ticks `0..t` of the same episode, written in the
//! runtime's order (render at pose t → carve → write frame t); its render at pose t is stored in
//! `DATASET/memory/ep_NNNNNN.bin` the first time a dataset is used (a few ms per frame, all cores).
//! Training reads windows of frames and their renders at random.
//!
//! File layout: `RVMEMC01`, then u32 LE steps, width, height, then per tick `3·n` bytes RGB, `2·n`
//! bytes f16 depth (`+inf` sky or uncovered), `n` bytes confidence (0 = not covered, else
//! 1..=255 ≈ confidence·255).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use half::f16;
use rayon::prelude::*;
use reverie_core::{Action, GroundProbe, Intrinsics, Pose};
use reverie_memory::{MemoryConfig, SpatialMemory, View};
use reverie_model::ModelConfig;
use reverie_world::dataset::{Dataset, EpisodeReader, episode_path};

use crate::error::{Result, TrainError};

const MAGIC: &[u8; 8] = b"RVMEMC01";
const HEADER: usize = 8 + 12;

/// The memory-render file of episode `i` of the dataset in `dir`, drawn with `memory`'s
/// `splat_scale` and `blend_power` (renders drawn another way live in another folder: `memory/`
/// for 1 and 2, how the checkpoints before session 13 were trained, `memory-s{scale}-p{power}/`
/// for any other).
pub fn memory_path(dir: &Path, i: usize, memory: &MemoryConfig) -> PathBuf {
    let (scale, power) = (memory.splat_scale, memory.blend_power);
    let folder = if (scale, power) == (1.0, 2.0) {
        "memory".to_string()
    } else {
        format!("memory-s{scale}-p{power}")
    };
    dir.join(folder).join(format!("ep_{i:06}.bin"))
}

/// One tick's memory render.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryRender {
    /// RGB (black where not covered).
    pub rgb: Vec<u8>,
    /// Planar depth in metres (`+inf` = sky or not covered).
    pub depth_m: Vec<f32>,
    /// Confidence, 0 = not covered.
    pub confidence: Vec<f32>,
}

/// An episode's memory-render file, open for random access.
#[derive(Debug)]
pub struct MemoryRenders {
    path: PathBuf,
    file: File,
    steps: usize,
    pixels: usize,
}

impl MemoryRenders {
    /// Opens and checks a memory-render file.
    pub fn open(path: &Path, steps: usize, width: usize, height: usize) -> Result<MemoryRenders> {
        let file = File::open(path).map_err(|e| TrainError::file(path, e))?;
        let mut head = [0u8; HEADER];
        file.read_exact_at(&mut head, 0)
            .map_err(|_| TrainError::file(path, "truncated header"))?;
        let u = |i: usize| {
            u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]) as usize
        };
        if &head[..8] != MAGIC || (u(8), u(12), u(16)) != (steps, width, height) {
            return Err(TrainError::file(
                path,
                format!("not a memory-render file for {steps} ticks of {width}×{height}"),
            ));
        }
        let pixels = width * height;
        let len = file
            .metadata()
            .map_err(|e| TrainError::file(path, e))?
            .len() as usize;
        if len != HEADER + steps * 6 * pixels {
            return Err(TrainError::file(
                path,
                format!("{len} bytes: truncated or corrupt"),
            ));
        }
        Ok(MemoryRenders {
            path: path.to_path_buf(),
            file,
            steps,
            pixels,
        })
    }

    /// The render at tick `t`.
    pub fn read(&self, t: usize) -> Result<MemoryRender> {
        if t >= self.steps {
            return Err(TrainError::file(
                &self.path,
                format!("tick {t} ≥ {}", self.steps),
            ));
        }
        let n = self.pixels;
        let mut buf = vec![0u8; 6 * n];
        self.file
            .read_exact_at(&mut buf, (HEADER + t * 6 * n) as u64)
            .map_err(|e| TrainError::file(&self.path, e))?;
        let depth_m = buf[3 * n..5 * n]
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        let confidence = buf[5 * n..].iter().map(|&c| f32::from(c) / 255.0).collect();
        buf.truncate(3 * n);
        Ok(MemoryRender {
            rgb: buf,
            depth_m,
            confidence,
        })
    }
}

/// Writes the memory-render file of one episode (skipped when a valid one exists). `tick` is
/// called once per frame.
pub fn build_memory_renders(
    reader: &EpisodeReader,
    k: &Intrinsics,
    config: &MemoryConfig,
    path: &Path,
    tick: &(dyn Fn() + Sync),
) -> Result<()> {
    let (steps, w, h) = (reader.steps, reader.width, reader.height);
    if MemoryRenders::open(path, steps, w, h).is_ok() {
        for _ in 0..steps {
            tick();
        }
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::file(dir, e))?;
    }
    let partial = path.with_extension("bin.partial");
    let mut out =
        std::io::BufWriter::new(File::create(&partial).map_err(|e| TrainError::file(&partial, e))?);
    let io = |e: std::io::Error| TrainError::file(&partial, e);
    out.write_all(MAGIC).map_err(io)?;
    for v in [steps, w, h] {
        out.write_all(&(v as u32).to_le_bytes()).map_err(io)?;
    }
    let mut mem = SpatialMemory::new(config.clone())?;
    let mut view = View::new(k);
    const WINDOW: usize = 48;
    for start in (0..steps).step_by(WINDOW) {
        let win = reader.window(start, WINDOW.min(steps - start))?;
        let n = w * h;
        for (j, pose) in win.poses.iter().enumerate() {
            mem.render(pose, k, &mut view);
            out.write_all(&view.rgb).map_err(io)?;
            let mut bytes = Vec::with_capacity(3 * n);
            for (d, c) in view.depth_m.iter().zip(&view.confidence) {
                let d = if *c > 0.0 { *d } else { f32::INFINITY };
                bytes.extend_from_slice(&f16::from_f32(d).to_le_bytes());
            }
            for c in &view.confidence {
                let q = if *c > 0.0 {
                    (c * 255.0).round().clamp(1.0, 255.0) as u8
                } else {
                    0
                };
                bytes.push(q);
            }
            out.write_all(&bytes).map_err(io)?;
            let depth = &win.depth_m[j * n..(j + 1) * n];
            mem.carve(&view, depth);
            mem.write(
                k,
                &win.rgb[j * 3 * n..(j + 1) * 3 * n],
                depth,
                pose,
                (start + j) as u64,
            )?;
            tick();
        }
    }
    out.into_inner()
        .map_err(|e| TrainError::file(&partial, e.error()))?
        .sync_all()
        .map_err(io)?;
    std::fs::rename(&partial, path).map_err(|e| TrainError::file(path, e))
}

/// One training sequence: `len` consecutive ticks of an episode with their memory renders.
#[derive(Clone, Debug)]
pub struct Sequence {
    /// Oracle frames, `[len, H, W, 3]`.
    pub rgb: Vec<u8>,
    /// Oracle depth, `[len, H, W]`.
    pub depth_m: Vec<f32>,
    /// Oracle poses.
    pub poses: Vec<Pose>,
    /// The action that produced each frame.
    pub actions: Vec<Action>,
    /// The memory render at each tick (from the episode's earlier frames).
    pub memory: Vec<MemoryRender>,
    /// For each tick t ≥ 1, the [`GroundProbe::features`] the motion into tick t reads: the
    /// probe holding the episode's frames up to t − 1 (at most [`GroundProbe::FRAMES`]) at pose
    /// t − 1, for the action of tick t. Empty at tick 0, and everywhere for a model without
    /// the probe.
    pub probe: Vec<Vec<f32>>,
    /// For each tick t ≥ 1, how far (metres, up) the camera the motion into tick t starts from
    /// sits above pose t − 1: the probe was read there, and the motion's target leads from there
    /// to pose t (augmentation; 0 = the true pose).
    pub start_offsets: Vec<f32>,
}

/// Datasets opened for training, with their memory renders.
#[derive(Debug)]
pub struct TrainData {
    datasets: Vec<(PathBuf, Dataset)>,
    renders: Vec<Vec<MemoryRenders>>,
    /// (dataset, episode index) of every usable episode.
    episodes: Vec<(usize, usize)>,
    /// Camera of the data.
    pub intrinsics: Intrinsics,
}

impl TrainData {
    /// Opens datasets (all of the same resolution and field of view), building missing memory
    /// renders first (`tick` per frame, `total` tells how many frames there are).
    pub fn open(
        dirs: &[PathBuf],
        memory: &MemoryConfig,
        on_total: &dyn Fn(u64),
        tick: &(dyn Fn() + Sync),
    ) -> Result<TrainData> {
        let mut datasets = Vec::new();
        let mut intrinsics: Option<(Intrinsics, PathBuf)> = None;
        for dir in dirs {
            let ds = Dataset::open(dir)?;
            let m = &ds.manifest;
            let k = Intrinsics::from_vfov_deg(m.width, m.height, m.fov_deg)
                .map_err(|e| TrainError::file(dir, e))?;
            match &intrinsics {
                Some((k0, d0)) if *k0 != k => {
                    return Err(TrainError::file(
                        dir,
                        format!("camera {k:?} differs from {}'s {k0:?}", d0.display()),
                    ));
                }
                Some(_) => {}
                None => intrinsics = Some((k, dir.clone())),
            }
            if ds.episodes.is_empty() {
                return Err(TrainError::file(dir, "no finished episodes"));
            }
            datasets.push((dir.clone(), ds));
        }
        let Some((k, _)) = intrinsics else {
            return Err(TrainError::Other("no datasets given".into()));
        };
        let jobs: Vec<(usize, usize)> = datasets
            .iter()
            .enumerate()
            .flat_map(|(d, (_, ds))| ds.episodes.keys().map(move |&e| (d, e)))
            .collect();
        on_total(
            jobs.iter()
                .map(|&(d, e)| datasets[d].1.episodes[&e].steps as u64)
                .sum(),
        );
        // Episodes are independent: one per core, whatever thread count candle's kernels use.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(reverie_model::threads::available_cores())
            .build()
            .map_err(|e| TrainError::Other(format!("thread pool: {e}")))?;
        pool.install(|| {
            jobs.par_iter()
                .map(|&(d, e)| {
                    let (dir, ds) = &datasets[d];
                    build_memory_renders(
                        &ds.episodes[&e],
                        &k,
                        memory,
                        &memory_path(dir, e, memory),
                        tick,
                    )
                })
                .collect::<Result<Vec<()>>>()
        })?;
        let mut renders = Vec::new();
        for (dir, ds) in &datasets {
            let mut v = Vec::new();
            for (&e, r) in &ds.episodes {
                v.push(MemoryRenders::open(
                    &memory_path(dir, e, memory),
                    r.steps,
                    r.width,
                    r.height,
                )?);
            }
            renders.push(v);
        }
        Ok(TrainData {
            datasets,
            renders,
            episodes: jobs,
            intrinsics: k,
        })
    }

    /// Number of episodes.
    pub fn episodes(&self) -> usize {
        self.episodes.len()
    }

    /// Ticks of episode `i` (in [`TrainData::episodes`] order).
    pub fn steps(&self, i: usize) -> usize {
        let (d, e) = self.episodes[i];
        self.datasets[d].1.episodes[&e].steps
    }

    /// Reads ticks `start .. start + len` of episode `i` with its memory renders, and with the
    /// ground probe that `model` reads when it has one, each read from a camera `offsets[t]`
    /// metres above pose t − 1 (see [`Sequence::start_offsets`]; empty = none).
    pub fn sequence(
        &self,
        i: usize,
        start: usize,
        len: usize,
        model: &ModelConfig,
        offsets: &[f32],
    ) -> Result<Sequence> {
        if !offsets.is_empty() && offsets.len() != len {
            return Err(TrainError::Other(format!(
                "{} pose offsets for a sequence of {len} ticks",
                offsets.len()
            )));
        }
        let start_offsets = if offsets.is_empty() {
            vec![0.0; len]
        } else {
            offsets.to_vec()
        };
        let (d, e) = self.episodes[i];
        let win = self.datasets[d].1.window(e, start, len)?;
        let slot = self.datasets[d]
            .1
            .episodes
            .keys()
            .position(|&x| x == e)
            .ok_or_else(|| TrainError::Other(format!("episode {e} vanished")))?;
        let memory = (start..start + len)
            .map(|t| self.renders[d][slot].read(t))
            .collect::<Result<Vec<_>>>()?;
        let mut probes = vec![Vec::new(); len];
        if model.ground_probe && len > 1 {
            // The frames before the window that the probe still holds at its first tick.
            let first = start.saturating_sub(GroundProbe::FRAMES - 1);
            let history = self.datasets[d]
                .1
                .window(e, first, start + len - 1 - first)?;
            let n = self.intrinsics.pixels();
            let mut p = GroundProbe::new();
            for (j, pose) in history.poses.iter().enumerate() {
                p.push(&self.intrinsics, &history.depth_m[j * n..(j + 1) * n], pose)
                    .map_err(|e| TrainError::Other(e.to_string()))?;
                let t = first + j + 1; // the tick whose motion this probe feeds
                if t > start {
                    let mut from = *pose;
                    from.position.y += start_offsets[t - start];
                    probes[t - start] = model.probe_features(&p, &from, &win.actions[t - start]);
                }
            }
        }
        Ok(Sequence {
            rgb: win.rgb,
            depth_m: win.depth_m,
            poses: win.poses,
            actions: win.actions,
            memory,
            probe: probes,
            start_offsets,
        })
    }

    /// The dataset directory and episode file of episode `i`.
    pub fn episode_file(&self, i: usize) -> PathBuf {
        let (d, e) = self.episodes[i];
        episode_path(&self.datasets[d].0, e)
    }
}
