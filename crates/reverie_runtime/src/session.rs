//! Session files: the whole state of an [`Engine`] (latent state, pose, last frame, memory,
//! tick), versioned and checksummed, so a session can be saved, loaded and forked.
//!
//! Layout (little-endian): `b"RVSESS\r\n"`, format version `u32`, flags `u32` (0), payload length
//! `u64`, CRC-32 of the payload `u32`; the payload: a JSON header (`u32` length + bytes: ids, tick,
//! pose, motion, options, the model config it was made with), the latent state (`u32` count +
//! `f32`s), the last frame's RGB (`u32` length + bytes) and depth (`u32` count + `f32`s), then the
//! memory file's bytes (`u64` length + bytes, see `reverie_memory::persist`), then, when the
//! header has an `ahead_pose`, the memory render made ahead for the next tick (RGB as `u32`
//! length and bytes; depth, NaN where not covered, as `u32` count and `f32`s), then, for each of
//! the header's `probe_frames` (a `ground_probe` model's [`reverie_core::GroundProbe`], newest
//! frame = the last frame; files from before it have none), a `u32` point count and the points'
//! `x, y, z` as `f32`s. The loader checks
//! length and checksum first, then every count against the model and what remains, so a
//! truncated, corrupt or foreign file gives an error naming the file, never a panic.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use reverie_core::glam::Vec3;
use reverie_core::{EgoMotion, GroundProbe, Intrinsics, Pose};
use reverie_memory::SpatialMemory;
use reverie_memory::persist::{ByteReader, frame, unframe, write_file_atomically};
use reverie_model::{ModelConfig, State, WorldModel};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, EngineOptions, Generated, Refine, RuntimeError, StageTimes};
use crate::quality::Quality;

const MAGIC: &[u8; 8] = b"RVSESS\r\n";
/// The session format version this build writes and reads.
pub const SESSION_FORMAT_VERSION: u32 = 2;
/// Bytes before the payload (see `reverie_memory::persist::frame`).
const HEADER: usize = 8 + 4 + 4 + 8 + 4;

/// A fresh, practically unique session id (time, process and a counter, mixed).
pub(crate) fn new_session_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finaliser
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The JSON header of a session file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    session_id: u64,
    parent_id: Option<u64>,
    tick: u64,
    pose: Pose,
    motion: [f32; 5],
    intrinsics: Intrinsics,
    use_memory: bool,
    warp_and_memory_only: bool,
    model: ModelConfig,
    /// The pose of the memory render made ahead, if there is one (it follows the memory).
    ahead_pose: Option<Pose>,
    /// Frames of the ground probe stored after that (0 in files from before the probe).
    #[serde(default)]
    probe_frames: usize,
    /// The rise not come down from yet (files from before session 27: none).
    #[serde(default)]
    lift: crate::engine::Lift,
}

impl<'m> Engine<'m> {
    /// The session as the bytes of a session file (stores a pending frame in the memory first).
    pub fn session_bytes(&mut self) -> Result<Vec<u8>, RuntimeError> {
        self.commit()?;
        self.sync_probe()?;
        let header = Header {
            session_id: self.session_id,
            parent_id: self.parent_id,
            tick: self.last.tick,
            pose: self.last.pose,
            motion: self.last.motion.to_array(),
            intrinsics: self.k,
            use_memory: self.options.use_memory,
            warp_and_memory_only: self.options.refine == Refine::WarpAndMemoryOnly,
            model: self.model.config().clone(),
            ahead_pose: self.ahead.as_ref().map(|a| a.pose),
            probe_frames: self.probe.len(),
            lift: self.lift,
        };
        let json = serde_json::to_vec(&header).map_err(|e| RuntimeError::Input(e.to_string()))?;
        let state = self.state.to_vec()?;
        let memory = self.memory.to_bytes();
        let mut payload = Vec::with_capacity(
            json.len()
                + 4 * state.len()
                + self.last.rgb.len()
                + 4 * self.last.depth_m.len()
                + memory.len()
                + 32,
        );
        payload.extend_from_slice(&(json.len() as u32).to_le_bytes());
        payload.extend_from_slice(&json);
        payload.extend_from_slice(&(state.len() as u32).to_le_bytes());
        payload.extend(state.iter().flat_map(|v| v.to_le_bytes()));
        put_image(&mut payload, &self.last.rgb, &self.last.depth_m);
        payload.extend_from_slice(&(memory.len() as u64).to_le_bytes());
        payload.extend_from_slice(&memory);
        if let Some(a) = &self.ahead {
            put_image(&mut payload, &a.view.rgb, &a.depth_m);
        }
        for points in self.probe.frames() {
            payload.extend_from_slice(&(points.len() as u32).to_le_bytes());
            payload.extend(
                points
                    .iter()
                    .flat_map(|p| p.to_array())
                    .flat_map(f32::to_le_bytes),
            );
        }

        Ok(frame(MAGIC, SESSION_FORMAT_VERSION, &payload))
    }

    /// Saves the session to `path` (via `path.partial`, renamed when complete).
    pub fn save_session(&mut self, path: &Path) -> Result<(), RuntimeError> {
        let bytes = self.session_bytes()?;
        write_file_atomically(path, &bytes).map_err(|e| RuntimeError::Session {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Loads a session saved with [`Engine::save_session`] to run on `model` (which must have
    /// the config the session was made with). `options` gives the runtime-only settings (the
    /// slow-network test knob); memory use and refinement come from the file.
    pub fn load_session(
        model: &'m WorldModel,
        path: &Path,
        options: EngineOptions,
    ) -> Result<Engine<'m>, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|e| RuntimeError::Session {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Engine::from_session_bytes(model, &bytes, options).map_err(|message| {
            RuntimeError::Session {
                path: path.to_path_buf(),
                message,
            }
        })
    }

    /// Decodes a session file's bytes (see [`Engine::load_session`]); the error says what is wrong.
    pub fn from_session_bytes(
        model: &'m WorldModel,
        bytes: &[u8],
        mut options: EngineOptions,
    ) -> Result<Engine<'m>, String> {
        let payload = unframe(bytes, MAGIC, SESSION_FORMAT_VERSION, "session")?;
        let mut r = ByteReader::new(payload, HEADER);
        let n = r.u32()? as usize;
        let header: Header =
            serde_json::from_slice(r.take(n, "header")?).map_err(|e| format!("header: {e}"))?;
        let cfg = model.config();
        if &header.model != cfg {
            return Err(format!(
                "the session was made with a different model (its config: {}×{} frames, {} channels, \
                 state {}; this model: {}×{}, {} channels, state {})",
                header.model.width,
                header.model.height,
                header.model.channels,
                header.model.state_channels,
                cfg.width,
                cfg.height,
                cfg.channels,
                cfg.state_channels
            ));
        }
        let k = header.intrinsics;
        if (k.width as usize, k.height as usize) != (cfg.width, cfg.height) {
            return Err(format!(
                "intrinsics: {}×{} does not match the model's {}×{}",
                k.width, k.height, cfg.width, cfg.height
            ));
        }
        let pixels = k.pixels();
        let n = r.u32()? as usize;
        let state = r.f32s(n, "state")?;
        let state =
            State::from_vec(cfg, &state, model.device()).map_err(|e| format!("state: {e}"))?;
        let (rgb, depth_m) = read_image(&mut r, pixels, "")?;
        let n = r.u64()?;
        let n = usize::try_from(n).map_err(|_| "memory: length out of range".to_string())?;
        let memory =
            SpatialMemory::from_bytes(r.take(n, "memory")?).map_err(|e| format!("memory: {e}"))?;
        let ahead = match header.ahead_pose {
            None => None,
            Some(pose) => {
                if !pose.position.is_finite() {
                    return Err("ahead_pose: not finite".into());
                }
                let (rgb, depth_m) = read_image(&mut r, pixels, "ahead ")?;
                Some((pose, rgb, depth_m))
            }
        };
        if header.probe_frames > GroundProbe::FRAMES {
            return Err(format!(
                "probe_frames: {} is more than {}",
                header.probe_frames,
                GroundProbe::FRAMES
            ));
        }
        let mut probe = GroundProbe::new();
        for i in 0..header.probe_frames {
            let n = r.u32()? as usize;
            let v = r.f32s(n.saturating_mul(3), "ground probe")?;
            if !v.iter().all(|x| x.is_finite()) {
                return Err(format!("ground probe frame {i}: a point is not finite"));
            }
            probe.push_points(
                v.chunks_exact(3)
                    .map(|p| Vec3::new(p[0], p[1], p[2]))
                    .collect(),
            );
        }
        if r.remaining() != 0 {
            return Err(format!("{} unexpected bytes at the end", r.remaining()));
        }
        if !header.pose.position.is_finite() || !header.motion.iter().all(|v| v.is_finite()) {
            return Err("pose or motion: not finite".into());
        }
        if !(header.lift.m.is_finite() && header.lift.m >= 0.0) {
            return Err(format!(
                "lift: {} m is not a finite height ≥ 0",
                header.lift.m
            ));
        }
        options.memory = memory.config().clone();
        options.use_memory = header.use_memory;
        options.refine = if header.warp_and_memory_only {
            Refine::WarpAndMemoryOnly
        } else {
            Refine::Network
        };
        let last = Generated {
            rgb,
            depth_m,
            pose: header.pose,
            motion: EgoMotion::from_array(header.motion),
            tick: header.tick,
            warp_coverage: 1.0,
            memory_coverage: 0.0,
            times: StageTimes::default(),
            quality: Quality::Full,
            rescued: false,
        };
        let mut engine = Engine::from_parts(
            model,
            k,
            options,
            state,
            memory,
            last,
            header.session_id,
            header.parent_id,
            probe,
            header.lift,
        );
        if let Some((pose, rgb, depth_m)) = ahead {
            engine.set_ahead(pose, rgb, depth_m);
        }
        Ok(engine)
    }

    /// A copy of this session that goes its own way from here (a new id; its parent is this
    /// session). Stores a pending frame in the memory first.
    pub fn fork(&mut self) -> Result<Engine<'m>, RuntimeError> {
        let bytes = self.session_bytes()?;
        let mut fork = Engine::from_session_bytes(self.model, &bytes, self.options.clone())
            .map_err(RuntimeError::Input)?;
        fork.parent_id = Some(self.session_id);
        fork.session_id = new_session_id();
        Ok(fork)
    }
}

/// Appends an image: RGB (`u32` length + bytes), then depth (`u32` count + `f32`s).
fn put_image(out: &mut Vec<u8>, rgb: &[u8], depth_m: &[f32]) {
    out.extend_from_slice(&(rgb.len() as u32).to_le_bytes());
    out.extend_from_slice(rgb);
    out.extend_from_slice(&(depth_m.len() as u32).to_le_bytes());
    out.extend(depth_m.iter().flat_map(|v| v.to_le_bytes()));
}

/// Reads what [`put_image`] wrote, checking both sizes against `pixels`; errors name the part
/// (`what` prefixes the names).
fn read_image(
    r: &mut ByteReader<'_>,
    pixels: usize,
    what: &str,
) -> Result<(Vec<u8>, Vec<f32>), String> {
    let n = r.u32()? as usize;
    if n != pixels * 3 {
        return Err(format!("{what}rgb: {n} bytes, expected {}", pixels * 3));
    }
    let rgb = r.take(n, "rgb")?.to_vec();
    let n = r.u32()? as usize;
    if n != pixels {
        return Err(format!("{what}depth: {n} values, expected {pixels}"));
    }
    let depth_m = r.f32s(n, "depth")?;
    Ok((rgb, depth_m))
}
