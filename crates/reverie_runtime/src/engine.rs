//! [`Engine`]: one session of the world model, stepped synchronously.

use std::time::Instant;

use reverie_core::{Action, EgoMotion, Intrinsics, Pose};
use reverie_memory::{MemoryConfig, SpatialMemory, View, warp};
use reverie_model::model::{actions_tensor, guides_tensor};
use reverie_model::{Guide, State, WorldModel};

/// What can go wrong in a tick.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The model failed.
    #[error(transparent)]
    Model(#[from] reverie_model::ModelError),
    /// The memory failed.
    #[error(transparent)]
    Memory(#[from] reverie_memory::MemoryError),
    /// Bad input.
    #[error("{0}")]
    Input(String),
}

/// The frame that starts a session: an oracle spawn view or a user's image.
#[derive(Clone, Debug)]
pub struct Prompt {
    /// RGB, row-major.
    pub rgb: Vec<u8>,
    /// Planar depth in metres when known (the oracle's); `None` for a user's image.
    pub depth_m: Option<Vec<f32>>,
    /// Where the session starts (defines the world frame).
    pub pose: Pose,
}

/// How frames are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refine {
    /// The network generates every frame (the product).
    Network,
    /// Baseline: no network refinement — the warp where it has a pixel, else the memory render,
    /// else the previous frame's pixel; the pose still comes from the model's ego-motion.
    WarpAndMemoryOnly,
}

/// Options of an [`Engine`].
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// The spatial memory (its byte bound, cell sizes, …).
    pub memory: MemoryConfig,
    /// Use the memory (render into each new pose, write each frame); off = warp only.
    pub use_memory: bool,
    /// Network or the warp+memory baseline.
    pub refine: Refine,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            memory: MemoryConfig::default(),
            use_memory: true,
            refine: Refine::Network,
        }
    }
}

/// Milliseconds spent in each stage of a tick.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Ego-motion prediction.
    pub motion_ms: f64,
    /// Warp of the previous frame.
    pub warp_ms: f64,
    /// Memory render.
    pub memory_render_ms: f64,
    /// Network forward.
    pub network_ms: f64,
    /// Memory carve + write.
    pub memory_write_ms: f64,
}

/// One generated tick.
#[derive(Clone, Debug)]
pub struct Generated {
    /// RGB, row-major.
    pub rgb: Vec<u8>,
    /// Planar depth in metres (`+inf` sky).
    pub depth_m: Vec<f32>,
    /// The pose the model moved to.
    pub pose: Pose,
    /// The motion it predicted for this tick.
    pub motion: EgoMotion,
    /// Tick number (0 = the prompt).
    pub tick: u64,
    /// Share of pixels the warp covered, and the memory render covered.
    pub warp_coverage: f64,
    /// Share of pixels the memory render covered.
    pub memory_coverage: f64,
    /// Stage timings.
    pub times: StageTimes,
}

/// A session: the model's latent state, its pose, its memory and its last frame.
#[derive(Debug)]
pub struct Engine<'m> {
    model: &'m WorldModel,
    k: Intrinsics,
    options: EngineOptions,
    state: State,
    memory: SpatialMemory,
    last: Generated,
    warp_view: View,
    memory_view: View,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl<'m> Engine<'m> {
    /// Starts a session from a prompt; the first frame (tick 0) is the model's reading of it.
    pub fn new(
        model: &'m WorldModel,
        k: Intrinsics,
        prompt: &Prompt,
        options: EngineOptions,
    ) -> Result<Engine<'m>, RuntimeError> {
        let cfg = model.config();
        if (k.width as usize, k.height as usize) != (cfg.width, cfg.height) {
            return Err(RuntimeError::Input(format!(
                "camera is {}×{}, the model makes {}×{} frames",
                k.width, k.height, cfg.width, cfg.height
            )));
        }
        let guide = Guide {
            rgb: &prompt.rgb,
            depth_m: prompt.depth_m.as_deref(),
            confidence: None,
        };
        let g = guides_tensor(cfg, &[guide], &[Guide::EMPTY], model.device())?;
        let (state, out) = model.prompt(&[g])?;
        let (rgb, depth_m) = out.frame(0)?;
        // Where the prompt gave depth, it is the truth of the prompt frame: keep it.
        let depth_m = prompt.depth_m.clone().unwrap_or(depth_m);
        let rgb = match options.refine {
            Refine::Network => rgb,
            Refine::WarpAndMemoryOnly => prompt.rgb.clone(),
        };
        let mut memory = SpatialMemory::new(options.memory.clone())?;
        if options.use_memory {
            memory.write(&k, &rgb, &depth_m, &prompt.pose, 0)?;
        }
        Ok(Engine {
            model,
            k,
            state,
            memory,
            last: Generated {
                rgb,
                depth_m,
                pose: prompt.pose,
                motion: EgoMotion::default(),
                tick: 0,
                warp_coverage: 1.0,
                memory_coverage: 0.0,
                times: StageTimes::default(),
            },
            warp_view: View::new(&k),
            memory_view: View::new(&k),
            options,
        })
    }

    /// The latest frame.
    pub fn frame(&self) -> &Generated {
        &self.last
    }

    /// The memory (for stats and the minimap).
    pub fn memory(&self) -> &SpatialMemory {
        &self.memory
    }

    /// The camera.
    pub fn intrinsics(&self) -> &Intrinsics {
        &self.k
    }

    /// One tick: ego-motion → warp → memory render → network → memory write.
    pub fn step(&mut self, action: &Action) -> Result<&Generated, RuntimeError> {
        action.validate().map_err(RuntimeError::Input)?;
        let mut times = StageTimes::default();
        let t = Instant::now();
        let motion = self.model.predict_motion_one(&self.state, action)?;
        let pose = motion.apply(&self.last.pose);
        times.motion_ms = ms(t);

        let t = Instant::now();
        warp(
            &self.k,
            &self.last.rgb,
            &self.last.depth_m,
            &self.last.pose,
            &pose,
            self.options.memory.splat_scale,
            &mut self.warp_view,
        )?;
        times.warp_ms = ms(t);

        let t = Instant::now();
        if self.options.use_memory {
            self.memory.render(&pose, &self.k, &mut self.memory_view);
        } else {
            self.memory_view.reset(&self.k);
        }
        times.memory_render_ms = ms(t);

        let t = Instant::now();
        let (rgb, depth_m) = match self.options.refine {
            Refine::Network => {
                let cfg = self.model.config();
                let wg = Guide {
                    rgb: &self.warp_view.rgb,
                    depth_m: Some(&self.warp_view.depth_m),
                    confidence: Some(&self.warp_view.confidence),
                };
                let mg = if self.options.use_memory {
                    Guide {
                        rgb: &self.memory_view.rgb,
                        depth_m: Some(&self.memory_view.depth_m),
                        confidence: Some(&self.memory_view.confidence),
                    }
                } else {
                    Guide::EMPTY
                };
                let dev = self.model.device();
                let g = guides_tensor(cfg, &[wg], &[mg], dev)?;
                let a = actions_tensor(std::slice::from_ref(action), dev)?;
                self.model.generate(&mut self.state, &a, &g)?.frame(0)?
            }
            Refine::WarpAndMemoryOnly => {
                let n = self.k.pixels();
                let mut rgb = self.last.rgb.clone();
                let mut depth = self.last.depth_m.clone();
                for i in 0..n {
                    let src = if self.warp_view.covered(i) {
                        Some(&self.warp_view)
                    } else if self.memory_view.covered(i) {
                        Some(&self.memory_view)
                    } else {
                        None
                    };
                    if let Some(v) = src {
                        rgb[3 * i..3 * i + 3].copy_from_slice(&v.rgb[3 * i..3 * i + 3]);
                        depth[i] = v.depth_m[i];
                    }
                }
                // The state still follows the frames, so ego-motion keeps its context.
                let cfg = self.model.config();
                let g = guides_tensor(
                    cfg,
                    &[Guide {
                        rgb: &rgb,
                        depth_m: Some(&depth),
                        confidence: None,
                    }],
                    &[Guide::EMPTY],
                    self.model.device(),
                )?;
                let a = actions_tensor(std::slice::from_ref(action), self.model.device())?;
                self.model.generate(&mut self.state, &a, &g)?;
                (rgb, depth)
            }
        };
        times.network_ms = ms(t);

        let t = Instant::now();
        let tick = self.last.tick + 1;
        if self.options.use_memory {
            self.memory.carve(&self.memory_view, &depth_m);
            self.memory.write(&self.k, &rgb, &depth_m, &pose, tick)?;
        }
        times.memory_write_ms = ms(t);

        self.last = Generated {
            rgb,
            depth_m,
            pose,
            motion,
            tick,
            warp_coverage: self.warp_view.coverage(),
            memory_coverage: if self.options.use_memory {
                self.memory_view.coverage()
            } else {
                0.0
            },
            times,
        };
        Ok(&self.last)
    }
}
