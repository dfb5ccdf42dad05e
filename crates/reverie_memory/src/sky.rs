//! The sky panorama: what was seen at infinity (depth `+inf`), stored by direction in an
//! equirectangular map from 45° below the horizon to the zenith, written and read bilinearly.

use glam::Vec3;

/// Lowest elevation the panorama stores, in degrees.
const EL_MIN_DEG: f32 = -45.0;

/// Direction-indexed colour of everything seen at infinity.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sky {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Per texel: weighted colour sums (0..255 scale) and the weight.
    pub(crate) texels: Vec<[f32; 4]>,
}

/// Weight at which a texel's sums are rescaled (the average then follows recent views).
const MAX_WEIGHT: f32 = 32.0;

impl Sky {
    pub(crate) fn new(texels_per_degree: f32) -> Sky {
        let width = (360.0 * texels_per_degree).round().max(4.0) as u32;
        let height = ((90.0 - EL_MIN_DEG) * texels_per_degree).round().max(2.0) as u32;
        Sky {
            width,
            height,
            texels: vec![[0.0; 4]; (width * height) as usize],
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.texels.len() * size_of::<[f32; 4]>()
    }

    /// Continuous texel coordinates of a unit direction (None below the stored range).
    #[inline]
    fn coords(&self, d: Vec3) -> Option<(f32, f32)> {
        let el = d.y.clamp(-1.0, 1.0).asin().to_degrees();
        if el < EL_MIN_DEG {
            return None;
        }
        // Azimuth 0 along -z, growing towards +x (the yaw convention).
        let az = d.x.atan2(-d.z).to_degrees().rem_euclid(360.0);
        let x = az / 360.0 * self.width as f32 - 0.5;
        let y = (90.0 - el) / (90.0 - EL_MIN_DEG) * self.height as f32 - 0.5;
        Some((x, y))
    }

    /// The four texels around continuous coordinates with bilinear weights (x wraps around).
    #[inline]
    fn taps(&self, x: f32, y: f32) -> [(usize, f32); 4] {
        let (w, h) = (self.width as i32, self.height as i32);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as i32, y0 as i32);
        let idx = |xx: i32, yy: i32| (yy.clamp(0, h - 1) * w + xx.rem_euclid(w)) as usize;
        [
            (idx(x0, y0), (1.0 - fx) * (1.0 - fy)),
            (idx(x0 + 1, y0), fx * (1.0 - fy)),
            (idx(x0, y0 + 1), (1.0 - fx) * fy),
            (idx(x0 + 1, y0 + 1), fx * fy),
        ]
    }

    /// Adds one observation of colour `rgb` in unit direction `d`.
    pub(crate) fn write(&mut self, d: Vec3, rgb: [u8; 3]) {
        let Some((x, y)) = self.coords(d) else {
            return;
        };
        for (i, w) in self.taps(x, y) {
            let t = &mut self.texels[i];
            if t[3] > MAX_WEIGHT {
                for c in t.iter_mut() {
                    *c *= 0.5;
                }
            }
            t[0] += w * rgb[0] as f32;
            t[1] += w * rgb[1] as f32;
            t[2] += w * rgb[2] as f32;
            t[3] += w;
        }
    }

    /// Colour seen in unit direction `d`, if enough was seen around it.
    #[inline]
    pub(crate) fn read(&self, d: Vec3) -> Option<[u8; 3]> {
        let (x, y) = self.coords(d)?;
        let mut acc = [0.0f32; 4];
        for (i, w) in self.taps(x, y) {
            let t = &self.texels[i];
            if t[3] > 0.0 {
                let s = w / t[3];
                acc[0] += s * t[0];
                acc[1] += s * t[1];
                acc[2] += s * t[2];
                acc[3] += w;
            }
        }
        // Require most of the bilinear footprint to have been seen.
        if acc[3] < 0.5 {
            return None;
        }
        let inv = 1.0 / acc[3];
        Some([
            (acc[0] * inv).round().clamp(0.0, 255.0) as u8,
            (acc[1] * inv).round().clamp(0.0, 255.0) as u8,
            (acc[2] * inv).round().clamp(0.0, 255.0) as u8,
        ])
    }
}
