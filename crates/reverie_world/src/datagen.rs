//! Dataset generation: many episodes of a policy in a world, written in parallel, resumable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use reverie_core::{Intrinsics, TICK_HZ, seed};

use crate::dataset::{DatasetError, EpisodeWriter, FORMAT, FORMAT_VERSION, Manifest, episode_path};
use crate::episode::{self, EpisodeStart};
use crate::policy::PolicyKind;
use crate::render::Renderer;
use crate::spec::WorldSpec;
use crate::world::World;

/// What to do when the output directory already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse.
    Refuse,
    /// Continue a dataset made with the same settings, skipping finished episodes.
    Resume,
    /// Delete the dataset there (only `dataset.json` and `episodes/`) and start again.
    Overwrite,
}

/// Everything `reverie datagen` needs.
#[derive(Clone, Debug)]
pub struct DatagenConfig {
    /// The world spec file (recorded in the manifest).
    pub world_file: PathBuf,
    /// The world spec, with the seed to use already applied.
    pub spec: WorldSpec,
    /// Base seed of the episodes.
    pub seed: u64,
    /// The policy.
    pub policy: PolicyKind,
    /// Number of episodes.
    pub episodes: usize,
    /// Ticks per episode.
    pub steps: usize,
    /// Camera.
    pub intrinsics: Intrinsics,
    /// Vertical field of view (degrees), as given.
    pub fov_deg: f32,
    /// Output directory.
    pub out: PathBuf,
    /// What to do if it exists.
    pub existing: Existing,
    /// Worker threads.
    pub threads: usize,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DatagenSummary {
    /// Episodes written now.
    pub written: usize,
    /// Episodes found finished and skipped.
    pub skipped: usize,
    /// Frames written now.
    pub frames: u64,
    /// Wall time.
    pub seconds: f64,
    /// Frames per minute.
    pub frames_per_minute: f64,
}

fn err(path: &Path, message: impl std::fmt::Display) -> DatasetError {
    DatasetError {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

impl DatagenConfig {
    fn manifest(&self) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            world_file: self.world_file.display().to_string(),
            world: self.spec.clone(),
            seed: self.seed,
            policy: self.policy.to_string(),
            episodes: self.episodes,
            steps: self.steps,
            width: self.intrinsics.width,
            height: self.intrinsics.height,
            fov_deg: self.fov_deg,
            tick_hz: TICK_HZ,
        }
    }
}

/// Prepares the output directory per `existing`; fails naming the directory and what to do.
fn prepare(cfg: &DatagenConfig) -> Result<(), DatasetError> {
    let dir = &cfg.out;
    let manifest = cfg.manifest();
    let non_empty = dir.exists()
        && std::fs::read_dir(dir)
            .map_err(|e| err(dir, e))?
            .next()
            .is_some();
    if dir.exists() && !dir.is_dir() {
        return Err(err(dir, "exists and is not a directory"));
    }
    if non_empty {
        match cfg.existing {
            Existing::Refuse => {
                return Err(err(
                    dir,
                    "already exists and is not empty; pass --resume to continue the dataset there or --overwrite to replace it",
                ));
            }
            Existing::Resume => {
                let old = Manifest::load(dir)?;
                let (a, b) = (
                    serde_json::to_value(&old).unwrap_or_default(),
                    serde_json::to_value(&manifest).unwrap_or_default(),
                );
                if a != b {
                    let field = a
                        .as_object()
                        .and_then(|a| {
                            b.as_object().and_then(|b| {
                                b.iter()
                                    .find(|(k, v)| a.get(*k) != Some(*v))
                                    .map(|(k, _)| k.clone())
                            })
                        })
                        .unwrap_or_default();
                    return Err(err(
                        &dir.join("dataset.json"),
                        format!(
                            "cannot resume: `{field}` differs from this command's; use the same arguments or --overwrite"
                        ),
                    ));
                }
            }
            Existing::Overwrite => {
                for entry in std::fs::read_dir(dir).map_err(|e| err(dir, e))? {
                    let name = entry.map_err(|e| err(dir, e))?.file_name();
                    if name != "dataset.json" && name != "episodes" {
                        return Err(err(
                            dir,
                            format!(
                                "holds `{}`, which is not part of a dataset; refusing to overwrite",
                                name.to_string_lossy()
                            ),
                        ));
                    }
                }
                let episodes = dir.join("episodes");
                if episodes.exists() {
                    std::fs::remove_dir_all(&episodes).map_err(|e| err(&episodes, e))?;
                }
            }
        }
    }
    std::fs::create_dir_all(dir.join("episodes"))
        .map_err(|e| err(dir, format!("cannot create: {e}")))?;
    manifest.save(dir)
}

/// Writes the dataset. `on_frame` is called after each frame (for progress bars).
pub fn generate(
    cfg: &DatagenConfig,
    on_frame: &(dyn Fn() + Sync),
) -> Result<DatagenSummary, DatasetError> {
    if cfg.episodes == 0 {
        return Err(err(&cfg.out, "--episodes must be at least 1"));
    }
    let min = cfg.policy.min_steps();
    if cfg.steps < min.max(1) {
        return Err(err(
            &cfg.out,
            format!(
                "--steps {} is too short for policy {}: expected at least {min}",
                cfg.steps, cfg.policy
            ),
        ));
    }
    prepare(cfg)?;
    let todo: Vec<usize> = (0..cfg.episodes)
        .filter(|&i| !episode_path(&cfg.out, i).exists())
        .collect();
    let skipped = cfg.episodes - todo.len();
    let started = Instant::now();
    let spec = Arc::new(cfg.spec.clone());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads.max(1))
        .build()
        .map_err(|e| err(&cfg.out, e))?;
    let renderer = Renderer::new(&spec);
    let results: Vec<Result<u64, DatasetError>> = pool.install(|| {
        todo.par_iter()
            .map_init(
                || World::new(spec.clone()),
                |world, &i| {
                    let path = episode_path(&cfg.out, i);
                    let ep_seed = seed::derive(cfg.seed, &[i as u64]);
                    let mut policy = cfg.policy.build(ep_seed);
                    let mut writer = EpisodeWriter::create(
                        &path,
                        cfg.steps,
                        cfg.intrinsics.width,
                        cfg.intrinsics.height,
                    )?;
                    let start = EpisodeStart {
                        seed: ep_seed,
                        steps: cfg.steps,
                    };
                    episode::run(
                        world,
                        &renderer,
                        &cfg.intrinsics,
                        policy.as_mut(),
                        start,
                        |_, frame, action| {
                            writer.push(&frame.rgb, &frame.depth_m, &frame.pose, action)?;
                            on_frame();
                            Ok::<(), DatasetError>(())
                        },
                    )?;
                    let mut meta = BTreeMap::new();
                    meta.insert("episode".to_string(), i.to_string());
                    meta.insert("seed".to_string(), ep_seed.to_string());
                    meta.insert("policy".to_string(), cfg.policy.to_string());
                    meta.insert("steps".to_string(), cfg.steps.to_string());
                    meta.insert("world".to_string(), cfg.spec.name.clone());
                    meta.insert("report".to_string(), policy.report().to_string());
                    writer.finish(meta)?;
                    Ok(cfg.steps as u64)
                },
            )
            .collect()
    });
    let mut frames = 0;
    let mut written = 0;
    for r in results {
        frames += r?;
        written += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(DatagenSummary {
        written,
        skipped,
        frames,
        seconds,
        frames_per_minute: if seconds > 0.0 {
            frames as f64 * 60.0 / seconds
        } else {
            0.0
        },
    })
}
