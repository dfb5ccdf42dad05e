//! A rendered or generated frame.

use crate::Pose;

/// An RGB image with planar metric depth, the pose it was seen from and its tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGB, 3 bytes per pixel.
    pub rgb: Vec<u8>,
    /// Row-major planar depth in metres; `f32::INFINITY` where nothing was hit (sky).
    pub depth_m: Vec<f32>,
    /// The camera pose.
    pub pose: Pose,
    /// The simulation tick.
    pub tick: u64,
}

impl Frame {
    /// A black frame with infinite depth.
    pub fn new(width: u32, height: u32, pose: Pose, tick: u64) -> Frame {
        let n = width as usize * height as usize;
        Frame {
            width,
            height,
            rgb: vec![0; 3 * n],
            depth_m: vec![f32::INFINITY; n],
            pose,
            tick,
        }
    }

    /// A 64-bit FNV-1a hash of the pixels and depth bits: equal frames hash equal.
    pub fn content_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        self.rgb.iter().for_each(|&b| eat(b));
        self.depth_m
            .iter()
            .flat_map(|d| d.to_bits().to_le_bytes())
            .for_each(&mut eat);
        h
    }
}
