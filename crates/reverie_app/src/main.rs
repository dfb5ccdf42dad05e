//! `reverie-app`: the playable window. A generated world that answers keyboard, mouse and gamepad
//! 24 times a second, with an overlay of honest numbers, procedural sound and capture.
//!
//! One Bevy plugin per concern: [`session`] (the runtime thread and the frames it publishes),
//! [`input`] (keys, mouse look, gamepad, or a scripted action file → `Action`s), [`display`] (the
//! frame as an aspect-correct texture, smooth or pixelated), [`overlay`] (egui: numbers, minimap,
//! world picker, reset, the labelled oracle debug view), [`audio`] (rodio: footsteps paced by the
//! predicted motion, an ambient bed per world), [`capture`] (F12 PNG, F9 GIF/MP4 clip) and
//! [`pacer`] (one display clock, the automation flags used by tests).

#![allow(clippy::print_stderr, clippy::print_stdout)]
// Bevy system parameters (queries with filters) are long types by nature.
#![allow(clippy::type_complexity)]

use std::process::ExitCode;

use bevy::prelude::*;
use bevy::window::{PresentMode, WindowResolution};
use bevy_egui::EguiPlugin;
use clap::Parser;

mod args;
mod audio;
mod capture;
mod display;
mod input;
mod oracle;
mod overlay;
mod pacer;
mod session;
mod worlds;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The network runs fastest on one thread at batch 1, and the other core is the window's
    // (software rendering) — see `reverie_model::threads`.
    // SAFETY: the first statement of `main`; no other thread exists yet.
    #[allow(unsafe_code)]
    unsafe {
        reverie_model::threads::set_cpu_threads(reverie_model::threads::INTERACTIVE_THREADS);
    }
    let args = match args::Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // Everything that can fail for a reason the user can fix happens before the window opens,
    // and ends here with that reason.
    #[cfg(target_os = "linux")]
    let unset = |v: &str| std::env::var_os(v).is_none_or(|x| x.is_empty());
    if unset("DISPLAY") && unset("WAYLAND_DISPLAY") {
        eprintln!(
            "reverie-app: cannot start: no display (neither DISPLAY nor WAYLAND_DISPLAY is set). \
             On a headless machine run it under Xvfb: `xvfb-run -a reverie-app …` (`make run` does)."
        );
        return ExitCode::FAILURE;
    }
    #[cfg(target_os = "linux")]
    if let Some(d) = std::env::var("DISPLAY").ok().filter(|d| d.starts_with(':'))
        && unset("WAYLAND_DISPLAY")
    {
        // A local X display is a socket; without it winit would panic deep inside Bevy.
        let n = d[1..].split('.').next().unwrap_or("");
        let socket = std::path::PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        if !socket.exists() {
            eprintln!(
                "reverie-app: cannot start: DISPLAY={d} but there is no X server at {} \
                 (start one, or run under `xvfb-run -a`)",
                socket.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let session = match session::Session::start(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reverie-app: cannot start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let title = format!("Reverie — {}", session.world_name());
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title,
                    resolution: WindowResolution::new(args.window_width, args.window_height),
                    present_mode: PresentMode::AutoNoVsync,
                    ..default()
                }),
                ..default()
            })
            .set(ImagePlugin::default_nearest()),
    )
    .add_plugins(EguiPlugin::default())
    .insert_resource(args.clone())
    .insert_resource(session)
    .add_plugins((
        session::SessionPlugin,
        input::InputPlugin,
        display::DisplayPlugin,
        overlay::OverlayPlugin,
        audio::AudioPlugin,
        capture::CapturePlugin,
        oracle::OraclePlugin,
        pacer::PacerPlugin,
    ));
    match app.run() {
        AppExit::Success => ExitCode::SUCCESS,
        AppExit::Error(code) => ExitCode::from(code.get()),
    }
}
