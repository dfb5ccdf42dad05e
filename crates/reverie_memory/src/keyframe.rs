//! Keyframes and their retrieval by view overlap (WorldMem-style field-of-view overlap, made
//! occlusion-aware with the keyframe's depth, minus an age penalty).

use glam::Vec3;
use reverie_core::{Intrinsics, Pose, TICK_HZ};
use serde::{Deserialize, Serialize};

/// A stored frame: what a model that wants frames rather than splats gets back.
#[derive(Clone, Debug, PartialEq)]
pub struct Keyframe {
    /// The camera it was seen with.
    pub intrinsics: Intrinsics,
    /// Where it was seen from.
    pub pose: Pose,
    /// When.
    pub tick: u64,
    /// RGB, row-major.
    pub rgb: Vec<u8>,
    /// Planar depth in metres (`+inf` = sky).
    pub depth_m: Vec<f32>,
}

/// One retrieval result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyframeMatch {
    /// Index for [`crate::SpatialMemory::keyframe`].
    pub index: usize,
    /// The keyframe's tick.
    pub tick: u64,
    /// Share of the query's sample points the keyframe saw, in `[0, 1]`.
    pub overlap: f32,
    /// `overlap - age_penalty_per_min · age in minutes`.
    pub score: f32,
}

/// Sample grid across the query view (per side).
const GRID: u32 = 12;
/// Depths the frustum is sampled at when the query has no depth.
const FRUSTUM_DEPTHS: [f32; 7] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct KeyframeStore {
    pub(crate) frames: Vec<Keyframe>,
    capacity: usize,
}

/// A sample point: world position (or direction, for sky) and whether it is at infinity.
#[derive(Clone, Copy, Debug)]
struct Sample {
    p: Vec3,
    at_infinity: bool,
    /// A surface point (must match the keyframe's depth) rather than a free-space sample.
    surface: bool,
}

impl KeyframeStore {
    pub(crate) fn new(capacity: usize) -> KeyframeStore {
        KeyframeStore {
            frames: Vec::new(),
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }

    pub(crate) fn get(&self, i: usize) -> Option<&Keyframe> {
        self.frames.get(i)
    }

    pub(crate) fn bytes(&self) -> usize {
        self.frames.capacity() * size_of::<Keyframe>()
            + self
                .frames
                .iter()
                .map(|f| f.rgb.capacity() + 4 * f.depth_m.capacity())
                .sum::<usize>()
    }

    /// Keeps the frame if no kept keyframe overlaps it by `novelty` or more; when full, the
    /// oldest keyframe makes room.
    pub(crate) fn consider(
        &mut self,
        k: &Intrinsics,
        rgb: &[u8],
        depth: &[f32],
        pose: &Pose,
        tick: u64,
        novelty: f32,
        capacity: usize,
    ) {
        self.capacity = capacity;
        let samples = samples(pose, k, Some(depth));
        let best = self
            .frames
            .iter()
            .map(|f| overlap(f, &samples))
            .fold(0.0f32, f32::max);
        if !self.frames.is_empty() && best >= novelty {
            return;
        }
        if self.frames.len() >= self.capacity
            && let Some((oldest, _)) = self.frames.iter().enumerate().min_by_key(|(_, f)| f.tick)
        {
            self.frames.remove(oldest);
        }
        self.frames.push(Keyframe {
            intrinsics: *k,
            pose: *pose,
            tick,
            rgb: rgb.to_vec(),
            depth_m: depth.to_vec(),
        });
    }

    pub(crate) fn retrieve(
        &self,
        pose: &Pose,
        k: &Intrinsics,
        query_depth: Option<&[f32]>,
        now: u64,
        age_penalty_per_min: f32,
        max: usize,
    ) -> Vec<KeyframeMatch> {
        let query_depth = query_depth.filter(|d| d.len() == k.pixels());
        let samples = samples(pose, k, query_depth);
        let mut out: Vec<KeyframeMatch> = self
            .frames
            .iter()
            .enumerate()
            .map(|(index, f)| {
                let ov = overlap(f, &samples);
                let age_min = now.saturating_sub(f.tick) as f32 / (60.0 * TICK_HZ as f32);
                KeyframeMatch {
                    index,
                    tick: f.tick,
                    overlap: ov,
                    score: ov - age_penalty_per_min * age_min,
                }
            })
            .filter(|m| m.overlap > 0.0)
            .collect();
        out.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.tick.cmp(&a.tick)));
        out.truncate(max);
        out
    }
}

/// Sample points of a view: surface points on a grid if depth is known, else frustum samples.
fn samples(pose: &Pose, k: &Intrinsics, depth: Option<&[f32]>) -> Vec<Sample> {
    let wfc = pose.world_from_camera();
    let mut out = Vec::new();
    for gy in 0..GRID {
        for gx in 0..GRID {
            let x = ((gx as f32 + 0.5) / GRID as f32 * k.width as f32).floor();
            let y = ((gy as f32 + 0.5) / GRID as f32 * k.height as f32).floor();
            let ray = k.ray_camera(x, y);
            match depth {
                Some(d) => {
                    let z = d[y as usize * k.width as usize + x as usize];
                    if z.is_infinite() {
                        out.push(Sample {
                            p: wfc.transform_vector3(ray).normalize(),
                            at_infinity: true,
                            surface: true,
                        });
                    } else if z > 0.0 {
                        out.push(Sample {
                            p: wfc.transform_point3(ray * z),
                            at_infinity: false,
                            surface: true,
                        });
                    }
                }
                None => {
                    for &z in &FRUSTUM_DEPTHS {
                        out.push(Sample {
                            p: wfc.transform_point3(ray * z),
                            at_infinity: false,
                            surface: false,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Share of the samples the keyframe saw: inside its image and consistent with its depth.
fn overlap(f: &Keyframe, samples: &[Sample]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let cfw = f.pose.camera_from_world();
    let k = &f.intrinsics;
    let mut seen = 0usize;
    for s in samples {
        let pc = if s.at_infinity {
            cfw.transform_vector3(s.p)
        } else {
            cfw.transform_point3(s.p)
        };
        let Some((u, v, z)) = k.project(pc) else {
            continue;
        };
        if !(u >= 0.0 && v >= 0.0 && u < k.width as f32 && v < k.height as f32) {
            continue;
        }
        let d = f.depth_m[v as usize * k.width as usize + u as usize];
        let ok = if s.at_infinity {
            d.is_infinite()
        } else if s.surface {
            (z - d).abs() <= 0.05 * z + 0.25
        } else {
            z <= d + 0.05 * z + 0.25
        };
        seen += ok as usize;
    }
    seen as f32 / samples.len() as f32
}
