//! [`View`]: what the memory or the warp shows at a pose — RGB, planar depth and a confidence per
//! pixel — and the z-buffered splat rasteriser both of them draw with.

use reverie_core::Intrinsics;

/// An image produced by the memory ([`crate::SpatialMemory::render`]) or by
/// [`crate::warp`]: RGB, planar depth (`+inf` = sky) and confidence in `[0, 1]` per pixel.
/// Confidence 0 means "nothing known here" (the pixel is not covered): the model must invent it.
#[derive(Clone, Debug, Default)]
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
    /// Per pixel while drawing: colour sum and weight of the samples on the visible surface
    /// (scaled by their gains), their coverage (tent weights) and depth sum.
    acc: Vec<[f32; 6]>,
    /// Per pixel while drawing: the nearest biased depth of a splat whose core reaches the pixel.
    front: Vec<f32>,
    /// Per pixel while drawing: the nearest biased depth of any splat reaching the pixel.
    loose: Vec<f32>,
    /// Per pixel while drawing: weighted colour sum and weight of the sky behind.
    sky: Vec<[f32; 4]>,
    /// Splats collected for the two drawing passes (reused between calls).
    pub(crate) splats: Vec<Splat>,
    /// Per pixel while drawing colours: the farthest depth that blends (see `colour_pass`).
    limit: Vec<f32>,
    /// How many of `splats` the depth pass has drawn.
    depth_done: usize,
    /// Per [`TILE`]×[`TILE`] tile: the farthest `front` of its pixels, as of the last depth
    /// pass (`+inf` while any pixel has no core yet) — what a splat must be in front of to show.
    tiles: Vec<f32>,
    /// Per pixel: the id of the splat that set its visible depth ([`NO_ID`] if none).
    pub(crate) ids: Vec<u64>,
    /// The memory instance and generation this view was rendered from (`None` for warps).
    pub(crate) rendered_by: Option<(u64, u64)>,
    /// Splats drawn into this view.
    drawn: usize,
    /// Pixels the drawn splats reached (each splat's footprint, summed).
    touched: usize,
    /// Memory chunks in the view's frustum, and those of them that gave splats.
    pub(crate) chunks: (usize, usize),
}

/// Edge in pixels of the tiles [`View::hidden`] tests against.
const TILE: u32 = 8;

/// Relative depth difference under which two splats count as the same surface (and blend).
pub const SAME_SURFACE: f32 = 0.06;

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
        self.acc.resize(n, [0.0; 6]);
        self.front.clear();
        self.front.resize(n, f32::INFINITY);
        self.loose.clear();
        self.loose.resize(n, f32::INFINITY);
        self.splats.clear();
        self.depth_done = 0;
        self.tiles.clear();
        self.tiles.resize(
            k.width.div_ceil(TILE) as usize * k.height.div_ceil(TILE) as usize,
            f32::INFINITY,
        );
        self.ids.clear();
        self.ids.resize(n, NO_ID);
        self.rendered_by = None;
        self.drawn = 0;
        self.touched = 0;
        self.chunks = (0, 0);
        self.sky.clear();
        self.sky.resize(n, [0.0; 4]);
    }

    /// How many splats (memory cells or warped pixels) were drawn into this view: the work a
    /// render or warp did.
    pub fn splats_drawn(&self) -> usize {
        self.drawn
    }

    /// How many pixels those splats reached, summed over splats (the rasterising work; divided
    /// by the pixel count, the overdraw).
    pub fn pixels_touched(&self) -> usize {
        self.touched
    }

    /// Memory chunks in the view's frustum and those of them that were drawn (not culled, not
    /// thinned to nothing): the per-chunk work of a memory render (zeros for a warp).
    pub fn chunks_drawn(&self) -> (usize, usize) {
        self.chunks
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

    /// Whether a surface fully covers pixel `i` (after [`View::draw`], before [`View::resolve`]):
    /// nothing behind it can show through.
    pub(crate) fn solid(&self, i: usize) -> bool {
        self.front[i].is_finite() || self.acc[i][4] >= 1.0
    }

    /// Adds sky colour behind pixel `i` with weight `w`.
    pub(crate) fn add_sky(&mut self, i: usize, rgb: [u8; 3], w: f32) {
        let s = &mut self.sky[i];
        s[0] += w * rgb[0] as f32;
        s[1] += w * rgb[1] as f32;
        s[2] += w * rgb[2] as f32;
        s[3] += w;
    }

    /// Turns the accumulated splats into colours: the visible surface, see-through (blended
    /// with the sky behind) where only the thin edges of splats reach it. Covered surface pixels
    /// keep the confidence of their best sample; sky-only pixels get `sky_conf`.
    pub(crate) fn resolve(&mut self, sky_conf: f32) {
        for i in 0..self.acc.len() {
            let [r, g, b, gw, cov, zs] = self.acc[i];
            let [sr, sg, sb, kw] = self.sky[i];
            let core = self.front[i].is_finite();
            if !core && cov + kw < MIN_WEIGHT {
                self.confidence[i] = 0.0;
                continue;
            }
            let alpha = if core || kw <= 0.0 { 1.0 } else { cov.min(1.0) };
            let (mut c, mut ck) = ([0.0f32; 3], [0.0f32; 3]);
            if gw > 0.0 {
                c = [r / gw, g / gw, b / gw];
                self.depth_m[i] = zs / gw;
            }
            if kw > 0.0 {
                ck = [sr / kw, sg / kw, sb / kw];
            }
            for ch in 0..3 {
                let v = alpha * c[ch] + (1.0 - alpha) * ck[ch];
                self.rgb[3 * i + ch] = v.round().clamp(0.0, 255.0) as u8;
            }
            if alpha < 0.5 || gw <= 0.0 {
                self.depth_m[i] = f32::INFINITY;
                self.confidence[i] = sky_conf;
            } else if self.confidence[i] == 0.0 {
                self.confidence[i] = sky_conf;
            }
        }
    }

    /// Draws the collected [`View::splats`] in two passes, so the result does not depend on
    /// their order: first the visible depth per pixel (the nearest splat whose core — the part
    /// where its tent weight is at least [`CORE`] — reaches the pixel; any splat where none
    /// does), then the colours of the splats within [`SAME_SURFACE`] of it, blended with tent
    /// weights to the power `blend_power` (a sample right on the pixel centre dominates its
    /// neighbours: more so the higher the power). Cores keep
    /// surfaces hole-free and silhouettes tight; the soft tails interpolate between samples.
    pub(crate) fn draw(&mut self, blend_power: f32) {
        self.depth_pass();
        self.colour_pass(blend_power);
    }

    /// The first pass of [`View::draw`] for the splats collected since the last call. A renderer
    /// that collects near to far can call it now and then, with [`View::refresh_tiles`], and
    /// drop what is already hidden.
    pub(crate) fn depth_pass(&mut self) {
        let (w, h) = (self.width as i32, self.height as i32);
        let splats = std::mem::take(&mut self.splats);
        let mut touched = 0usize;
        let mut wx = TentRow::default();
        for s in &splats[self.depth_done..] {
            let Some(([x0, x1, y0, y1], inv)) = s.span(w, h) else {
                continue;
            };
            let wx = wx.fill(s, x0, x1, inv);
            let (zt, id) = (s.zt, s.id);
            for y in y0..=y1 {
                let wy = 1.0 - (y as f32 + 0.5 - s.v).abs() * inv;
                let at = (y * w + x0) as usize;
                let end = at + wx.len();
                let loose = &mut self.loose[at..end];
                let front = &mut self.front[at..end];
                let ids = &mut self.ids[at..end];
                // Without branches (selects): which of a splat's pixels take its depth is
                // data, and mispredicted branches were much of this loop's time.
                for (j, &x) in wx.iter().enumerate() {
                    let lin = wy * x;
                    let hit = lin > 0.0;
                    touched += usize::from(hit);
                    let l = loose[j];
                    loose[j] = if hit && zt < l { zt } else { l };
                    let (f, i) = (front[j], ids[j]);
                    let core = lin >= CORE && zt < f;
                    front[j] = if core { zt } else { f };
                    ids[j] = if core { id } else { i };
                }
            }
        }
        self.touched += touched;
        self.depth_done = splats.len();
        self.splats = splats;
    }

    /// Each tile's farthest `front` (for [`View::hidden`]), after a [`View::depth_pass`].
    pub(crate) fn refresh_tiles(&mut self) {
        let (tw, t) = (self.width.div_ceil(TILE) as usize, TILE as usize);
        let w = self.width as usize;
        for (ti, m) in self.tiles.iter_mut().enumerate() {
            let (x0, y0) = ((ti % tw) * t, (ti / tw) * t);
            let x1 = (x0 + t).min(w);
            let y1 = (y0 + t).min(self.height as usize);
            let mut far = 0.0f32;
            for y in y0..y1 {
                for &f in &self.front[y * w + x0..y * w + x1] {
                    far = far.max(f);
                }
            }
            *m = far;
        }
    }

    /// Whether everything at depth `z` or farther within pixel columns `u0..u1` and rows
    /// `v0..v1` (continuous coordinates) would be hidden by what the depth passes so far have
    /// drawn: nothing there could change the image ([`View::draw`] keeps only what is within
    /// [`SAME_SURFACE`] of the nearest core, and that only gets nearer).
    #[inline]
    pub(crate) fn hidden(&self, u0: f32, u1: f32, v0: f32, v1: f32, z: f32) -> bool {
        let tw = self.width.div_ceil(TILE) as i32;
        let th = self.height.div_ceil(TILE) as i32;
        let tile = |c: f32, n: i32| ((c.max(0.0) as i32) / TILE as i32).min(n - 1);
        if u1 < 0.0 || v1 < 0.0 || u0 >= self.width as f32 || v0 >= self.height as f32 {
            return true;
        }
        let (x0, x1, y0, y1) = (tile(u0, tw), tile(u1, tw), tile(v0, th), tile(v1, th));
        // (A hair stricter than the colour pass's test, so rounding cannot tell them apart.)
        let limit = z * (1.0 - 1e-5);
        for y in y0..=y1 {
            for &far in &self.tiles[(y * tw + x0) as usize..=(y * tw + x1) as usize] {
                if far * (1.0 + SAME_SURFACE) >= limit {
                    return false;
                }
            }
        }
        true
    }

    /// The second pass of [`View::draw`], over every splat collected; colours blend with
    /// weights `tent^blend_power`.
    fn colour_pass(&mut self, blend_power: f32) {
        let (w, h) = (self.width as i32, self.height as i32);
        let splats = std::mem::take(&mut self.splats);
        self.drawn += splats.len();
        // Per pixel, the depth a sample must not be behind to blend: the same-surface margin
        // behind the nearest core (or, where no core reached, the nearest splat).
        let mut limit = std::mem::take(&mut self.limit);
        limit.clear();
        limit.extend(self.front.iter().zip(&self.loose).map(|(&f, &l)| {
            let reference = if f.is_finite() { f } else { l };
            reference * (1.0 + SAME_SURFACE)
        }));
        let mut wx = TentRow::default();
        for s in &splats {
            let Some(([x0, x1, y0, y1], inv)) = s.span(w, h) else {
                continue;
            };
            let wx = wx.fill(s, x0, x1, inv);
            let [cr, cg, cb] = [s.rgb[0] as f32, s.rgb[1] as f32, s.rgb[2] as f32];
            let (zt, z, gain, conf) = (s.zt, s.z, s.gain, s.conf);
            for y in y0..=y1 {
                let wy = 1.0 - (y as f32 + 0.5 - s.v).abs() * inv;
                let at = (y * w + x0) as usize;
                let end = at + wx.len();
                let limit = &limit[at..end];
                let acc = &mut self.acc[at..end];
                let confidence = &mut self.confidence[at..end];
                // Without branches, as in the depth pass: a sample that does not blend adds
                // zeros (exactly: every sum here is of non-negative terms).
                for (j, &x) in wx.iter().enumerate() {
                    let lin = wy * x;
                    let ok = lin > 0.0 && zt <= limit[j];
                    let wg = if ok {
                        tent_power(lin, blend_power) * gain
                    } else {
                        0.0
                    };
                    let a = &mut acc[j];
                    a[0] += wg * cr;
                    a[1] += wg * cg;
                    a[2] += wg * cb;
                    a[3] += wg;
                    a[4] += if ok { lin } else { 0.0 };
                    a[5] += wg * z;
                    let c = confidence[j];
                    confidence[j] = if ok && conf > c { conf } else { c };
                }
            }
        }
        self.limit = limit;
        self.splats = splats;
        self.splats.clear();
        self.depth_done = 0;
    }

    /// A sky sample (direction only) with tent weights over `r` pixels, at continuous pixel
    /// coordinates `(u, v)`.
    pub(crate) fn splat_sky(&mut self, u: f32, v: f32, r: f32, rgb: [u8; 3]) {
        let s = Splat {
            u,
            v,
            r: r.max(MIN_RADIUS),
            id: NO_ID,
            ..Splat::default()
        };
        s.for_each_pixel(self.width as i32, self.height as i32, |i, lin| {
            self.add_sky(i, rgb, lin);
        });
    }
}

/// Views are equal when what they show is: size, colours, depths and confidences (not the
/// bookkeeping of how they were drawn).
impl PartialEq for View {
    fn eq(&self, other: &View) -> bool {
        self.width == other.width
            && self.height == other.height
            && self.rgb == other.rgb
            && self.depth_m == other.depth_m
            && self.confidence == other.confidence
    }
}

/// `lin^p`, with the usual even powers as products.
#[inline(always)]
fn tent_power(lin: f32, p: f32) -> f32 {
    let l2 = lin * lin;
    if p == 2.0 {
        l2
    } else if p == 4.0 {
        l2 * l2
    } else if p == 8.0 {
        let l4 = l2 * l2;
        l4 * l4
    } else {
        lin.powf(p)
    }
}

/// Widest splat row [`TentRow`] holds on the stack (wider ones, which no caller makes, go to
/// the heap).
const TENT_STACK: usize = 160;

/// The tent's x weights `1 - |dx|/r` of one splat's pixel columns, reused between splats
/// without a heap allocation.
struct TentRow {
    stack: [f32; TENT_STACK],
    heap: Vec<f32>,
}

impl Default for TentRow {
    fn default() -> TentRow {
        TentRow {
            stack: [0.0; TENT_STACK],
            heap: Vec::new(),
        }
    }
}

impl TentRow {
    /// The weights of columns `x0..=x1` of splat `s` (as [`Splat::for_each_pixel`] computes
    /// them).
    #[inline(always)]
    fn fill(&mut self, s: &Splat, x0: i32, x1: i32, inv: f32) -> &[f32] {
        let n = (x1 - x0 + 1) as usize;
        let row = if n <= TENT_STACK {
            &mut self.stack[..n]
        } else {
            self.heap.resize(n, 0.0);
            &mut self.heap[..]
        };
        for (j, wx) in row.iter_mut().enumerate() {
            *wx = 1.0 - ((x0 + j as i32) as f32 + 0.5 - s.u).abs() * inv;
        }
        row
    }
}

/// The id of a splat that is not a memory cell.
pub(crate) const NO_ID: u64 = u64::MAX;

/// Tent weight from which a splat covers a pixel for visibility (a dense grid of one-pixel
/// splats reaches every pixel centre with at least this weight).
pub(crate) const CORE: f32 = 0.25;

/// Smallest splat radius in pixels (so that a splat reaches a pixel centre wherever it lands).
pub(crate) const MIN_RADIUS: f32 = 0.71;

/// One sample to draw: continuous pixel position, depth (and the biased depth it is tested
/// with), tent radius in pixels, colour weight, colour and confidence.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Splat {
    pub(crate) u: f32,
    pub(crate) v: f32,
    pub(crate) z: f32,
    pub(crate) zt: f32,
    pub(crate) r: f32,
    pub(crate) gain: f32,
    pub(crate) conf: f32,
    pub(crate) rgb: [u8; 3],
    /// Which memory cell it came from ([`NO_ID`] for warped pixels).
    pub(crate) id: u64,
}

impl Splat {
    /// A splat (radius raised to [`MIN_RADIUS`]).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn new(
        u: f32,
        v: f32,
        z: f32,
        bias: f32,
        r: f32,
        gain: f32,
        rgb: [u8; 3],
        conf: f32,
    ) -> Splat {
        Splat {
            u,
            v,
            z,
            zt: z + bias,
            r: r.max(MIN_RADIUS),
            gain,
            conf,
            rgb,
            id: NO_ID,
        }
    }

    /// Calls `f(pixel index, tent weight)` for every pixel centre the splat reaches with a
    /// positive weight `(1 - |dx|/r)(1 - |dy|/r)`, in a `w`×`h` image.
    #[inline(always)]
    fn for_each_pixel(&self, w: i32, h: i32, mut f: impl FnMut(usize, f32)) {
        let Some(([x0, x1, y0, y1], inv)) = self.span(w, h) else {
            return;
        };
        for y in y0..=y1 {
            let wy = 1.0 - (y as f32 + 0.5 - self.v).abs() * inv;
            let row = (y * w) as usize;
            for x in x0..=x1 {
                let lin = wy * (1.0 - (x as f32 + 0.5 - self.u).abs() * inv);
                if lin > 0.0 {
                    f(row + x as usize, lin);
                }
            }
        }
    }

    /// Pixel ranges `[x0, x1, y0, y1]` whose centres lie within the radius (clipped), and
    /// 1 / radius; `None` if off screen.
    #[inline(always)]
    fn span(&self, w: i32, h: i32) -> Option<([i32; 4], f32)> {
        let r = self.r;
        if !(self.u > -r && self.v > -r && self.u < w as f32 + r && self.v < h as f32 + r) {
            return None;
        }
        let lo = |c: f32| ((c - r - 0.5).floor() as i32 + 1).max(0);
        let x0 = lo(self.u);
        let y0 = lo(self.v);
        let x1 = ((self.u + r - 0.5).ceil() as i32 - 1).min(w - 1);
        let y1 = ((self.v + r - 0.5).ceil() as i32 - 1).min(h - 1);
        if x0 > x1 || y0 > y1 {
            return None;
        }
        Some(([x0, x1, y0, y1], 1.0 / r))
    }
}
