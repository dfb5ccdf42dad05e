//! [`View`]: what the memory or the warp shows at a pose — RGB, planar depth and a confidence per
//! pixel — and the z-buffered splat rasteriser both of them draw with.

use reverie_core::Intrinsics;

/// An image produced by the memory ([`crate::SpatialMemory::render`]) or by
/// [`crate::warp`]: RGB, planar depth (`+inf` = sky) and confidence in `[0, 1]` per pixel.
/// Confidence 0 means "nothing known here" (the pixel is not covered): the model must invent it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGB, 3 bytes per pixel; black where not covered.
    pub rgb: Vec<u8>,
    /// Planar depth in metres; `+inf` for sky and for pixels that are not covered.
    pub depth_m: Vec<f32>,
    /// 0 = not covered; otherwise how sure the memory is (more observations → closer to 1).
    pub confidence: Vec<f32>,
    /// Per pixel while drawing: the front surface's colour sum and weight (both scaled by the
    /// samples' gains), and its coverage (tent weights alone).
    acc: Vec<[f32; 5]>,
    /// Per pixel while drawing: the front surface's biased depth (what splats are tested against).
    front: Vec<f32>,
    /// Per pixel while drawing: weighted colour sum and weight of the sky behind.
    sky: Vec<[f32; 4]>,
}

/// Relative depth difference under which two splats count as the same surface (and blend).
pub(crate) const SAME_SURFACE: f32 = 0.06;

/// Total weight under which a pixel counts as not covered.
const MIN_WEIGHT: f32 = 0.1;

impl View {
    /// An empty (uncovered) view of the intrinsics' size.
    pub fn new(k: &Intrinsics) -> View {
        let mut v = View::default();
        v.reset(k);
        v
    }

    /// Clears to "nothing covered", resizing to the intrinsics.
    pub fn reset(&mut self, k: &Intrinsics) {
        let n = k.pixels();
        self.width = k.width;
        self.height = k.height;
        self.rgb.clear();
        self.rgb.resize(n * 3, 0);
        self.depth_m.clear();
        self.depth_m.resize(n, f32::INFINITY);
        self.confidence.clear();
        self.confidence.resize(n, 0.0);
        self.acc.clear();
        self.acc.resize(n, [0.0; 5]);
        self.front.clear();
        self.front.resize(n, f32::INFINITY);
        self.sky.clear();
        self.sky.resize(n, [0.0; 4]);
    }

    /// Whether pixel `i` is covered.
    pub fn covered(&self, i: usize) -> bool {
        self.confidence[i] > 0.0
    }

    /// Coverage mask (true = covered).
    pub fn mask(&self) -> Vec<bool> {
        self.confidence.iter().map(|&c| c > 0.0).collect()
    }

    /// Fraction of covered pixels.
    pub fn coverage(&self) -> f64 {
        if self.confidence.is_empty() {
            return 0.0;
        }
        self.confidence.iter().filter(|&&c| c > 0.0).count() as f64 / self.confidence.len() as f64
    }

    /// The mask as a greyscale RGB image (confidence × 255), for strips and debugging.
    pub fn mask_rgb(&self) -> Vec<u8> {
        self.confidence
            .iter()
            .flat_map(|&c| {
                let g = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
                [g, g, g]
            })
            .collect()
    }

    /// Surface weight drawn at pixel `i` so far (before [`View::resolve`]).
    pub(crate) fn surface_weight(&self, i: usize) -> f32 {
        self.acc[i][4]
    }

    /// Adds sky colour behind pixel `i` with weight `w`.
    pub(crate) fn add_sky(&mut self, i: usize, rgb: [u8; 3], w: f32) {
        let s = &mut self.sky[i];
        s[0] += w * rgb[0] as f32;
        s[1] += w * rgb[1] as f32;
        s[2] += w * rgb[2] as f32;
        s[3] += w;
    }

    /// Turns the accumulated splats into colours: the front surface, see-through (blended with
    /// the sky behind) where its weight is below 1. `surface_conf(i)` gives a covered surface
    /// pixel's confidence; sky-only pixels get `sky_conf`.
    pub(crate) fn resolve(&mut self, sky_conf: f32) {
        for i in 0..self.acc.len() {
            let [r, g, b, gw, sw] = self.acc[i];
            let [sr, sg, sb, kw] = self.sky[i];
            if sw + kw < MIN_WEIGHT {
                self.confidence[i] = 0.0;
                continue;
            }
            let alpha = if kw > 0.0 { sw.min(1.0) } else { 1.0 };
            let (mut c, mut ck) = ([0.0f32; 3], [0.0f32; 3]);
            if gw > 0.0 {
                c = [r / gw, g / gw, b / gw];
            }
            if kw > 0.0 {
                ck = [sr / kw, sg / kw, sb / kw];
            }
            for ch in 0..3 {
                let v = alpha * c[ch] + (1.0 - alpha) * ck[ch];
                self.rgb[3 * i + ch] = v.round().clamp(0.0, 255.0) as u8;
            }
            if alpha < 0.5 {
                self.depth_m[i] = f32::INFINITY;
                self.confidence[i] = sky_conf;
            } else if self.confidence[i] == 0.0 {
                self.confidence[i] = sky_conf;
            }
        }
    }
}

/// Draws tent-weighted splats into a [`View`] with a soft z-test.
pub(crate) struct Splatter<'a> {
    w: i32,
    h: i32,
    wf: f32,
    hf: f32,
    view: &'a mut View,
}

impl<'a> Splatter<'a> {
    pub(crate) fn new(view: &'a mut View) -> Splatter<'a> {
        Splatter {
            w: view.width as i32,
            h: view.height as i32,
            wf: view.width as f32,
            hf: view.height as f32,
            view,
        }
    }

    /// Pixel range whose centres lie within `r` of `c` (inclusive, clipped; maybe empty).
    #[inline(always)]
    fn span(c: f32, r: f32, n: i32) -> (i32, i32) {
        let lo = (c - r - 0.5).floor() as i32 + 1;
        let hi = (c + r - 0.5).ceil() as i32 - 1;
        (lo.max(0), hi.min(n - 1))
    }

    /// A sample at continuous pixel coordinates `(u, v)` spreads over the pixels within `r` (its
    /// footprint in pixels, at least 0.71 so it reaches a pixel centre) with tent weights
    /// `(1 - |dx|/r)(1 - |dy|/r)`: exact at the sample, bilinear-like between samples. The
    /// z-test uses `z + bias` (coarser samples are pushed back so finer ones win on the same
    /// surface); samples within [`SAME_SURFACE`] of the front blend; a nearer surface replaces it
    /// unless it only reaches the pixel with a thin edge, and a farther one replaces a front that
    /// is only such an edge.
    #[inline(always)]
    pub(crate) fn splat(
        &mut self,
        u: f32,
        v: f32,
        z: f32,
        bias: f32,
        r: f32,
        gain: f32,
        rgb: [u8; 3],
        conf: f32,
    ) {
        let r = r.max(0.71);
        if !(u > -r && v > -r && u < self.wf + r && v < self.hf + r) {
            return;
        }
        let zt = z + bias;
        let inv = 1.0 / r;
        let (x0, x1) = Self::span(u, r, self.w);
        let (y0, y1) = Self::span(v, r, self.h);
        let [cr, cg, cb] = [rgb[0] as f32, rgb[1] as f32, rgb[2] as f32];
        let view = &mut *self.view;
        for y in y0..=y1 {
            let wy = 1.0 - (y as f32 + 0.5 - v).abs() * inv;
            let row = (y * self.w) as usize;
            for x in x0..=x1 {
                let wt = wy * (1.0 - (x as f32 + 0.5 - u).abs() * inv);
                if wt <= 0.0 {
                    continue;
                }
                // Squared tent: a sample right on the pixel centre dominates its neighbours.
                let wt = wt * wt;
                let wg = wt * gain;
                let i = row + x as usize;
                let front = view.front[i];
                let tol = SAME_SURFACE * front.min(zt);
                let held = view.acc[i][4];
                // A different surface takes the pixel if it is in front and not just the thin
                // edge of a splat (an occluder's silhouette), or if what holds the pixel is.
                let takes = if zt < front - tol {
                    wt >= 0.5 || wt > held
                } else {
                    zt >= front + tol && held < 0.5 && wt > held
                };
                if takes {
                    view.front[i] = zt;
                    view.depth_m[i] = z;
                    view.confidence[i] = conf;
                    view.acc[i] = [wg * cr, wg * cg, wg * cb, wg, wt];
                } else if zt < front + tol && zt >= front - tol {
                    let a = &mut view.acc[i];
                    a[0] += wg * cr;
                    a[1] += wg * cg;
                    a[2] += wg * cb;
                    a[3] += wg;
                    a[4] += wt;
                    if zt < front {
                        view.front[i] = zt;
                        view.depth_m[i] = z;
                    }
                    view.confidence[i] = view.confidence[i].max(conf);
                }
            }
        }
    }

    /// A sky sample (direction only) with tent weights over `r` pixels.
    #[inline(always)]
    pub(crate) fn splat_sky(&mut self, u: f32, v: f32, r: f32, rgb: [u8; 3]) {
        let r = r.max(0.71);
        if !(u > -r && v > -r && u < self.wf + r && v < self.hf + r) {
            return;
        }
        let inv = 1.0 / r;
        let (x0, x1) = Self::span(u, r, self.w);
        let (y0, y1) = Self::span(v, r, self.h);
        for y in y0..=y1 {
            let wy = 1.0 - (y as f32 + 0.5 - v).abs() * inv;
            for x in x0..=x1 {
                let wt = wy * (1.0 - (x as f32 + 0.5 - u).abs() * inv);
                if wt > 0.0 {
                    self.view.add_sky((y * self.w + x) as usize, rgb, wt);
                }
            }
        }
    }
}
