//! The dataset format written by `reverie datagen`, its writer and a random-access reader.
//!
//! ```text
//! DIR/dataset.json                   manifest (format, world spec, seeds, policy, sizes)
//! DIR/episodes/ep_000000.safetensors one file per finished episode
//! DIR/episodes/ep_000001.safetensors.partial   an episode being written (never read)
//! ```
//!
//! Each episode is a standard safetensors file (loadable by candle, PyTorch, numpy) holding, for T
//! ticks at H × W:
//!
//! | tensor | dtype | shape | meaning |
//! |---|---|---|---|
//! | `rgb` | U8 | [T, H, W, 3] | the frame |
//! | `depth` | F16 | [T, H, W] | planar depth in blocks (metres); +inf is sky |
//! | `pose` | F32 | [T, 5] | eye x, y, z, yaw, pitch (radians; see `reverie_core`) |
//! | `action_keys` | U8 | [T] | `Keys` bits of the action that produced the frame |
//! | `action_look` | F32 | [T, 2] | yaw and pitch deltas (radians) of that action |
//!
//! Tick 0 is the spawn view (its action is idle); the action at tick t moved the walker from pose
//! t-1 to pose t. The header's `__metadata__` holds `episode`, `seed`, `policy`, `steps` and the
//! policy's `report` (JSON; e.g. when a loop returned). A file is written under `.partial` and
//! renamed when complete, so a crash never leaves a complete-looking episode.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use half::f16;
use reverie_core::{Action, Keys, Pose};
use serde::{Deserialize, Serialize};

use crate::spec::WorldSpec;

/// The manifest's `format`.
pub const FORMAT: &str = "reverie-dataset";
/// The manifest's `format_version`.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes reserved for an episode file's JSON header.
const HEADER_BYTES: usize = 8192;

/// An error reading or writing a dataset; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct DatasetError {
    /// The file or directory.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

fn err(path: &Path, message: impl std::fmt::Display) -> DatasetError {
    DatasetError {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// `dataset.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The world spec file the data came from.
    pub world_file: String,
    /// The world spec (with the seed actually used).
    pub world: WorldSpec,
    /// Base seed: episode i uses `seed::derive(seed, [i])`.
    pub seed: u64,
    /// Policy, as given on the command line.
    pub policy: String,
    /// Episodes in the dataset.
    pub episodes: usize,
    /// Ticks per episode.
    pub steps: usize,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Vertical field of view in degrees.
    pub fov_deg: f32,
    /// Ticks per second.
    pub tick_hz: u32,
}

impl Manifest {
    /// Reads `DIR/dataset.json`.
    pub fn load(dir: &Path) -> Result<Manifest, DatasetError> {
        let path = dir.join("dataset.json");
        let text = std::fs::read_to_string(&path).map_err(|e| err(&path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| err(&path, e))?;
        if m.format != FORMAT || m.format_version != FORMAT_VERSION {
            return Err(err(
                &path,
                format!(
                    "format {} v{} is not {FORMAT} v{FORMAT_VERSION}",
                    m.format, m.format_version
                ),
            ));
        }
        Ok(m)
    }

    /// Writes `DIR/dataset.json` (atomically).
    pub fn save(&self, dir: &Path) -> Result<(), DatasetError> {
        let path = dir.join("dataset.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| err(&path, e))?;
        let tmp = crate::imageio::partial_path(&path);
        std::fs::write(&tmp, text).map_err(|e| err(&path, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| err(&path, e))
    }
}

/// The file of episode `i` in `dir`.
pub fn episode_path(dir: &Path, i: usize) -> PathBuf {
    dir.join("episodes").join(format!("ep_{i:06}.safetensors"))
}

#[derive(Debug, Serialize, Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

fn layout(t: usize, h: usize, w: usize) -> Vec<(&'static str, &'static str, Vec<usize>, usize)> {
    vec![
        ("rgb", "U8", vec![t, h, w, 3], t * h * w * 3),
        ("depth", "F16", vec![t, h, w], t * h * w * 2),
        ("pose", "F32", vec![t, 5], t * 5 * 4),
        ("action_keys", "U8", vec![t], t),
        ("action_look", "F32", vec![t, 2], t * 2 * 4),
    ]
}

/// Streams one episode to disk, a frame at a time (memory stays bounded for long episodes).
#[derive(Debug)]
pub struct EpisodeWriter {
    path: PathBuf,
    file: File,
    steps: usize,
    height: usize,
    width: usize,
    frame_pixels: usize,
    offsets: BTreeMap<&'static str, usize>,
    poses: Vec<f32>,
    keys: Vec<u8>,
    looks: Vec<f32>,
    written: usize,
    depth_buf: Vec<u8>,
}

impl EpisodeWriter {
    /// Creates `path.partial` for `steps` frames of `width` × `height`.
    pub fn create(
        path: &Path,
        steps: usize,
        width: u32,
        height: u32,
    ) -> Result<EpisodeWriter, DatasetError> {
        let file = File::create(crate::imageio::partial_path(path))
            .map_err(|e| err(path, format!("cannot create: {e}")))?;
        let mut offsets = BTreeMap::new();
        let mut at = 0;
        let mut total = 0;
        for (name, _, _, bytes) in layout(steps, height as usize, width as usize) {
            offsets.insert(name, at);
            at += bytes;
            total = at;
        }
        file.set_len((8 + HEADER_BYTES + total) as u64)
            .map_err(|e| err(path, e))?;
        Ok(EpisodeWriter {
            path: path.to_path_buf(),
            file,
            steps,
            height: height as usize,
            width: width as usize,
            frame_pixels: width as usize * height as usize,
            offsets,
            poses: Vec::with_capacity(steps * 5),
            keys: Vec::with_capacity(steps),
            looks: Vec::with_capacity(steps * 2),
            written: 0,
            depth_buf: Vec::new(),
        })
    }

    fn write_at(&self, tensor: &str, offset: usize, bytes: &[u8]) -> Result<(), DatasetError> {
        let base = 8 + HEADER_BYTES + self.offsets.get(tensor).copied().unwrap_or(0);
        self.file
            .write_all_at(bytes, (base + offset) as u64)
            .map_err(|e| err(&self.path, e))
    }

    /// Appends the next frame.
    pub fn push(
        &mut self,
        rgb: &[u8],
        depth_m: &[f32],
        pose: &Pose,
        action: &Action,
    ) -> Result<(), DatasetError> {
        let t = self.written;
        if t >= self.steps
            || rgb.len() != 3 * self.frame_pixels
            || depth_m.len() != self.frame_pixels
        {
            return Err(err(
                &self.path,
                format!(
                    "frame {t} does not fit the episode ({} steps, {} pixels)",
                    self.steps, self.frame_pixels
                ),
            ));
        }
        self.write_at("rgb", t * 3 * self.frame_pixels, rgb)?;
        self.depth_buf.clear();
        self.depth_buf
            .extend(depth_m.iter().flat_map(|&d| f16::from_f32(d).to_le_bytes()));
        self.write_at("depth", t * 2 * self.frame_pixels, &self.depth_buf)?;
        self.poses.extend(pose.to_array());
        self.keys.push(action.keys.bits());
        self.looks
            .extend([action.yaw_delta_rad, action.pitch_delta_rad]);
        self.written += 1;
        Ok(())
    }

    /// Writes the small tensors and the header, then renames the file into place.
    pub fn finish(self, metadata: BTreeMap<String, String>) -> Result<(), DatasetError> {
        if self.written != self.steps {
            return Err(err(
                &self.path,
                format!("only {} of {} frames written", self.written, self.steps),
            ));
        }
        let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        self.write_at("pose", 0, &f32_bytes(&self.poses))?;
        self.write_at("action_keys", 0, &self.keys)?;
        self.write_at("action_look", 0, &f32_bytes(&self.looks))?;
        let mut header = serde_json::Map::new();
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(&metadata).map_err(|e| err(&self.path, e))?,
        );
        for (name, dtype, shape, bytes) in layout(self.steps, self.height, self.width) {
            let start = self.offsets.get(name).copied().unwrap_or(0);
            let info = TensorInfo {
                dtype: dtype.into(),
                shape,
                data_offsets: [start, start + bytes],
            };
            header.insert(
                name.into(),
                serde_json::to_value(info).map_err(|e| err(&self.path, e))?,
            );
        }
        let mut json = serde_json::to_vec(&header).map_err(|e| err(&self.path, e))?;
        if json.len() > HEADER_BYTES {
            return Err(err(
                &self.path,
                format!("metadata too large ({} bytes)", json.len()),
            ));
        }
        json.resize(HEADER_BYTES, b' ');
        self.file
            .write_all_at(&(HEADER_BYTES as u64).to_le_bytes(), 0)
            .map_err(|e| err(&self.path, e))?;
        self.file
            .write_all_at(&json, 8)
            .map_err(|e| err(&self.path, e))?;
        self.file.sync_data().map_err(|e| err(&self.path, e))?;
        std::fs::rename(crate::imageio::partial_path(&self.path), &self.path)
            .map_err(|e| err(&self.path, e))
    }
}

impl Drop for EpisodeWriter {
    fn drop(&mut self) {
        // An unfinished episode leaves nothing behind.
        let partial = crate::imageio::partial_path(&self.path);
        if partial.exists() {
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// One frame window read from an episode.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Frames, [len, H, W, 3].
    pub rgb: Vec<u8>,
    /// Planar depth in metres, [len, H, W] (+inf is sky).
    pub depth_m: Vec<f32>,
    /// Poses.
    pub poses: Vec<Pose>,
    /// Actions (the one that produced each frame).
    pub actions: Vec<Action>,
}

/// A finished episode file, opened for random access.
#[derive(Debug)]
pub struct EpisodeReader {
    path: PathBuf,
    file: File,
    /// Ticks.
    pub steps: usize,
    /// Frame height.
    pub height: usize,
    /// Frame width.
    pub width: usize,
    /// The header's metadata.
    pub metadata: BTreeMap<String, String>,
    offsets: BTreeMap<String, [usize; 2]>,
    data_start: usize,
}

impl EpisodeReader {
    /// Opens and validates an episode file (names the file and tensor on any problem).
    pub fn open(path: &Path) -> Result<EpisodeReader, DatasetError> {
        let file = File::open(path).map_err(|e| err(path, e))?;
        let len = file.metadata().map_err(|e| err(path, e))?.len() as usize;
        let mut n = [0u8; 8];
        file.read_exact_at(&mut n, 0)
            .map_err(|_| err(path, "truncated: no safetensors header"))?;
        let n = u64::from_le_bytes(n) as usize;
        if n > 1 << 20 || 8 + n > len {
            return Err(err(
                path,
                format!("header length {n} does not fit the file ({len} bytes)"),
            ));
        }
        let mut header = vec![0; n];
        file.read_exact_at(&mut header, 8)
            .map_err(|e| err(path, e))?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| err(path, format!("bad header: {e}")))?;
        let mut offsets = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        let mut shapes = BTreeMap::new();
        for (name, v) in header {
            if name == "__metadata__" {
                metadata = serde_json::from_value(v)
                    .map_err(|e| err(path, format!("bad metadata: {e}")))?;
                continue;
            }
            let info: TensorInfo = serde_json::from_value(v)
                .map_err(|e| err(path, format!("tensor `{name}`: {e}")))?;
            if info.data_offsets[1] < info.data_offsets[0] || 8 + n + info.data_offsets[1] > len {
                return Err(err(
                    path,
                    format!(
                        "tensor `{name}`: data offsets {:?} outside the file",
                        info.data_offsets
                    ),
                ));
            }
            shapes.insert(name.clone(), (info.dtype, info.shape));
            offsets.insert(name, info.data_offsets);
        }
        let (dtype, shape) = shapes
            .get("rgb")
            .ok_or_else(|| err(path, "tensor `rgb` is missing"))?;
        let [t, h, w, c] = shape.as_slice() else {
            return Err(err(
                path,
                format!("tensor `rgb`: shape {shape:?}, expected [T, H, W, 3]"),
            ));
        };
        let (t, h, w) = (*t, *h, *w);
        if dtype != "U8" || *c != 3 {
            return Err(err(
                path,
                format!("tensor `rgb`: {dtype} {shape:?}, expected U8 [T, H, W, 3]"),
            ));
        }
        for (name, dt, want) in layout(t, h, w).into_iter().map(|(n, d, s, _)| (n, d, s)) {
            match shapes.get(name) {
                Some((d, s)) if d == dt && *s == want => {}
                Some((d, s)) => {
                    return Err(err(
                        path,
                        format!("tensor `{name}`: {d} {s:?}, expected {dt} {want:?}"),
                    ));
                }
                None => return Err(err(path, format!("tensor `{name}` is missing"))),
            }
            let [a, b] = offsets[name];
            let bytes = layout(t, h, w)
                .into_iter()
                .find(|x| x.0 == name)
                .map_or(0, |x| x.3);
            if b - a != bytes {
                return Err(err(
                    path,
                    format!("tensor `{name}`: {} bytes, expected {bytes}", b - a),
                ));
            }
        }
        Ok(EpisodeReader {
            path: path.to_path_buf(),
            file,
            steps: t,
            height: h,
            width: w,
            metadata,
            offsets,
            data_start: 8 + n,
        })
    }

    fn read(&self, tensor: &str, offset: usize, len: usize) -> Result<Vec<u8>, DatasetError> {
        let mut buf = vec![0; len];
        let base = self.data_start + self.offsets.get(tensor).map_or(0, |o| o[0]);
        self.file
            .read_exact_at(&mut buf, (base + offset) as u64)
            .map_err(|e| err(&self.path, format!("tensor `{tensor}`: {e}")))?;
        Ok(buf)
    }

    /// Reads ticks `start .. start + len`.
    pub fn window(&self, start: usize, len: usize) -> Result<Window, DatasetError> {
        if len == 0 || start + len > self.steps {
            return Err(err(
                &self.path,
                format!(
                    "window {start}..{} outside the episode's {} ticks",
                    start + len,
                    self.steps
                ),
            ));
        }
        let px = self.height * self.width;
        let rgb = self.read("rgb", start * px * 3, len * px * 3)?;
        let depth_m = self
            .read("depth", start * px * 2, len * px * 2)?
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        let f32s = |b: Vec<u8>| {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<f32>>()
        };
        let poses = f32s(self.read("pose", start * 20, len * 20)?)
            .chunks_exact(5)
            .map(|p| Pose::from_array([p[0], p[1], p[2], p[3], p[4]]))
            .collect();
        let keys = self.read("action_keys", start, len)?;
        let looks = f32s(self.read("action_look", start * 8, len * 8)?);
        let actions = keys
            .iter()
            .zip(looks.chunks_exact(2))
            .map(|(&k, l)| Action {
                keys: Keys::from_bits_truncate(k),
                yaw_delta_rad: l[0],
                pitch_delta_rad: l[1],
            })
            .collect();
        Ok(Window {
            rgb,
            depth_m,
            poses,
            actions,
        })
    }
}

/// A dataset directory: its manifest and finished episodes, with random access to windows.
#[derive(Debug)]
pub struct Dataset {
    /// The manifest.
    pub manifest: Manifest,
    /// Finished episodes, by index (unfinished ones are absent).
    pub episodes: BTreeMap<usize, EpisodeReader>,
}

impl Dataset {
    /// Opens `dir`, skipping episodes still being written.
    pub fn open(dir: &Path) -> Result<Dataset, DatasetError> {
        let manifest = Manifest::load(dir)?;
        let mut episodes = BTreeMap::new();
        for i in 0..manifest.episodes {
            let p = episode_path(dir, i);
            if p.exists() {
                episodes.insert(i, EpisodeReader::open(&p)?);
            }
        }
        Ok(Dataset { manifest, episodes })
    }

    /// Reads ticks `start .. start + len` of episode `episode`.
    pub fn window(&self, episode: usize, start: usize, len: usize) -> Result<Window, DatasetError> {
        self.episodes
            .get(&episode)
            .ok_or_else(|| {
                err(
                    Path::new("dataset"),
                    format!("episode {episode} is not in the dataset"),
                )
            })?
            .window(start, len)
    }
}
