//! One display clock, following the model: after each update the window waits for the next
//! generated frame (at most 1/20 s, so the interface stays live while the model is paused) and
//! updates when it arrives, never faster than `--display-hz` — one window render per generated
//! frame, and sleeping instead of spinning in between: software rendering shares the CPU with
//! the model. Also the automation flags: screenshots of
//! the window at given ticks, exit after a time, and a JSON report of what reached the screen.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use serde_json::json;

use crate::args::Args;
use crate::session::Session;

#[derive(Resource, Debug)]
struct Pace {
    period: Duration,
    next: Instant,
    started: Instant,
    shots: Vec<(u64, PathBuf)>,
    pending: usize,
    exit_at: Option<Instant>,
    exiting: Option<Instant>,
    /// Window updates (each one a render of the window) so far.
    updates: u64,
}

/// The display clock and automation.
pub struct PacerPlugin;

impl Plugin for PacerPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, setup_pace)
            .add_systems(Update, (shots, exit_when_done))
            .add_systems(Last, pace);
    }
}

fn setup_pace(mut commands: Commands, args: Res<Args>) {
    let hz = if args.display_hz.is_finite() {
        args.display_hz.clamp(1.0, 240.0)
    } else {
        48.0
    };
    let mut ticks = args.screenshot_at_tick.clone();
    ticks.sort_unstable();
    let shots = match &args.screenshot {
        Some(p) => ticks
            .iter()
            .map(|t| {
                let name = p.to_string_lossy().replace("{tick}", &t.to_string());
                (*t, PathBuf::from(name))
            })
            .collect(),
        None => Vec::new(),
    };
    let now = Instant::now();
    commands.insert_resource(Pace {
        period: Duration::from_secs_f64(1.0 / hz),
        next: now,
        started: now,
        shots,
        pending: 0,
        exit_at: args
            .exit_after_secs
            .map(|s| now + Duration::from_secs_f64(s.clamp(0.0, 1e6))),
        exiting: None,
        updates: 0,
    });
}

#[derive(Resource, Default)]
struct Saved(usize);

fn shots(mut commands: Commands, mut pace: ResMut<Pace>, session: Res<Session>) {
    let Some(f) = &session.latest else {
        return;
    };
    while let Some((tick, _)) = pace.shots.first() {
        if f.tick < *tick {
            break;
        }
        let (_, path) = pace.shots.remove(0);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        info!("screenshot of tick {} → {}", f.tick, path.display());
        pace.pending += 1;
        let mut save = save_to_disk(path);
        commands.init_resource::<Saved>();
        commands.spawn(Screenshot::primary_window()).observe(
            move |ev: On<ScreenshotCaptured>, mut saved: ResMut<Saved>| {
                save(ev);
                saved.0 += 1;
            },
        );
    }
}

fn exit_when_done(
    mut pace: ResMut<Pace>,
    saved: Option<Res<Saved>>,
    session: Res<Session>,
    args: Res<Args>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(at) = pace.exit_at else {
        return;
    };
    let now = Instant::now();
    if now < at {
        return;
    }
    let exiting = *pace.exiting.get_or_insert(now);
    let done = saved.map_or(0, |s| s.0) >= pace.pending;
    // Wait for pending screenshots (at most 10 s more).
    if !done && now.duration_since(exiting) < Duration::from_secs(10) {
        return;
    }
    if let Some(path) = &args.report {
        let secs = now.duration_since(session.display_started).as_secs_f64();
        let report = json!({
            "seconds_on_screen": secs,
            "generated_frames_on_screen": session.displayed,
            "generated_frames_per_second_on_screen": if secs > 0.0 { session.displayed as f64 / secs } else { 0.0 },
            "app_seconds": now.duration_since(pace.started).as_secs_f64(),
            "display_hz": 1.0 / pace.period.as_secs_f64(),
            "window_updates_per_second": pace.updates as f64 / now.duration_since(pace.started).as_secs_f64().max(1e-9),
            "last_tick": session.latest.as_ref().map(|f| f.tick),
            "runtime": session.handle.metrics(),
            "screenshots_saved": pace.pending,
        });
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                if let Err(e) = std::fs::write(path, text) {
                    error!("cannot write the report {}: {e}", path.display());
                }
            }
            Err(e) => error!("report: {e}"),
        }
    }
    exit.write(AppExit::Success);
}

/// Longest wait for a generated frame before the window updates anyway.
const MAX_WAIT: Duration = Duration::from_millis(50);

fn pace(mut pace: ResMut<Pace>, mut session: ResMut<Session>) {
    let now = Instant::now();
    pace.updates += 1;
    let period = pace.period;
    // The earliest next update (the --display-hz cap)...
    pace.next += period;
    if now.duration_since(pace.next) > period * 4 {
        // Far behind (a stall): do not try to catch up.
        pace.next = now;
    }
    // ... and until then, or a little longer, the next generated frame.
    if session.arrived.is_none() {
        session.arrived = session.handle.wait_frame(MAX_WAIT);
    }
    let now = Instant::now();
    if pace.next > now {
        std::thread::sleep(pace.next - now);
    }
}
