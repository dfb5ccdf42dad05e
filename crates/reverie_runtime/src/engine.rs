//! [`Engine`]: one session of the world model, stepped synchronously.

use std::time::Instant;

use reverie_core::{Action, EgoMotion, GroundProbe, Intrinsics, Pose};
use reverie_memory::{MemoryConfig, SpatialMemory, View, warp};
use reverie_model::model::{actions_tensor, guides_tensor};
use reverie_model::{Guide, MotionInputs, State, WorldModel};

use crate::quality::Quality;

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
    /// A session file could not be written or read.
    #[error("session file {}: {message}", path.display())]
    Session {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
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
    /// For tests and demos of the quality control: extra time the network stage takes (a
    /// deliberately slow model). Zero in normal use.
    pub slow_network: std::time::Duration,
    /// Render the memory ahead: [`Engine::commit`] renders the memory at the new frame's pose
    /// (which it needs anyway, to carve before writing), and the next [`Engine::advance`] warps
    /// that render into its pose instead of rendering the memory again. The memory render
    /// leaves the path from action to frame (it runs after the frame is out); the guide then
    /// holds the memory as it was one tick earlier — the newest frame reaches the network
    /// through the warp of the previous frame — seen through one extra warp. Off (the default)
    /// = render the memory at the new pose inside every tick, beside the warp. Session 15: the
    /// extra warp pulls the session's depth nearer tick after tick (the median generated
    /// ground depth at 0.92 of the truth's 40 ticks in, 0.99 without it), and the frames lose
    /// to it — `reverie eval`, default checkpoint, PSNR at 24 frames meadow / village / forest /
    /// canyon 21.8 / 23.2 / 14.6 / 22.7 dB with it, 23.3 / 25.6 / 14.8 / 24.8 without; the
    /// runtime still keeps 24 fps without it (`reverie bench --seconds 60`: tick p99 25.1 ms,
    /// input-to-frame p99 54.9 ms against 28.1 and 51.4).
    pub memory_ahead: bool,
    /// How decisively the network's frame copies the source it prefers at each pixel (the
    /// previous frame warped, the memory render, or its own colour):
    /// [`WorldModel::generate_with`]'s source temperature. 1 mixes them as trained; 0.5 (the
    /// default) keeps the detail that a blend, repeated every tick, washes out — session 14,
    /// default checkpoint, `reverie eval` on the four bundled worlds' held-out seeds: sharpness
    /// ratio at 24 frames 0.57 / 0.73 / 0.52 / 0.60 → 0.74 / 0.91 / 0.63 / 0.79 (meadow,
    /// village, forest, canyon), PSNR at 24 frames 0.1–0.3 dB lower.
    pub source_temperature: f32,
    /// The same for the frame's depth: [`WorldModel::generate_tempered`]'s depth temperature.
    /// 1 mixes the sources' depths as trained, however decisively the colour chose; 0.5 (the
    /// default, the colour's) makes each pixel's depth come from the source its colour came
    /// from, so that what the next tick warps and the memory stores lies where its colour was
    /// seen. Session 31, default checkpoint, six held-out seeds per world: PSNR at 72 frames
    /// 14.7 / 16.6 / 13.4 / 18.0 → 14.8 / 16.9 / 13.9 / 18.2 dB (meadow, village, forest,
    /// canyon), at 24 frames the same or +0.1; 60 s revisits from three seeds per world, memory
    /// on, 12.6 → 13.1 dB on average; see README's "The world model".
    pub depth_temperature: f32,
    /// Vertical motions of less than this many metres in a tick are taken as none (0 = every
    /// one as predicted). The walker's true vertical motion is either none or a step, a jump
    /// or a fall, whose smallest tick is a fall's first (gravity · tick² ≈ 4.9 cm): anything
    /// smaller is the ego-motion head's bias, which a session integrates into metres. Session
    /// 22, default checkpoint, meadow's 10 s loop-and-return: the camera crept 0.9 m up in
    /// 20 s of walking on flat ground with it off; see README's "The world model".
    pub vertical_deadband_m: f32,
    /// For this many ticks after a rise (a jump, a step), the session's downward motions pass
    /// the vertical dead band, small ones too, down to the height the rise began at and no
    /// further (0 = the dead band takes them as it takes any). With the dead band alone a jump
    /// ratcheted the camera up: its first ticks rise 35 cm, and its fall begins at 4.9 cm a
    /// tick, which the head predicts smaller, under the band. Session 27, 10 minutes of the
    /// random policy on meadow: the camera ended 53.7 m above its start without a window,
    /// 24.4 / 16.8 / 13.4 m with 24 / 48 / 96 ticks (the default: 4 s), control and fidelity
    /// unchanged. Only with a dead band above 0.
    pub fall_window_ticks: u32,
    /// Walks of less than this many metres in a tick on the ground plane are taken as none
    /// (0 = every one as predicted). The walker's true walk is none or a tick of walking
    /// (17.9 cm at 4.3 m/s), or a slide along a wall it meets at a slant, which is that much
    /// less; a head whose gates a wall has all but shut still predicts a few millimetres a
    /// tick, and a session integrates them through the wall: session 31, village seed
    /// 1,000,006's wall test, the default checkpoint stopped 0.12 m from the wall, crept
    /// 4–7 mm a tick to 0.09 m in 16 ticks, where its frames dissolved, then walked on 8 m
    /// through it.
    pub horizontal_deadband_m: f32,
    /// The network's depth goes through a median filter of this radius (pixels; a
    /// (2r+1)×(2r+1) window, 0 = as generated) before the session uses it: what the next tick
    /// warps, what the memory stores and what the ego-motion head reads. A generated depth is
    /// speckled (single pixels metres nearer or farther than their neighbours); warped, each
    /// speckle splats its colour somewhere else, tick after tick, and the frames dissolve into
    /// dots. A median takes the speckles and keeps the edges.
    pub depth_median_radius: u32,
}

/// The largest [`EngineOptions::depth_median_radius`].
pub const MAX_DEPTH_MEDIAN_RADIUS: u32 = 3;

/// Reads a depth median radius given by a user (pixels): see
/// [`EngineOptions::depth_median_radius`].
pub fn parse_depth_median(s: &str) -> Result<u32, String> {
    parse_count("depth median radius", "", s, MAX_DEPTH_MEDIAN_RADIUS)
}

fn check_depth_median(r: u32) -> Result<(), RuntimeError> {
    check_count("depth median radius", "", r, MAX_DEPTH_MEDIAN_RADIUS)
}

/// A `what` (a whole number of `unit`s, "" for none) given by a user, 0 ..= `max`.
fn parse_count(what: &str, unit: &str, s: &str, max: u32) -> Result<u32, String> {
    let of = if unit.is_empty() {
        String::new()
    } else {
        format!(" of {unit}")
    };
    let n: u32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{what} {s:?} is not a whole number{of}"))?;
    check_count(what, unit, n, max).map_err(|e| e.to_string())?;
    Ok(n)
}

/// Checks a `what` of `n` `unit`s against 0 ..= `max`.
fn check_count(what: &str, unit: &str, n: u32, max: u32) -> Result<(), RuntimeError> {
    if n <= max {
        Ok(())
    } else {
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        Err(RuntimeError::Input(format!(
            "{what} {n}{unit} is out of range, expected 0 ..= {max}"
        )))
    }
}

/// `depth` (`w`×`h`, row-major; `+inf` = sky) through a median of radius `r` (the window
/// clipped at the borders; `r = 0` returns it as it is). Sky counts as the farthest depth, so
/// a lone sky pixel in a wall is filled and a lone wall pixel in the sky goes.
pub fn median_depth(depth: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    if r == 0 || depth.len() != w * h {
        return depth.to_vec();
    }
    let mut out = Vec::with_capacity(depth.len());
    let mut window = Vec::with_capacity((2 * r + 1) * (2 * r + 1));
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r).min(h - 1));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r).min(w - 1));
            window.clear();
            for yy in y0..=y1 {
                window.extend_from_slice(&depth[yy * w + x0..=yy * w + x1]);
            }
            let mid = window.len() / 2;
            let (_, m, _) = window.select_nth_unstable_by(mid, f32::total_cmp);
            out.push(*m);
        }
    }
    out
}

/// The largest [`EngineOptions::fall_window_ticks`] (10 s).
pub const MAX_FALL_WINDOW_TICKS: u32 = 240;

/// A rise the session has not come down from yet ([`EngineOptions::fall_window_ticks`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lift {
    /// Metres above the height the rise began at.
    pub m: f32,
    /// Ticks since the camera last went up.
    pub ticks: u32,
}

impl Lift {
    /// Whether the camera is still above the height its rise began at (by more than a
    /// millimetre: what rounding leaves of an arc that came all the way down is not a rise).
    pub fn in_air(&self) -> bool {
        self.m > 1e-3
    }

    /// What a `vertical_momentum` head flies on from after a tick that moved the camera `up_m`
    /// and left this lift: that motion while the camera is up in the air after a rise, else
    /// none (on the ground). Outside a rise nothing carries over from tick to tick: a small
    /// drift down taken for the start of a fall would be continued by the arc, tick after
    /// tick, without end (session 33: 99 m in 10 s).
    pub fn airborne_motion(&self, up_m: f32) -> Option<f32> {
        self.in_air().then_some(up_m)
    }

    /// The lift after a tick that moved the camera `up_m`, with `window` ticks to come down.
    pub fn after(self, up_m: f32, window: u32) -> Lift {
        if window == 0 {
            return Lift::default();
        }
        if up_m > 0.0 {
            return Lift {
                m: self.m + up_m,
                ticks: 0,
            };
        }
        let m = (self.m + up_m).max(0.0);
        let ticks = self.ticks + 1;
        if m == 0.0 || ticks >= window {
            // Back down, or standing on what it rose onto (a step, a ledge).
            Lift::default()
        } else {
            Lift { m, ticks }
        }
    }
}

/// Reads a fall window given by a user (ticks): see [`EngineOptions::fall_window_ticks`].
pub fn parse_fall_window(s: &str) -> Result<u32, String> {
    parse_count("fall window", "ticks", s, MAX_FALL_WINDOW_TICKS)
}

fn check_fall_window(n: u32) -> Result<(), RuntimeError> {
    check_count("fall window", "ticks", n, MAX_FALL_WINDOW_TICKS)
}

/// The largest [`EngineOptions::vertical_deadband_m`]: a jump's first tick (35 cm) must pass.
pub const MAX_VERTICAL_DEADBAND_M: f32 = 0.2;

/// Reads a vertical dead band given by a user (a command-line flag, metres a tick): see
/// [`EngineOptions::vertical_deadband_m`].
pub fn parse_vertical_deadband(s: &str) -> Result<f32, String> {
    parse_band("vertical", s, MAX_VERTICAL_DEADBAND_M)
}

fn check_vertical_deadband(m: f32) -> Result<(), RuntimeError> {
    check_band("vertical", m, MAX_VERTICAL_DEADBAND_M)
}

/// The largest [`EngineOptions::horizontal_deadband_m`]: a tick of walking (17.9 cm) must pass,
/// and most of a slide.
pub const MAX_HORIZONTAL_DEADBAND_M: f32 = 0.05;

/// Reads a horizontal dead band given by a user (a command-line flag, metres a tick): see
/// [`EngineOptions::horizontal_deadband_m`].
pub fn parse_horizontal_deadband(s: &str) -> Result<f32, String> {
    parse_band("horizontal", s, MAX_HORIZONTAL_DEADBAND_M)
}

fn check_horizontal_deadband(m: f32) -> Result<(), RuntimeError> {
    check_band("horizontal", m, MAX_HORIZONTAL_DEADBAND_M)
}

/// A `which` ("vertical", "horizontal") dead band of `s` metres, 0 ..= `max`.
fn parse_band(which: &str, s: &str, max: f32) -> Result<f32, String> {
    let m: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{which} dead band {s:?} is not a number"))?;
    check_band(which, m, max).map_err(|e| e.to_string())?;
    Ok(m)
}

fn check_band(which: &str, m: f32, max: f32) -> Result<(), RuntimeError> {
    if (0.0..=max).contains(&m) {
        Ok(())
    } else {
        Err(RuntimeError::Input(format!(
            "{which} dead band {m} m is out of range, expected 0 ..= {max}"
        )))
    }
}

/// Reads a depth source temperature given by a user (a command-line flag): see
/// [`EngineOptions::depth_temperature`].
pub fn parse_depth_temperature(s: &str) -> Result<f32, String> {
    parse_temperature(
        "depth source temperature",
        s,
        reverie_model::model::check_depth_temperature,
    )
}

/// Reads a source temperature given by a user (a command-line flag): see
/// [`EngineOptions::source_temperature`].
pub fn parse_source_temperature(s: &str) -> Result<f32, String> {
    parse_temperature(
        "source temperature",
        s,
        reverie_model::model::check_source_temperature,
    )
}

/// A temperature (`what`) of `s`, checked by the model's `check`.
fn parse_temperature(
    what: &str,
    s: &str,
    check: fn(f32) -> reverie_model::Result<()>,
) -> Result<f32, String> {
    let t: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{what} {s:?} is not a number"))?;
    check(t).map_err(|e| e.to_string())?;
    Ok(t)
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            // A frame is due every 1/24 s: the render gets a budget (see the field).
            memory: MemoryConfig {
                render_splats_per_pixel: 4.0,
                ..MemoryConfig::default()
            },
            use_memory: true,
            refine: Refine::Network,
            slow_network: std::time::Duration::ZERO,
            memory_ahead: false,
            source_temperature: 0.5,
            depth_temperature: 0.5,
            vertical_deadband_m: 0.02,
            fall_window_ticks: 96,
            horizontal_deadband_m: 0.01,
            depth_median_radius: 0,
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
    /// Memory render into the new pose (with [`EngineOptions::memory_ahead`]: the warp of the
    /// render made ahead).
    pub memory_render_ms: f64,
    /// Network forward.
    pub network_ms: f64,
    /// With [`EngineOptions::memory_ahead`]: the memory render at the new frame's pose, after
    /// the frame is published.
    pub memory_ahead_ms: f64,
    /// Memory carve + write (after the frame is published).
    pub memory_write_ms: f64,
}

impl StageTimes {
    /// How many stages there are.
    pub const COUNT: usize = 6;

    /// The stages' names, in tick order (as in the benchmark JSON).
    pub const NAMES: [&'static str; StageTimes::COUNT] = [
        "motion",
        "warp",
        "memory_render",
        "network",
        "memory_ahead",
        "memory_write",
    ];

    /// The stages' times in [`StageTimes::NAMES`] order.
    pub fn as_array(&self) -> [f64; StageTimes::COUNT] {
        [
            self.motion_ms,
            self.warp_ms,
            self.memory_render_ms,
            self.network_ms,
            self.memory_ahead_ms,
            self.memory_write_ms,
        ]
    }

    /// Time from the action to the frame (every stage before the frame is published; the warp
    /// and the memory stage run side by side).
    pub fn to_frame_ms(&self) -> f64 {
        self.motion_ms + self.warp_ms.max(self.memory_render_ms) + self.network_ms
    }

    /// The whole tick.
    pub fn total_ms(&self) -> f64 {
        self.to_frame_ms() + self.memory_ahead_ms + self.memory_write_ms
    }
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
    /// The quality level the tick ran at.
    pub quality: Quality,
    /// This frame is a deadline fallback ([`FrameDeadline`]): the warp where it has a pixel,
    /// else the memory render, else the previous frame — shown because the network missed the
    /// frame's deadline. The session goes on from the network's frame.
    pub rescued: bool,
}

/// When a tick's frame must be out, and who shows the fallback if the network misses it.
pub struct FrameDeadline<'a> {
    /// The frame's deadline.
    pub at: Instant,
    /// Called at most once, from another thread, with the fallback frame (`rescued` set) when
    /// the network is still running at `at`. The network still finishes; the session goes on
    /// from its frame.
    pub on_miss: &'a (dyn Fn(&Generated) + Sync),
}

impl std::fmt::Debug for FrameDeadline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDeadline")
            .field("at", &self.at)
            .finish()
    }
}

/// A session: the model's latent state, its pose, its memory and its last frame.
#[derive(Debug)]
pub struct Engine<'m> {
    pub(crate) model: &'m WorldModel,
    pub(crate) k: Intrinsics,
    pub(crate) options: EngineOptions,
    pub(crate) state: State,
    pub(crate) memory: SpatialMemory,
    pub(crate) last: Generated,
    warp_view: View,
    memory_view: View,
    /// With [`EngineOptions::memory_ahead`]: the memory rendered at the pose of the last
    /// frame before that frame was written (for the next tick to warp), and its depth with
    /// uncovered pixels marked NaN (what the warp skips).
    pub(crate) ahead: Option<Ahead>,
    /// The last frame is not in the memory yet ([`Engine::commit`] stores it).
    pending_write: bool,
    /// Which session this is and which one it was forked from (session files carry both).
    pub(crate) session_id: u64,
    pub(crate) parent_id: Option<u64>,
    /// The ground around the player from the last frames (for a `ground_probe` model's motion
    /// head; empty otherwise), and the tick of the newest frame in it.
    pub(crate) probe: GroundProbe,
    pub(crate) probe_tick: Option<u64>,
    /// The rise not come down from yet ([`EngineOptions::fall_window_ticks`]).
    pub(crate) lift: Lift,
}

/// A memory render made ahead of the tick that uses it.
#[derive(Debug)]
pub(crate) struct Ahead {
    pub(crate) view: View,
    /// The render's depth, NaN where it covers nothing (what the warp skips).
    pub(crate) depth_m: Vec<f32>,
    pub(crate) pose: Pose,
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
        reverie_model::model::check_source_temperature(options.source_temperature)?;
        reverie_model::model::check_depth_temperature(options.depth_temperature)?;
        check_vertical_deadband(options.vertical_deadband_m)?;
        check_fall_window(options.fall_window_ticks)?;
        check_horizontal_deadband(options.horizontal_deadband_m)?;
        check_depth_median(options.depth_median_radius)?;
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
        let state = state.detach();
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
            // What the prompt saw through stays empty: a session that later imagines something
            // where it started cannot cover the start view with it; and the start view itself
            // is kept whole and drawn over the memory's cells wherever it sees.
            memory.pin_view(&k, &rgb, &depth_m, &prompt.pose)?;
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
                quality: Quality::Full,
                rescued: false,
            },
            warp_view: View::new(&k),
            memory_view: View::new(&k),
            ahead: None,
            pending_write: false,
            session_id: crate::session::new_session_id(),
            parent_id: None,
            options,
            probe: GroundProbe::new(),
            probe_tick: None,
            lift: Lift::default(),
        })
    }

    /// An engine from saved parts (a session file or a fork).
    pub(crate) fn from_parts(
        model: &'m WorldModel,
        k: Intrinsics,
        options: EngineOptions,
        state: State,
        memory: SpatialMemory,
        last: Generated,
        session_id: u64,
        parent_id: Option<u64>,
        probe: GroundProbe,
        lift: Lift,
    ) -> Engine<'m> {
        let probe_tick = (!probe.is_empty()).then_some(last.tick);
        Engine {
            model,
            k,
            state,
            memory,
            last,
            warp_view: View::new(&k),
            memory_view: View::new(&k),
            ahead: None,
            pending_write: false,
            session_id,
            parent_id,
            options,
            probe,
            probe_tick,
            lift,
        }
    }

    /// Puts the last frame into the ground probe (once; only for a `ground_probe` model).
    pub(crate) fn sync_probe(&mut self) -> Result<(), RuntimeError> {
        if self.model.config().ground_probe && self.probe_tick != Some(self.last.tick) {
            self.probe
                .push(&self.k, &self.last.depth_m, &self.last.pose)
                .map_err(|e| RuntimeError::Input(e.to_string()))?;
            self.probe_tick = Some(self.last.tick);
        }
        Ok(())
    }

    /// Restores a memory render made ahead (from a session file; RGB and NaN-marked depth).
    pub(crate) fn set_ahead(&mut self, pose: Pose, rgb: Vec<u8>, depth_m: Vec<f32>) {
        let mut view = View::new(&self.k);
        view.rgb = rgb;
        self.ahead = Some(Ahead {
            view,
            depth_m,
            pose,
        });
    }

    /// The model.
    pub fn model(&self) -> &'m WorldModel {
        self.model
    }

    /// The options the session runs with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// This session's id (random, kept in its session file).
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// The id of the session this one was forked from, if any.
    pub fn parent_id(&self) -> Option<u64> {
        self.parent_id
    }

    /// The last memory render: the one made ahead (with [`EngineOptions::memory_ahead`]) or
    /// the one made for the latest frame's pose inside its tick; none before the first, or
    /// without memory.
    fn last_memory_render(&self) -> Option<&View> {
        if !self.options.use_memory {
            None
        } else if self.options.memory_ahead {
            self.ahead.as_ref().map(|a| &a.view)
        } else {
            Some(&self.memory_view)
        }
    }

    /// Splats the last memory render drew (its cost), if there is one.
    pub fn memory_splats_drawn(&self) -> Option<usize> {
        self.last_memory_render().map(View::splats_drawn)
    }

    /// Pixels the splats of the last memory render reached (its rasterising work).
    pub fn memory_pixels_touched(&self) -> Option<usize> {
        self.last_memory_render().map(View::pixels_touched)
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

    /// One tick at full quality: ego-motion → warp → memory render → network → memory write.
    pub fn step(&mut self, action: &Action) -> Result<&Generated, RuntimeError> {
        self.advance(action, Quality::Full)?;
        self.commit()?;
        Ok(&self.last)
    }

    /// How the session moves the camera for the motion its head predicted: a vertical motion
    /// under [`EngineOptions::vertical_deadband_m`] is none, unless it comes down from a recent
    /// rise ([`EngineOptions::fall_window_ticks`]: then it passes, down to where the rise began);
    /// a walk on the ground plane under [`EngineOptions::horizontal_deadband_m`] is none; the
    /// rest as predicted.
    pub fn session_motion(&self, predicted: EgoMotion) -> EgoMotion {
        let mut motion = predicted;
        if motion.right_m.hypot(motion.forward_m) < self.options.horizontal_deadband_m {
            motion.right_m = 0.0;
            motion.forward_m = 0.0;
        }
        if self.fall_window() > 0 && self.lift.m > 0.0 && motion.up_m < 0.0 {
            motion.up_m = motion.up_m.max(-self.lift.m);
        } else if self.lift.in_air() && self.model.config().vertical_momentum {
            // A `vertical_momentum` head in the air: the top of the arc (a rise of a few
            // millimetres) is part of it, and the next tick reads it; banded to none, the
            // head would read the camera as standing at the top.
        } else if motion.up_m.abs() < self.options.vertical_deadband_m {
            motion.up_m = 0.0;
        }
        motion
    }

    /// The fall window in force: [`EngineOptions::fall_window_ticks`], none without a dead band.
    fn fall_window(&self) -> u32 {
        if self.options.vertical_deadband_m > 0.0 {
            self.options.fall_window_ticks
        } else {
            0
        }
    }

    /// The rise the session has not come down from yet ([`EngineOptions::fall_window_ticks`]).
    pub fn lift(&self) -> Lift {
        self.lift
    }

    /// What the model's ego-motion head reads for `action` at this tick (the session's state,
    /// the depth of the frame it shows, its ground probe): the inputs of the motion the next
    /// [`Engine::advance`] with `action` predicts (commits a pending frame first).
    pub fn motion_inputs(&mut self, action: &Action) -> Result<MotionInputs, RuntimeError> {
        let in_air = self.lift.airborne_motion(self.last.motion.up_m);
        self.motion_inputs_after(action, in_air)
    }

    /// [`Engine::motion_inputs`] as if the camera were in the air having moved `in_air` metres
    /// up last tick, or on the ground (`None`) (read by `vertical_momentum` heads only; a
    /// session's own is [`Lift::airborne_motion`] of its last motion). For tuning the head on
    /// a session with the vertical motion of its teacher.
    pub fn motion_inputs_after(
        &mut self,
        action: &Action,
        in_air: Option<f32>,
    ) -> Result<MotionInputs, RuntimeError> {
        self.commit()?;
        self.sync_probe()?;
        let cfg = self.model.config();
        let context = cfg.motion_context(&self.probe, &self.last.pose, action, in_air);
        Ok(self
            .model
            .motion_inputs_one(&self.state, action, &self.last.depth_m, &context)?)
    }

    /// The part of a tick up to the frame: ego-motion → warp → memory render → network (as the
    /// quality level allows). The frame is not stored in the memory until [`Engine::commit`]
    /// (which the next `advance` calls if nobody did), so a runtime can publish it first.
    pub fn advance(
        &mut self,
        action: &Action,
        quality: Quality,
    ) -> Result<&Generated, RuntimeError> {
        self.advance_within(action, quality, None)?;
        Ok(&self.last)
    }

    /// [`Engine::advance`] with a deadline for the frame: when the network is still running at
    /// `deadline.at`, a second thread hands the fallback frame (warp, else memory, else the
    /// previous frame, at the new pose) to `deadline.on_miss`, so a stalled step (a slow core,
    /// a preempted thread) costs the player a less refined frame instead of a late one. The
    /// network still finishes and its frame becomes [`Engine::frame`] (what the next tick warps
    /// and the memory stores). Returns whether the fallback was handed out (then the caller
    /// must not show [`Engine::frame`] for this tick; exactly one of the two is shown).
    pub fn advance_within(
        &mut self,
        action: &Action,
        quality: Quality,
        deadline: Option<FrameDeadline<'_>>,
    ) -> Result<bool, RuntimeError> {
        action.validate().map_err(RuntimeError::Input)?;
        self.commit()?;
        let mut times = StageTimes::default();
        let t = Instant::now();
        let inputs = self.motion_inputs(action)?;
        let motion = self.session_motion(self.model.motion_of(&inputs)?);
        self.lift = self.lift.after(motion.up_m, self.fall_window());
        let pose = motion.apply(&self.last.pose);
        times.motion_ms = ms(t);

        // The warp of the previous frame and the memory's guide are independent: side by side.
        let tick = self.last.tick + 1;
        let use_memory = self.options.use_memory && quality.uses_memory(tick);
        let Engine {
            k,
            last,
            ahead,
            memory,
            options,
            warp_view,
            memory_view,
            ..
        } = self;
        let (k, memory, last) = (&*k, &*memory, &*last);
        let ahead = ahead.as_ref();
        let splatting = options.memory.splatting();
        let memory_stage = move || -> Result<f64, RuntimeError> {
            let t = Instant::now();
            if use_memory {
                match ahead {
                    Some(a) => warp(
                        k,
                        &a.view.rgb,
                        &a.depth_m,
                        &a.pose,
                        &pose,
                        splatting,
                        memory_view,
                    )?,
                    None => memory.render(&pose, k, memory_view),
                }
            } else {
                memory_view.reset(k);
            }
            Ok(ms(t))
        };
        let (warped, memory_ms) = std::thread::scope(|scope| {
            let side = scope.spawn(memory_stage);
            let t = Instant::now();
            let warped = warp(
                k,
                &last.rgb,
                &last.depth_m,
                &last.pose,
                &pose,
                splatting,
                warp_view,
            )
            .map(|()| ms(t));
            let memory_ms = side
                .join()
                .unwrap_or_else(|_| Err(RuntimeError::Input("the memory stage panicked".into())));
            (warped, memory_ms)
        });
        times.warp_ms = warped?;
        times.memory_render_ms = memory_ms?;

        let t = Instant::now();
        let mut rescued = false;
        let info = TickInfo {
            pose,
            motion,
            tick,
            quality,
            use_memory,
        };
        let network = self.options.refine == Refine::Network && quality.runs_network(tick);
        let (rgb, depth_m) = if network {
            let cfg = self.model.config();
            let wg = Guide {
                rgb: &self.warp_view.rgb,
                depth_m: Some(&self.warp_view.depth_m),
                confidence: Some(&self.warp_view.confidence),
            };
            let mg = if use_memory {
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
            let (model, state, slow) = (self.model, &mut self.state, self.options.slow_network);
            let (temperature, depth_temperature) = (
                self.options.source_temperature,
                self.options.depth_temperature,
            );
            let mut run = move || -> Result<(Vec<u8>, Vec<f32>), RuntimeError> {
                let out = model
                    .generate_tempered(state, &a, &g, temperature, depth_temperature)?
                    .frame(0)?;
                if !slow.is_zero() {
                    std::thread::sleep(slow);
                }
                Ok(out)
            };
            match &deadline {
                None => run()?,
                Some(d) => {
                    let fallback = || {
                        let (rgb, depth_m) =
                            fill_from_views(&self.last, &self.warp_view, &self.memory_view);
                        let mut times = times;
                        times.network_ms = ms(t);
                        info.frame(
                            rgb,
                            depth_m,
                            &self.warp_view,
                            &self.memory_view,
                            times,
                            true,
                        )
                    };
                    let (out, missed) = run_with_deadline(run, d, fallback);
                    rescued = missed;
                    out?
                }
            }
        } else {
            let (rgb, depth) = fill_from_views(&self.last, &self.warp_view, &self.memory_view);
            if self.options.refine == Refine::WarpAndMemoryOnly {
                // The baseline: the state still follows the frames, so ego-motion keeps its
                // context. (A tick that reuses the warp holds the state: that makes it cheap.)
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
            }
            (rgb, depth)
        };
        let depth_m = if network && self.options.depth_median_radius > 0 {
            median_depth(
                &depth_m,
                self.k.width as usize,
                self.k.height as usize,
                self.options.depth_median_radius as usize,
            )
        } else {
            depth_m
        };
        times.network_ms = ms(t);
        // Nothing back-propagates through a session: cut the state off from the autograd graph.
        // (A model of trainable variables — a training run's, a test's — otherwise links every
        // tick's ops to the last, and dropping that chain at the session's end recurses once per
        // op: a stack overflow after a few hundred ticks.)
        self.state = self.state.detach();

        self.pending_write = use_memory && quality.writes_memory(tick);
        self.last = info.frame(
            rgb,
            depth_m,
            &self.warp_view,
            &self.memory_view,
            times,
            false,
        );
        Ok(rescued)
    }

    /// The two guides the latest frame was generated from: the previous frame warped into its
    /// pose, and the memory's render there (empty with the memory off). For diagnostics.
    pub fn guides(&self) -> (&View, &View) {
        (&self.warp_view, &self.memory_view)
    }

    /// Whether the latest frame still waits for [`Engine::commit`] to store it.
    pub fn commit_pending(&self) -> bool {
        self.pending_write
    }

    /// Leaves the latest frame out of the memory (a runtime short of time: the next frame
    /// overlaps it almost entirely). The next tick warps the last memory render made ahead,
    /// one pose older.
    pub fn skip_commit(&mut self) {
        self.pending_write = false;
    }

    /// Stores the latest frame in the memory (carve, then write), if [`Engine::advance`] left it
    /// to do; its time goes into the frame's `memory_write_ms`. Does nothing otherwise.
    pub fn commit(&mut self) -> Result<(), RuntimeError> {
        if !self.pending_write {
            return Ok(());
        }
        self.pending_write = false;
        let carve_view = if self.options.memory_ahead {
            // Render at the new frame's pose now (off the path to the frame): the carve below
            // needs it, and the next tick warps it into its own pose.
            let t = Instant::now();
            let mut a = self.ahead.take().unwrap_or_else(|| Ahead {
                view: View::new(&self.k),
                depth_m: Vec::new(),
                pose: self.last.pose,
            });
            self.memory.render(&self.last.pose, &self.k, &mut a.view);
            a.pose = self.last.pose;
            a.depth_m.clear();
            a.depth_m.extend(
                a.view
                    .depth_m
                    .iter()
                    .zip(&a.view.confidence)
                    .map(|(&z, &c)| if c > 0.0 { z } else { f32::NAN }),
            );
            self.last.times.memory_ahead_ms = ms(t);
            &self.ahead.insert(a).view
        } else {
            &self.memory_view
        };
        let t = Instant::now();
        self.memory.carve(carve_view, &self.last.depth_m);
        self.memory.write_new(
            &self.k,
            &self.last.rgb,
            &self.last.depth_m,
            &self.last.pose,
            self.last.tick,
            carve_view,
        )?;
        self.last.times.memory_write_ms = ms(t);
        Ok(())
    }
}

/// What a tick knows before its frame exists.
#[derive(Clone, Copy)]
struct TickInfo {
    pose: Pose,
    motion: EgoMotion,
    tick: u64,
    quality: Quality,
    use_memory: bool,
}

impl TickInfo {
    /// The tick's frame from its pixels and the guides it was made from.
    fn frame(
        &self,
        rgb: Vec<u8>,
        depth_m: Vec<f32>,
        warp_view: &View,
        memory_view: &View,
        times: StageTimes,
        rescued: bool,
    ) -> Generated {
        Generated {
            rgb,
            depth_m,
            pose: self.pose,
            motion: self.motion,
            tick: self.tick,
            warp_coverage: warp_view.coverage(),
            memory_coverage: if self.use_memory {
                memory_view.coverage()
            } else {
                0.0
            },
            times,
            quality: self.quality,
            rescued,
        }
    }
}

/// Runs `work` on this thread while a watcher waits for `deadline.at`: if `work` is still
/// running then, the watcher hands `fallback()` to `deadline.on_miss`. Exactly one side claims
/// the tick (an atomic swap), so a frame finishing at the deadline is shown once. Returns the
/// work's result and whether the fallback was handed out.
fn run_with_deadline<R>(
    work: impl FnOnce() -> R,
    deadline: &FrameDeadline<'_>,
    fallback: impl Fn() -> Generated + Sync,
) -> (R, bool) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let claimed = AtomicBool::new(false);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            if let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                done_rx.recv_deadline(deadline.at)
                && !claimed.swap(true, Ordering::AcqRel)
            {
                (deadline.on_miss)(&fallback());
            }
        });
        let out = work();
        let _ = done_tx.send(());
        let missed = claimed.swap(true, Ordering::AcqRel);
        (out, missed)
    })
}

/// The warp where it has a pixel, else the memory render, else the previous frame's pixel.
fn fill_from_views(last: &Generated, warp_view: &View, memory_view: &View) -> (Vec<u8>, Vec<f32>) {
    let mut rgb = last.rgb.clone();
    let mut depth = last.depth_m.clone();
    for i in 0..depth.len() {
        let src = if warp_view.covered(i) {
            Some(warp_view)
        } else if memory_view.covered(i) {
            Some(memory_view)
        } else {
            None
        };
        if let Some(v) = src {
            rgb[3 * i..3 * i + 3].copy_from_slice(&v.rgb[3 * i..3 * i + 3]);
            depth[i] = v.depth_m[i];
        }
    }
    (rgb, depth)
}
