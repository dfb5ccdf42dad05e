//! Command-line flags of `reverie-app`.

use std::path::PathBuf;

use bevy::prelude::Resource;
use clap::Parser;

/// The playable Reverie window.
#[derive(Parser, Clone, Debug, Resource)]
#[command(name = "reverie-app", version, about)]
pub struct Args {
    /// World to start in (a world spec; the picker in the overlay lists the others in its folder).
    #[arg(long, default_value = "worlds/meadow.toml")]
    pub world: PathBuf,
    /// World seed of the starting place (its spawn view is the prompt).
    #[arg(long, default_value_t = 1_000_001)]
    pub seed: u64,
    /// Checkpoint directory (model.safetensors + model.json).
    #[arg(long, default_value = "assets/models/default")]
    pub checkpoint: PathBuf,
    /// Start from a saved session file instead of the world's spawn view.
    #[arg(long)]
    pub session: Option<PathBuf>,
    /// Where F5 saves the session (F6 loads it back).
    #[arg(long, default_value = "target/reverie/session.rvsession")]
    pub session_file: PathBuf,
    /// Where captures (F12 PNG, F9 clips) go.
    #[arg(long, default_value = "target/reverie/captures")]
    pub captures: PathBuf,
    /// Play an action script (JSONL, one action per tick) instead of live input.
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Save a screenshot of the window (PNG) when the frame of this tick is on screen…
    #[arg(long, requires = "screenshot")]
    pub screenshot_at_tick: Vec<u64>,
    /// …to this path; with several ticks, `{tick}` in the name is replaced by the tick.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Quit after this many seconds.
    #[arg(long)]
    pub exit_after_secs: Option<f64>,
    /// On exit, write what was measured (frames on screen per second, runtime metrics) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Display refresh rate the window is paced to (it renders faster than the 24 Hz model).
    #[arg(long, default_value_t = 48.0)]
    pub display_hz: f64,
    /// Window size.
    #[arg(long, default_value_t = 960)]
    pub window_width: u32,
    /// Window size.
    #[arg(long, default_value_t = 720)]
    pub window_height: u32,
    /// No sound.
    #[arg(long)]
    pub mute: bool,
    /// Open with the overlay hidden (Tab toggles it).
    #[arg(long)]
    pub no_overlay: bool,
    /// Open with the oracle debug view on (it never feeds the model).
    #[arg(long)]
    pub oracle_view: bool,
    /// Milliseconds after a tick's slot starts by which its frame must be out: when the network
    /// is still running then, the warp + memory fallback is shown instead (0 = always wait).
    #[arg(long, default_value_t = reverie_runtime::DEFAULT_FRAME_DEADLINE_MS, value_parser = reverie_runtime::parse_frame_deadline_ms)]
    pub frame_deadline_ms: f64,
    /// How firmly each generated pixel copies the source the network prefers (the previous
    /// frame warped, the memory, or its own colour): 1 = mixed as trained, lower = sharper.
    #[arg(long, default_value_t = reverie_runtime::EngineOptions::default().source_temperature, value_parser = reverie_runtime::parse_source_temperature)]
    pub source_temperature: f32,
    /// Keep the camera's height: the model's vertical motion off (no steps, falls or jumps —
    /// and no falling through a generated world).
    #[arg(long)]
    pub keep_height: bool,
}
