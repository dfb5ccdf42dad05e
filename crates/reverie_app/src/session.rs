//! The session: the model, the runtime thread ([`RuntimeHandle`]) and what it publishes.
//! Keys: R resets to the current world's start, F5 saves the session, F6 loads it, F7 saves a fork.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bevy::prelude::*;
use reverie_core::Intrinsics;
use reverie_model::checkpoint;
use reverie_runtime::metrics::LastSecond;
use reverie_runtime::{EngineOptions, FrameOut, RuntimeConfig, RuntimeHandle};

use crate::args::Args;
use crate::input::InputSource;
use crate::worlds::{self, WorldEntry};

/// The running session and what the display knows of it.
#[derive(Resource)]
pub struct Session {
    /// The runtime thread.
    pub handle: RuntimeHandle,
    /// The camera of the generated frames.
    pub k: Intrinsics,
    /// The world the session started in.
    pub world: WorldEntry,
    /// Every world the picker offers (the current one first).
    pub worlds: Vec<WorldEntry>,
    /// The newest frame.
    pub latest: Option<Arc<FrameOut>>,
    /// A frame the display clock waited for, to show in the next update.
    pub arrived: Option<Arc<FrameOut>>,
    /// A frame arrived in this update.
    pub new_frame: bool,
    /// Distinct generated frames put on screen, and when the first was.
    pub displayed: u64,
    /// When the display started counting.
    pub display_started: Instant,
    /// When recent frames reached the screen (for frames/s on screen over the last second).
    pub recent: LastSecond,
    /// The path walked (x, z per frame), for the minimap.
    pub trail: Vec<[f32; 2]>,
    /// A status line for the overlay, and until when to show it.
    pub message: Option<(String, Instant)>,
    /// The model keeps the camera's height (`--keep-height`, or its `model.json`): jump does
    /// nothing.
    pub keeps_height: bool,
}

impl Session {
    /// Loads the model and the world and starts the runtime; errors say what to fix.
    pub fn start(args: &Args) -> Result<Session> {
        let mut model = checkpoint::load_cpu(&args.checkpoint).with_context(|| {
            format!(
                "loading the model checkpoint {} (train one with `bash scripts/train-default.sh`, or pass --checkpoint DIR)",
                args.checkpoint.display()
            )
        })?;
        if args.keep_height {
            model
                .set_vertical_motion(false)
                .context("--keep-height needs a kinematic-motion checkpoint")?;
        }
        let cfg = model.config();
        let keeps_height = !cfg.vertical_motion;
        let k = Intrinsics::from_vfov_deg(cfg.width as u32, cfg.height as u32, 70.0)?;
        let world = WorldEntry::load(&args.world, args.seed, &k)
            .with_context(|| format!("loading the world {}", args.world.display()))?;
        let handle = RuntimeHandle::start(
            Arc::new(model),
            k,
            world.prompt.clone(),
            EngineOptions {
                source_temperature: args.source_temperature,
                ..EngineOptions::default()
            },
            RuntimeConfig {
                start_paused: true,
                frame_deadline_ms: (args.frame_deadline_ms > 0.0).then_some(args.frame_deadline_ms),
                ..RuntimeConfig::default()
            },
        )?;
        let mut session = Session {
            handle,
            k,
            worlds: Vec::new(),
            world: world.clone(),
            latest: None,
            arrived: None,
            new_frame: false,
            displayed: 0,
            display_started: Instant::now(),
            recent: LastSecond::default(),
            trail: Vec::new(),
            message: None,
            keeps_height,
        };
        if let Some(path) = &args.session {
            session
                .handle
                .load(path)
                .with_context(|| format!("loading the session {}", path.display()))?;
        }
        let mut all = vec![world];
        all.extend(worlds::siblings(&args.world, args.seed, &k));
        session.worlds = all;
        Ok(session)
    }

    /// The starting world's name.
    pub fn world_name(&self) -> &str {
        &self.world.name
    }

    /// Shows a status line for a few seconds (and logs it).
    pub fn notify(&mut self, text: impl Into<String>) {
        let text = text.into();
        info!("{text}");
        self.message = Some((text, Instant::now() + Duration::from_secs(4)));
    }

    /// Starts over at `world`'s spawn view.
    pub fn reset_to(&mut self, index: usize) {
        let Some(w) = self.worlds.get(index).cloned() else {
            return;
        };
        match self.handle.reset(w.prompt.clone()) {
            Ok(()) => {
                self.trail.clear();
                self.notify(format!("new session in {}", w.name));
                self.world = w;
            }
            Err(e) => self.notify(format!("reset failed: {e}")),
        }
    }

    /// Generated frames on screen per second over the last second.
    pub fn screen_fps(&self) -> usize {
        self.recent.count()
    }

    fn save(&mut self, path: &Path, fork: bool) {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            self.notify(format!("cannot create {}: {e}", dir.display()));
            return;
        }
        let r = if fork {
            self.handle.fork(path)
        } else {
            self.handle.save(path)
        };
        match r {
            Ok(()) => self.notify(format!(
                "{} saved to {}",
                if fork { "fork" } else { "session" },
                path.display()
            )),
            Err(e) => self.notify(format!("save failed: {e}")),
        }
    }
}

/// Pulls frames and serves the session keys.
pub struct SessionPlugin;

impl Plugin for SessionPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(PreUpdate, pull_frames)
            .add_systems(Update, (start_clock, session_keys));
    }
}

/// Starts the runtime's clock on the first update, once the window is up (so tick 0 is the first
/// thing on screen and a script's first action meets the first tick).
fn start_clock(mut started: Local<bool>, session: Res<Session>, mut source: ResMut<InputSource>) {
    if *started {
        return;
    }
    *started = true;
    session.handle.resume();
    if let InputSource::Script { started, .. } = source.as_mut() {
        *started = Instant::now();
    }
}

fn pull_frames(mut session: ResMut<Session>) {
    session.new_frame = false;
    if let Some(f) = session.handle.failure() {
        if session
            .message
            .as_ref()
            .is_none_or(|(m, _)| !m.starts_with("the runtime stopped"))
        {
            session.notify(format!("the runtime stopped: {f}"));
        }
        return;
    }
    let Some(frame) = session.handle.latest().or_else(|| session.arrived.take()) else {
        return;
    };
    session.arrived = None;
    let now = Instant::now();
    if session.displayed == 0 {
        session.display_started = now;
    }
    session.displayed += 1;
    session.recent.push(now);
    let p = frame.pose.position;
    if frame.tick == 0 {
        session.trail.clear();
    }
    session.trail.push([p.x, p.z]);
    session.latest = Some(frame);
    session.new_frame = true;
}

fn session_keys(keys: Res<ButtonInput<KeyCode>>, args: Res<Args>, mut session: ResMut<Session>) {
    if keys.just_pressed(KeyCode::KeyR) {
        let i = session
            .worlds
            .iter()
            .position(|w| w.path == session.world.path)
            .unwrap_or(0);
        session.reset_to(i);
    }
    if keys.just_pressed(KeyCode::F5) {
        session.save(&args.session_file, false);
    }
    if keys.just_pressed(KeyCode::F7) {
        let mut name = args.session_file.as_os_str().to_owned();
        name.push(".fork");
        session.save(Path::new(&name), true);
    }
    if keys.just_pressed(KeyCode::F6) {
        match session.handle.load(&args.session_file) {
            Ok(()) => {
                session.trail.clear();
                let text = format!("session loaded from {}", args.session_file.display());
                session.notify(text);
            }
            Err(e) => session.notify(format!("load failed (nothing changed): {e}")),
        }
    }
}
