//! [`RuntimeHandle`]: an [`Engine`] on its own thread, paced by one 24 Hz clock.
//!
//! - Actions go in through a bounded channel and are never lost: everything that arrived since
//!   the last tick is coalesced into the next one (keys held at any point are held, look deltas
//!   add up; a delta beyond ±180° per tick carries over to the next tick).
//! - Frames come out latest-wins: a one-slot channel the worker overwrites.
//! - Tick `k` starts at `t0 + k·period` and its frame is due one period later; a frame after its
//!   due time is **late**; a slot that passes while the previous tick still runs is **dropped**.
//! - Deadline-aware quality: the [`QualityController`] degrades a level when ticks keep running
//!   near or over the period and restores after two calm seconds ([`Quality`] lists the order).
//! - The frame is published before the memory stores it, so the memory write is not on the
//!   input-to-frame path.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError, bounded};
use reverie_core::{Action, EgoMotion, Intrinsics, Keys, Pose};
use reverie_memory::MemoryStats;
use reverie_model::WorldModel;

use crate::engine::{
    Engine, EngineOptions, FrameDeadline, Generated, Prompt, RuntimeError, StageTimes,
};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::quality::{Quality, QualityController};
use crate::trace::Trace;

/// The default frame deadline: 20 ms after the slot starts (about half of a 24 Hz period).
pub const DEFAULT_FRAME_DEADLINE_MS: f64 = 20.0;

/// Reads a frame deadline given by a user (a command-line flag), in milliseconds after the slot
/// starts: `0` turns it off (always wait for the network), otherwise 1 ..= 1000.
pub fn parse_frame_deadline_ms(s: &str) -> Result<f64, String> {
    let ms: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("frame deadline {s:?} is not a number of milliseconds"))?;
    if ms == 0.0 || (ms.is_finite() && (1.0..=1000.0).contains(&ms)) {
        Ok(ms)
    } else {
        Err(format!(
            "frame deadline {ms} ms is out of range: 0 (off) or 1 ..= 1000"
        ))
    }
}

/// How a [`RuntimeHandle`] runs.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Ticks per second (24).
    pub tick_hz: f64,
    /// Pace ticks by the wall clock (the product). `false` = fast-forward: each tick starts when
    /// the previous one ends (for long soak runs); late/dropped then mean "over the period".
    pub realtime: bool,
    /// The cheapest quality level allowed ([`Quality::Full`] = never degrade).
    pub quality_floor: Quality,
    /// Write a Chrome trace of every tick here when the runtime stops.
    pub trace: Option<PathBuf>,
    /// Capacity of the action channel (a full channel makes `send` wait, it never drops).
    pub action_capacity: usize,
    /// Memory stats and the minimap are refreshed every this many ticks.
    pub memory_info_every: u64,
    /// Publish the prompt's frame, then wait for [`RuntimeHandle::resume`] before the clock starts
    /// (an app opens its window first).
    pub start_paused: bool,
    /// Realtime only: a frame whose network is still running this many milliseconds after its
    /// slot began is replaced by the fallback (warp, else memory, else the previous frame; see
    /// [`crate::FrameDeadline`]) so that a stalled step shows a less refined frame on time
    /// instead of a late one. `None` = always wait for the network.
    pub frame_deadline_ms: Option<f64>,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            tick_hz: 24.0,
            realtime: true,
            quality_floor: Quality::ReuseWarp,
            trace: None,
            action_capacity: 1024,
            memory_info_every: 24,
            start_paused: false,
            frame_deadline_ms: Some(DEFAULT_FRAME_DEADLINE_MS),
        }
    }
}

/// One input message: an action and when it was submitted.
#[derive(Clone, Copy, Debug)]
struct Input {
    action: Action,
    sent: Instant,
}

/// A published frame.
#[derive(Clone, Debug)]
pub struct FrameOut {
    /// RGB, row-major, `width × height`.
    pub rgb: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pose the model moved to.
    pub pose: Pose,
    /// The motion it predicted.
    pub motion: EgoMotion,
    /// Tick number (0 = the prompt).
    pub tick: u64,
    /// The quality level it was made at.
    pub quality: Quality,
    /// Stage times (the memory write of this frame happens after publication: 0 here).
    pub times: StageTimes,
    /// Shares of the frame the warp and the memory covered.
    pub warp_coverage: f64,
    /// See `warp_coverage`.
    pub memory_coverage: f64,
    /// The coalesced action this tick used.
    pub action: Action,
    /// How many submitted actions it coalesced.
    pub actions_used: u32,
    /// When it was published.
    pub published: Instant,
    /// The session's id.
    pub session_id: u64,
    /// The network missed this frame's deadline: this is the fallback (warp, else memory, else
    /// the previous frame) shown in its place.
    pub rescued: bool,
}

/// What the memory holds, for overlays and minimaps (refreshed every
/// [`RuntimeConfig::memory_info_every`] ticks).
#[derive(Clone, Debug, Default)]
pub struct MemoryInfo {
    /// The memory's counters and sizes.
    pub stats: MemoryStats,
    /// Horizontal (x, z) chunk coordinates the memory holds, and the chunk edge in metres.
    pub columns: Vec<[i32; 2]>,
    /// Chunk edge in metres.
    pub chunk_m: f32,
}

enum Control {
    Reset(Box<Prompt>, Sender<Result<(), String>>),
    Save(PathBuf, Sender<Result<(), String>>),
    Load(PathBuf, Sender<Result<(), String>>),
    Fork(PathBuf, Sender<Result<(), String>>),
    Resume,
    Stop,
}

struct Shared {
    metrics: Mutex<Metrics>,
    memory: Mutex<MemoryInfo>,
    failure: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The engine on its own thread. Dropping the handle stops the thread.
#[derive(Debug)]
pub struct RuntimeHandle {
    actions: Sender<Input>,
    frames: Receiver<Arc<FrameOut>>,
    control: Sender<Control>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    k: Intrinsics,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl RuntimeHandle {
    /// Starts a session from `prompt` on a new thread; returns once its first frame (the prompt's
    /// reading, tick 0) is published, or with the error that prevented it.
    pub fn start(
        model: Arc<WorldModel>,
        k: Intrinsics,
        prompt: Prompt,
        options: EngineOptions,
        config: RuntimeConfig,
    ) -> Result<RuntimeHandle, RuntimeError> {
        if !(config.tick_hz.is_finite() && (1.0..=240.0).contains(&config.tick_hz)) {
            return Err(RuntimeError::Input(format!(
                "tick_hz {} is out of range, expected 1 ..= 240",
                config.tick_hz
            )));
        }
        let (actions_tx, actions_rx) = bounded(config.action_capacity.max(1));
        let (frames_tx, frames_rx) = bounded(1);
        let (control_tx, control_rx) = bounded(16);
        let (ready_tx, ready_rx) = bounded(1);
        let shared = Arc::new(Shared {
            metrics: Mutex::new(Metrics::new()),
            memory: Mutex::new(MemoryInfo::default()),
            failure: Mutex::new(None),
        });
        let worker = Worker {
            actions: actions_rx,
            frames: frames_tx,
            frames_evict: frames_rx.clone(),
            control: control_rx,
            shared: Arc::clone(&shared),
            config,
        };
        let thread = std::thread::Builder::new()
            .name("reverie-runtime".into())
            .spawn(move || worker.run(&model, k, &prompt, options, &ready_tx))
            .map_err(|e| RuntimeError::Input(format!("cannot start the runtime thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(RuntimeHandle {
                actions: actions_tx,
                frames: frames_rx,
                control: control_tx,
                shared,
                thread: Some(thread),
                k,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(RuntimeError::Input(
                    "the runtime thread stopped before its first frame".into(),
                ))
            }
        }
    }

    /// The camera of the frames.
    pub fn intrinsics(&self) -> &Intrinsics {
        &self.k
    }

    /// Submits an action for the next tick. Never drops it: when the channel is full (the
    /// runtime is far behind) this waits for room.
    pub fn send(&self, action: Action) -> Result<(), RuntimeError> {
        action.validate().map_err(RuntimeError::Input)?;
        let input = Input {
            action,
            sent: Instant::now(),
        };
        match self.actions.try_send(input) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(input)) => {
                self.actions.send(input).map_err(|_| self.stopped_error())
            }
            Err(TrySendError::Disconnected(_)) => Err(self.stopped_error()),
        }
    }

    /// The newest frame published since the last call, if any.
    pub fn latest(&self) -> Option<Arc<FrameOut>> {
        let mut last = None;
        loop {
            match self.frames.try_recv() {
                Ok(f) => last = Some(f),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return last,
            }
        }
    }

    /// Waits up to `timeout` for the next frame.
    pub fn wait_frame(&self, timeout: Duration) -> Option<Arc<FrameOut>> {
        self.frames.recv_timeout(timeout).ok()
    }

    /// What was measured so far.
    pub fn metrics(&self) -> MetricsSnapshot {
        lock(&self.shared.metrics).snapshot()
    }

    /// The memory's stats and map (refreshed every second by default).
    pub fn memory_info(&self) -> MemoryInfo {
        lock(&self.shared.memory).clone()
    }

    /// Why the runtime thread stopped, if it failed.
    pub fn failure(&self) -> Option<String> {
        lock(&self.shared.failure).clone()
    }

    fn stopped_error(&self) -> RuntimeError {
        RuntimeError::Input(
            self.failure()
                .unwrap_or_else(|| "the runtime has stopped".into()),
        )
    }

    fn request(
        &self,
        make: impl FnOnce(Sender<Result<(), String>>) -> Control,
    ) -> Result<(), RuntimeError> {
        let (tx, rx) = bounded(1);
        self.control
            .send(make(tx))
            .map_err(|_| self.stopped_error())?;
        rx.recv()
            .map_err(|_| self.stopped_error())?
            .map_err(RuntimeError::Input)
    }

    /// Starts a new session from `prompt` (the memory is cleared).
    pub fn reset(&self, prompt: Prompt) -> Result<(), RuntimeError> {
        self.request(|tx| Control::Reset(Box::new(prompt), tx))
    }

    /// Saves the session to a session file.
    pub fn save(&self, path: &Path) -> Result<(), RuntimeError> {
        self.request(|tx| Control::Save(path.to_path_buf(), tx))
    }

    /// Replaces the session by the one in a session file. A bad file changes nothing.
    pub fn load(&self, path: &Path) -> Result<(), RuntimeError> {
        self.request(|tx| Control::Load(path.to_path_buf(), tx))
    }

    /// Saves a fork of the session (a new id whose parent is this session) and goes on.
    pub fn fork(&self, path: &Path) -> Result<(), RuntimeError> {
        self.request(|tx| Control::Fork(path.to_path_buf(), tx))
    }

    /// Starts the clock of a runtime started with [`RuntimeConfig::start_paused`] (no effect
    /// otherwise).
    pub fn resume(&self) {
        let _ = self.control.send(Control::Resume);
    }

    /// Stops the thread (writing the trace if one was asked for) and returns the final numbers.
    pub fn stop(mut self) -> Result<MetricsSnapshot, RuntimeError> {
        self.shutdown();
        match self.failure() {
            Some(f) => Err(RuntimeError::Input(f)),
            None => Ok(self.metrics()),
        }
    }

    fn shutdown(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RuntimeHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Worker {
    actions: Receiver<Input>,
    frames: Sender<Arc<FrameOut>>,
    frames_evict: Receiver<Arc<FrameOut>>,
    control: Receiver<Control>,
    shared: Arc<Shared>,
    config: RuntimeConfig,
}

/// What the worker does after handling a control message.
enum Next {
    Continue,
    Stop,
}

impl Worker {
    fn run(
        self,
        model: &WorldModel,
        k: Intrinsics,
        prompt: &Prompt,
        options: EngineOptions,
        ready: &Sender<Result<(), RuntimeError>>,
    ) {
        let mut engine = match Engine::new(model, k, prompt, options.clone()) {
            Ok(e) => e,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let start = Instant::now();
        self.publish(&engine, Action::IDLE, 0, start);
        self.refresh_memory(&engine);
        let _ = ready.send(Ok(()));
        if let Err(e) = self.ticks(model, &mut engine, &options) {
            *lock(&self.shared.failure) = Some(e.to_string());
        }
    }

    fn publish(&self, engine: &Engine<'_>, action: Action, used: u32, now: Instant) -> Instant {
        self.publish_frame(
            engine.frame(),
            engine.intrinsics(),
            engine.session_id(),
            action,
            used,
            now,
        )
    }

    fn publish_frame(
        &self,
        g: &Generated,
        k: &Intrinsics,
        session_id: u64,
        action: Action,
        used: u32,
        now: Instant,
    ) -> Instant {
        let frame = Arc::new(FrameOut {
            rgb: g.rgb.clone(),
            width: k.width,
            height: k.height,
            pose: g.pose,
            motion: g.motion,
            tick: g.tick,
            quality: g.quality,
            times: g.times,
            warp_coverage: g.warp_coverage,
            memory_coverage: g.memory_coverage,
            action,
            actions_used: used,
            published: now,
            session_id,
            rescued: g.rescued,
        });
        if let Err(TrySendError::Full(frame)) = self.frames.try_send(frame) {
            // Latest wins: drop the frame nobody took yet.
            let _ = self.frames_evict.try_recv();
            let _ = self.frames.try_send(frame);
        }
        now
    }

    fn refresh_memory(&self, engine: &Engine<'_>) {
        let m = engine.memory();
        let info = MemoryInfo {
            stats: m.stats(),
            columns: m.chunk_columns(),
            chunk_m: m.config().chunk_m,
        };
        *lock(&self.shared.memory) = info;
    }

    /// Handles one control message.
    fn control<'m>(
        &self,
        msg: Control,
        model: &'m WorldModel,
        engine: &mut Engine<'m>,
        options: &EngineOptions,
    ) -> Next {
        match msg {
            Control::Stop => return Next::Stop,
            Control::Resume => {}
            Control::Reset(prompt, reply) => {
                let k = *engine.intrinsics();
                let r = Engine::new(model, k, &prompt, options.clone()).map(|e| {
                    *engine = e;
                    self.publish(engine, Action::IDLE, 0, Instant::now());
                    self.refresh_memory(engine);
                });
                let _ = reply.send(r.map_err(|e| e.to_string()));
            }
            Control::Save(path, reply) => {
                let _ = reply.send(engine.save_session(&path).map_err(|e| e.to_string()));
            }
            Control::Fork(path, reply) => {
                let r = engine.fork().and_then(|mut f| f.save_session(&path));
                let _ = reply.send(r.map_err(|e| e.to_string()));
            }
            Control::Load(path, reply) => {
                let r = Engine::load_session(model, &path, options.clone()).map(|e| {
                    *engine = e;
                    self.publish(engine, Action::IDLE, 0, Instant::now());
                    self.refresh_memory(engine);
                });
                let _ = reply.send(r.map_err(|e| e.to_string()));
            }
        }
        Next::Continue
    }

    fn ticks<'m>(
        &self,
        model: &'m WorldModel,
        engine: &mut Engine<'m>,
        options: &EngineOptions,
    ) -> Result<(), RuntimeError> {
        if self.config.start_paused {
            loop {
                match self.control.recv() {
                    Ok(Control::Resume) => break,
                    Ok(m) => {
                        if let Next::Stop = self.control(m, model, engine, options) {
                            return Ok(());
                        }
                    }
                    Err(_) => return Ok(()),
                }
            }
        }
        let period = Duration::from_secs_f64(1.0 / self.config.tick_hz);
        let period_ms = period.as_secs_f64() * 1e3;
        let mut quality = QualityController::new(period_ms);
        quality.floor = self.config.quality_floor;
        let t0 = Instant::now();
        let mut trace = self.config.trace.as_ref().map(|p| Trace::new(p, t0));
        // Tick `slot` starts at t0 + slot·period; slot 0 was the prompt's frame.
        let mut slot: u64 = 1;
        let mut carry = (0.0f32, 0.0f32);
        // Running mean of what storing a frame in the memory takes (ms).
        let mut commit_ms = 10.0f64;
        let result = loop {
            let slot_start = t0 + period.mul_f64(slot as f64);
            // Wait for the slot, serving control messages meanwhile.
            let mut stop = false;
            loop {
                let msg = if self.config.realtime {
                    match self.control.recv_deadline(slot_start) {
                        Ok(m) => Some(m),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => {
                            stop = true;
                            None
                        }
                    }
                } else {
                    match self.control.try_recv() {
                        Ok(m) => Some(m),
                        Err(TryRecvError::Empty) => None,
                        Err(TryRecvError::Disconnected) => {
                            stop = true;
                            None
                        }
                    }
                };
                match msg {
                    Some(m) => {
                        if let Next::Stop = self.control(m, model, engine, options) {
                            stop = true;
                            break;
                        }
                    }
                    None => break,
                }
            }
            if stop {
                break Ok(());
            }

            // Coalesce everything submitted since the last tick.
            let tick_start = Instant::now();
            let mut keys = Keys::NONE;
            let (mut yaw, mut pitch) = carry;
            let mut sent = Vec::new();
            while let Ok(input) = self.actions.try_recv() {
                keys |= input.action.keys;
                yaw += input.action.yaw_delta_rad;
                pitch += input.action.pitch_delta_rad;
                sent.push(input.sent);
            }
            let max = Action::MAX_LOOK_DELTA_RAD;
            let (use_yaw, use_pitch) = (yaw.clamp(-max, max), pitch.clamp(-max, max));
            carry = (yaw - use_yaw, pitch - use_pitch);
            let action = Action {
                keys,
                yaw_delta_rad: use_yaw,
                pitch_delta_rad: use_pitch,
            };

            let level = quality.level();
            // Shows a tick's frame and records it (from this thread, or from the deadline's
            // watcher when the network misses the frame's deadline).
            let (k, session_id) = (*engine.intrinsics(), engine.session_id());
            let show = |g: &Generated| {
                let published = self.publish_frame(
                    g,
                    &k,
                    session_id,
                    action,
                    sent.len() as u32,
                    Instant::now(),
                );
                let late = if self.config.realtime {
                    published > slot_start + period
                } else {
                    published.duration_since(tick_start) > period
                };
                let mut m = lock(&self.shared.metrics);
                m.frame(published, &g.times, late, level);
                m.used(&action);
                m.rescued(g.rescued);
                for s in &sent {
                    m.action(published.saturating_duration_since(*s));
                }
            };
            let deadline = match self.config.frame_deadline_ms {
                Some(ms) if self.config.realtime && ms.is_finite() && ms > 0.0 => {
                    Some(FrameDeadline {
                        at: slot_start + Duration::from_secs_f64(ms / 1e3),
                        on_miss: &show,
                    })
                }
                _ => None,
            };
            match engine.advance_within(&action, level, deadline) {
                Ok(true) => {}
                Ok(false) => show(engine.frame()),
                Err(e) => break Err(e),
            }
            // Storing the frame (the memory render ahead, carve and write) runs after the frame
            // is out; when the slot has less time left than that usually takes, this frame is
            // left out of the memory rather than start the next tick late.
            let left_ms = (slot_start + period)
                .saturating_duration_since(Instant::now())
                .as_secs_f64()
                * 1e3;
            let skip = self.config.realtime && engine.commit_pending() && left_ms < commit_ms;
            if skip {
                engine.skip_commit();
                lock(&self.shared.metrics).commit_skipped();
            } else {
                let pending = engine.commit_pending();
                if let Err(e) = engine.commit() {
                    break Err(e);
                }
                if pending {
                    let t = engine.frame().times;
                    commit_ms += 0.2 * (t.memory_ahead_ms + t.memory_write_ms - commit_ms);
                }
            }
            let done = Instant::now();
            let times = engine.frame().times;
            lock(&self.shared.metrics).tick_done(&times);
            let before = quality.level();
            // A skipped store still tells the quality control what the tick would have cost.
            let cost = done.duration_since(tick_start).as_secs_f64() * 1e3
                + if skip { commit_ms } else { 0.0 };
            if quality.record(cost) != before {
                lock(&self.shared.metrics).quality_changed();
            }
            if let Some(t) = trace.as_mut() {
                t.tick(engine.frame().tick, tick_start, &times, level);
            }
            if engine
                .frame()
                .tick
                .is_multiple_of(self.config.memory_info_every.max(1))
            {
                self.refresh_memory(engine);
            }

            // The next slot; slots that passed while this tick ran are dropped.
            slot += 1;
            if self.config.realtime {
                let now_slot =
                    (done.duration_since(t0).as_secs_f64() / period.as_secs_f64()).floor() as u64;
                if now_slot > slot {
                    let n = now_slot - slot;
                    lock(&self.shared.metrics).dropped(n);
                    if let Some(t) = trace.as_mut() {
                        t.dropped(done, n);
                    }
                    slot = now_slot;
                }
            }
        };
        if let Some(t) = &trace
            && let Err(e) = t.write()
        {
            *lock(&self.shared.failure) = Some(format!("writing the trace: {e}"));
        }
        result
    }
}
