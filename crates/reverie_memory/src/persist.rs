//! Saving and loading the whole memory: a versioned, checksummed single file.
//!
//! Layout (little-endian): `b"RVRMEM\r\n"`, format version `u32`, flags `u32` (0), payload length
//! `u64`, CRC-32 (IEEE) of the payload `u32`, then the payload: the config as JSON (`u32` length +
//! bytes), the tick and counters, the chunks (coordinate, coarse flag `u8` (from format 3 on),
//! last-seen tick, cells with their keys),
//! the sky panorama, the keyframes and (from format 4 on) the pinned views (from format 5 on
//! each with a `u8` flag and, if set, the view itself: RGB bytes, then planar depth `f32`s). The loader checks the length and the checksum first and
//! then validates every count and value against what remains and what the config allows, so a
//! truncated, corrupt or hostile file gives an error naming the file, never a panic or a huge
//! allocation.

use std::io::Write;
use std::path::{Path, PathBuf};

use glam::IVec3;
use reverie_core::{Intrinsics, Pose};

use crate::config::MemoryConfig;
use crate::error::{MemoryError, Result};
use crate::keyframe::Keyframe;
use crate::memory::{Cell, Chunk, Counters, SpatialMemory};
use crate::pin::{MAX_PINS, Pin};

const MAGIC: &[u8; 8] = b"RVRMEM\r\n";
/// The format version this build writes (it also reads [`OLDEST_FORMAT_VERSION`] and up).
pub const FORMAT_VERSION: u32 = 5;
/// The oldest format version this build reads: format 2 has no coarse chunks, and a memory
/// read from it keeps every level in chunks of `chunk_m` (`coarse_level` 0). Formats before 4
/// pin no views; formats before 5 keep no pinned view's image.
pub const OLDEST_FORMAT_VERSION: u32 = 2;
const HEADER: usize = 8 + 4 + 4 + 8 + 4;

/// CRC-32 (IEEE 802.3, reflected, as zlib and PNG use).
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// A file of ours: `magic` (8 bytes), `version` `u32`, flags `u32` (0), payload length `u64`,
/// CRC-32 of the payload `u32`, then the payload. The memory and session files use it.
pub fn frame(magic: &[u8; 8], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + payload.len());
    bytes.extend_from_slice(magic);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// The payload of a [`frame`]d file, after checking magic, version, flags, length and checksum;
/// `kind` names the file kind in errors ("memory", "session").
pub fn unframe<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    version: u32,
    kind: &str,
) -> std::result::Result<&'a [u8], String> {
    unframe_versions(bytes, magic, version..=version, kind).map(|(_, payload)| payload)
}

/// [`unframe`] for a reader of several versions: the version found and the payload.
pub fn unframe_versions<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    versions: std::ops::RangeInclusive<u32>,
    kind: &str,
) -> std::result::Result<(u32, &'a [u8]), String> {
    if bytes.len() < HEADER {
        return Err(format!(
            "truncated: {} bytes, shorter than the {HEADER}-byte header",
            bytes.len()
        ));
    }
    if &bytes[..8] != magic {
        return Err(format!("not a Reverie {kind} file (bad magic)"));
    }
    let mut r = ByteReader::new(&bytes[8..HEADER], 8);
    let found = r.u32()?;
    if !versions.contains(&found) {
        let reads = if versions.start() == versions.end() {
            format!("version {}", versions.start())
        } else {
            format!("versions {} to {}", versions.start(), versions.end())
        };
        return Err(format!(
            "{kind} format version {found}; this build reads {reads}"
        ));
    }
    let flags = r.u32()?;
    if flags != 0 {
        return Err(format!("unknown flags {flags:#x}"));
    }
    let len = r.u64()?;
    let crc = r.u32()?;
    let payload = &bytes[HEADER..];
    if len != payload.len() as u64 {
        return Err(format!(
            "truncated or padded: header says {len} payload bytes, file has {}",
            payload.len()
        ));
    }
    let actual = crc32(payload);
    if actual != crc {
        return Err(format!(
            "checksum mismatch (stored {crc:#010x}, computed {actual:#010x}): the file is corrupt"
        ));
    }
    Ok((found, payload))
}

/// Writes `bytes` to `path` via `path.partial`, synced, then renamed into place (a crash leaves
/// the old file or none, never half a file).
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

impl SpatialMemory {
    /// The whole memory as the bytes of a memory file ([`SpatialMemory::from_bytes`] reads them).
    pub fn to_bytes(&self) -> Vec<u8> {
        frame(MAGIC, FORMAT_VERSION, &self.encode())
    }

    /// Writes the whole memory to `path` (via `path.partial`, renamed when complete).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_file_atomically(path, &self.to_bytes()).map_err(|source| MemoryError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a memory written by [`SpatialMemory::save`].
    pub fn load(path: &Path) -> Result<SpatialMemory> {
        let bytes = std::fs::read(path).map_err(|source| MemoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        SpatialMemory::from_bytes(&bytes).map_err(|message| MemoryError::Corrupt {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Decodes a memory file's bytes; the error says what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<SpatialMemory, String> {
        let (version, payload) = unframe_versions(
            bytes,
            MAGIC,
            OLDEST_FORMAT_VERSION..=FORMAT_VERSION,
            "memory",
        )?;
        decode(payload, version)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let config = serde_json::to_vec(&self.config).unwrap_or_default();
        put_u32(&mut out, config.len() as u32);
        out.extend_from_slice(&config);
        put_u64(&mut out, self.tick);
        let c = self.counters;
        for v in [
            c.points_written,
            c.write_hits,
            c.evicted_chunks,
            c.eviction_passes,
            c.carved,
        ] {
            put_u64(&mut out, v);
        }
        let chunks: Vec<&Chunk> = self.chunks().collect();
        put_u64(&mut out, chunks.len() as u64);
        for chunk in chunks {
            for v in chunk.coord.to_array() {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.push(chunk.coarse as u8);
            put_u64(&mut out, chunk.last_seen);
            put_u32(&mut out, chunk.len() as u32);
            let cells = chunk.cells.iter().flatten();
            for (cell, &key) in cells.zip(chunk.keys.iter().flatten()) {
                put_u32(&mut out, key);
                for p in cell.pos {
                    out.extend_from_slice(&p.to_le_bytes());
                }
                out.extend_from_slice(&cell.rgb);
                out.extend_from_slice(&[cell.weight, cell.level, cell.footprint_q]);
                put_u32(&mut out, cell.last_seen);
            }
        }
        put_u32(&mut out, self.sky.width);
        put_u32(&mut out, self.sky.height);
        for t in &self.sky.texels {
            for v in t {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        put_u32(&mut out, self.keyframes.frames.len() as u32);
        for f in &self.keyframes.frames {
            put_camera(&mut out, &f.intrinsics, &f.pose);
            put_u64(&mut out, f.tick);
            out.extend_from_slice(&f.rgb);
            for d in &f.depth_m {
                out.extend_from_slice(&d.to_le_bytes());
            }
        }
        put_u32(&mut out, self.pins.len() as u32);
        for pin in &self.pins {
            put_camera(&mut out, &pin.k, &pin.pose);
            for d in &pin.free_m {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.push(u8::from(pin.has_view()));
            if pin.has_view() {
                out.extend_from_slice(&pin.rgb);
                for d in &pin.depth_m {
                    out.extend_from_slice(&d.to_le_bytes());
                }
            }
        }
        out
    }
}

const CELL_BYTES: usize = 4 + 6 + 3 + 3 + 4;

fn decode(payload: &[u8], version: u32) -> std::result::Result<SpatialMemory, String> {
    let mut r = ByteReader::new(payload, HEADER);
    let n = r.u32()? as usize;
    let json = r.take(n, "config")?;
    let mut config: MemoryConfig =
        serde_json::from_slice(json).map_err(|e| format!("config: {e}"))?;
    if version < 3 {
        config.coarse_level = 0; // no coarse chunks before format 3
    }
    let mut mem = SpatialMemory::new(config).map_err(|e| e.to_string())?;
    mem.tick = r.u64()?;
    mem.counters = Counters {
        points_written: r.u64()?,
        write_hits: r.u64()?,
        evicted_chunks: r.u64()?,
        eviction_passes: r.u64()?,
        carved: r.u64()?,
    };
    let grids = [false, true].map(|coarse| {
        let (levels, across) = mem.grid(coarse);
        (levels, across.to_vec())
    });
    let max_weight = mem.config.max_weight;
    let chunk_count = r.u64()?;
    // Every chunk takes at least 24 bytes: refuse counts the rest of the file cannot hold.
    if chunk_count > (r.remaining() / 24) as u64 {
        return Err(format!(
            "at byte {}: {chunk_count} chunks cannot fit in the {} bytes left",
            r.at,
            r.remaining()
        ));
    }
    for _ in 0..chunk_count {
        let coord = IVec3::new(r.i32()?, r.i32()?, r.i32()?);
        if coord.abs().max_element() > 1 << 28 {
            return Err(format!("at byte {}: chunk {coord} is out of range", r.at));
        }
        let coarse = match version {
            ..3 => false,
            _ => match r.u8()? {
                0 => false,
                1 => true,
                x => {
                    return Err(format!(
                        "at byte {}: chunk {coord} has kind {x}, expected 0 or 1",
                        r.at - 1
                    ));
                }
            },
        };
        let (levels, across) = &grids[coarse as usize];
        let mut chunk = Chunk::new(coord, coarse);
        chunk.last_seen = r.u64()?;
        let cells = r.u32()? as usize;
        if cells > r.remaining() / CELL_BYTES {
            return Err(format!(
                "at byte {}: chunk {coord} claims {cells} cells, more than the file holds",
                r.at
            ));
        }
        chunk.index.reserve(cells);
        for _ in 0..cells {
            let at = r.at;
            let key = r.u32()?;
            let pos = [r.u16()?, r.u16()?, r.u16()?];
            let rgb = [r.u8()?, r.u8()?, r.u8()?];
            let (weight, level, footprint_q) = (r.u8()?, r.u8()?, r.u8()?);
            let last_seen = r.u32()?;
            let key_level = key >> 27;
            let n = across.get(key_level as usize).copied().unwrap_or(0);
            let coords_ok = (key & 511) < n && (key >> 9 & 511) < n && (key >> 18 & 511) < n;
            if !levels.contains(&key_level)
                || level as u32 != key_level
                || !coords_ok
                || weight > max_weight
                || footprint_q == 0
            {
                return Err(format!("at byte {at}: invalid cell in chunk {coord}"));
            }
            let cell = Cell {
                pos,
                rgb,
                weight,
                level,
                footprint_q,
                last_seen,
            };
            if !chunk.insert(key, cell) {
                return Err(format!("at byte {at}: duplicate cell in chunk {coord}"));
            }
        }
        if !mem.insert_chunk(chunk) {
            return Err(format!("at byte {}: chunk {coord} appears twice", r.at));
        }
    }
    let (w, h) = (r.u32()?, r.u32()?);
    if (w, h) != (mem.sky.width, mem.sky.height) {
        return Err(format!(
            "at byte {}: sky panorama is {w}x{h}, the config calls for {}x{}",
            r.at, mem.sky.width, mem.sky.height
        ));
    }
    for t in mem.sky.texels.iter_mut() {
        for v in t.iter_mut() {
            let x = r.f32()?;
            if !(x.is_finite() && x >= 0.0) {
                return Err(format!("at byte {}: sky texel value {x}", r.at - 4));
            }
            *v = x;
        }
    }
    let frames = r.u32()? as usize;
    if frames > mem.config.keyframes {
        return Err(format!(
            "{frames} keyframes, more than the config's {}",
            mem.config.keyframes
        ));
    }
    for _ in 0..frames {
        let (k, pose) = read_camera(&mut r, "keyframe")?;
        let tick = r.u64()?;
        let n = k.pixels();
        let rgb = r.take(3 * n, "keyframe rgb")?.to_vec();
        let raw = r.take(4 * n, "keyframe depth")?;
        let depth_m = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        mem.keyframes.frames.push(Keyframe {
            intrinsics: k,
            pose,
            tick,
            rgb,
            depth_m,
        });
    }
    let pins = if version >= 4 { r.u32()? as usize } else { 0 };
    if pins > MAX_PINS {
        return Err(format!(
            "{pins} pinned views, more than the {MAX_PINS} a memory keeps"
        ));
    }
    for _ in 0..pins {
        let (k, pose) = read_camera(&mut r, "pinned view")?;
        let at = r.at;
        let raw = r.take(4 * k.pixels(), "pinned view depth")?;
        let free_m: Vec<f32> = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(i) = free_m.iter().position(|d| d.is_nan() || *d < 0.0) {
            return Err(format!(
                "at byte {}: pinned view depth {} (must be ≥ 0 or +inf)",
                at + 4 * i,
                free_m[i]
            ));
        }
        let (mut rgb, mut depth_m) = (Vec::new(), Vec::new());
        if version >= 5 {
            let at = r.at;
            match r.take(1, "pinned view flag")?[0] {
                0 => {}
                1 => {
                    rgb = r.take(3 * k.pixels(), "pinned view image")?.to_vec();
                    depth_m = r
                        .take(4 * k.pixels(), "pinned view image depth")?
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                }
                f => {
                    return Err(format!(
                        "at byte {at}: pinned view flag {f} (must be 0 or 1)"
                    ));
                }
            }
        }
        mem.pins.push(Pin::stored(k, pose, free_m, rgb, depth_m));
    }
    if r.remaining() != 0 {
        return Err(format!("{} unexpected bytes at the end", r.remaining()));
    }
    mem.after_load();
    Ok(mem)
}

/// A camera and the pose it was at: size `u32` ×2, fx fy cx cy `f32`, pose `f32` ×5.
fn put_camera(out: &mut Vec<u8>, k: &Intrinsics, pose: &Pose) {
    put_u32(out, k.width);
    put_u32(out, k.height);
    for v in [k.fx, k.fy, k.cx, k.cy] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in pose.to_array() {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// What [`put_camera`] wrote, checked (a valid size, finite and positive focal lengths, a finite
/// pose); `what` names it in errors.
fn read_camera(
    r: &mut ByteReader<'_>,
    what: &str,
) -> std::result::Result<(Intrinsics, Pose), String> {
    let at = r.at;
    let (width, height) = (r.u32()?, r.u32()?);
    reverie_core::pose::check_resolution(width, height)
        .map_err(|e| format!("at byte {at}: {what} {e}"))?;
    let k = Intrinsics {
        width,
        height,
        fx: r.f32()?,
        fy: r.f32()?,
        cx: r.f32()?,
        cy: r.f32()?,
    };
    let mut a = [0.0f32; 5];
    for v in &mut a {
        *v = r.f32()?;
    }
    let finite = [k.fx, k.fy, k.cx, k.cy]
        .iter()
        .chain(&a)
        .all(|v| v.is_finite());
    if !finite || k.fx <= 0.0 || k.fy <= 0.0 {
        return Err(format!("at byte {at}: {what} camera or pose is not finite"));
    }
    Ok((k, Pose::from_array(a)))
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Bounds-checked little-endian reader; `at` is the absolute file offset for messages.
/// Bounds-checked little-endian reads from a byte slice; errors say at which byte of the file
/// (`at` counts from where the slice starts in it) and what was being read.
#[derive(Debug)]
pub struct ByteReader<'a> {
    b: &'a [u8],
    /// Offset in the file of the next byte.
    pub at: usize,
}

impl<'a> ByteReader<'a> {
    /// Reads `bytes`, which start at offset `at` of the file.
    pub fn new(bytes: &'a [u8], at: usize) -> ByteReader<'a> {
        ByteReader { b: bytes, at }
    }
    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.b.len()
    }
    /// The next `n` bytes; `what` names them in the error.
    pub fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        if n > self.b.len() {
            return Err(format!(
                "truncated at byte {}: {what} needs {n} bytes, {} left",
                self.at,
                self.b.len()
            ));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        self.at += n;
        Ok(head)
    }
    /// `n` little-endian `f32`s; `what` names them in the error.
    pub fn f32s(&mut self, n: usize, what: &str) -> std::result::Result<Vec<f32>, String> {
        let bytes = n
            .checked_mul(4)
            .ok_or_else(|| format!("{what}: count {n} out of range"))?;
        Ok(self
            .take(bytes, what)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
    fn arr<const N: usize>(&mut self) -> std::result::Result<[u8; N], String> {
        let s = self.take(N, "a value")?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    /// A little-endian `u8`.
    pub fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.arr::<1>()?[0])
    }
    /// A little-endian `u16`.
    pub fn u16(&mut self) -> std::result::Result<u16, String> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    /// A little-endian `u32`.
    pub fn u32(&mut self) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    /// A little-endian `i32`.
    pub fn i32(&mut self) -> std::result::Result<i32, String> {
        Ok(i32::from_le_bytes(self.arr()?))
    }
    /// A little-endian `u64`.
    pub fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    /// A little-endian `f32`.
    pub fn f32(&mut self) -> std::result::Result<f32, String> {
        Ok(f32::from_le_bytes(self.arr()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
