//! A fast CPU convolution on channels-last (NHWC) tensors: im2col + one GEMM.
//!
//! candle's CPU `conv2d` runs at 1–25 GFLOP/s on our machines while its matmul reaches ~220 GFLOP/s
//! on two cores (see STACK.md), so every convolution here is rewritten as a matrix product:
//! [`Im2Col`] gathers each output pixel's `k × k × C` receptive field into a row, and the layer
//! multiplies those rows by the `[k·k·C, O]` weight. Activations stay channels-last, so a 1×1
//! convolution is a plain matmul and the product's rows are already the output pixels (no
//! transposes). [`Im2Col`]'s backward pass is [`Col2Im`] (its adjoint: scatter-add the rows back),
//! and [`Col2Im`]'s is [`Im2Col`], so gradients flow through candle's autograd.
//!
//! On other devices (the `cuda` feature) the layer falls back to candle's `conv2d` on permuted
//! tensors; both paths are tested against each other for values and gradients.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Module, Shape, Tensor};
use candle_nn::VarBuilder;

use crate::ops::{f32_slice, for_each_chunk_mut};

/// Geometry of a square 2D convolution window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Kernel side.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl Window {
    /// Output side for an input side `n`.
    pub fn out_len(&self, n: usize) -> usize {
        (n + 2 * self.pad).saturating_sub(self.k) / self.stride + 1
    }

    fn check(&self, h: usize, w: usize) -> candle_core::Result<()> {
        if self.k == 0 || self.stride == 0 || h + 2 * self.pad < self.k || w + 2 * self.pad < self.k
        {
            candle_core::bail!("conv window {self:?} does not fit a {h}×{w} input")
        }
        Ok(())
    }
}

fn nhwc(layout: &Layout, op: &str) -> candle_core::Result<(usize, usize, usize, usize)> {
    if !layout.is_contiguous() {
        candle_core::bail!("{op}: input must be contiguous")
    }
    match layout.shape().dims() {
        &[b, h, w, c] => Ok((b, h, w, c)),
        d => candle_core::bail!("{op}: expected [batch, height, width, channels], got {d:?}"),
    }
}

/// `[B, H, W, C]` → `[B, Ho, Wo, k·k·C]`: each output pixel's receptive field as one row, ordered
/// (ky, kx, c); zeros where the window hangs over the padding.
#[derive(Clone, Copy, Debug)]
pub struct Im2Col(pub Window);

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "reverie-im2col"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, h, w, c) = nhwc(layout, self.name())?;
        let src = f32_slice(storage, layout, self.name())?;
        let win = self.0;
        win.check(h, w)?;
        let (ho, wo) = (win.out_len(h), win.out_len(w));
        let row = win.k * win.k * c;
        let zeros = vec![0f32; c];
        // Output image row `r` (batch item r / ho, row r % ho): each pixel's k·k taps in order,
        // zeros where a tap falls outside the image.
        let gather = |r: usize, put: &mut dyn FnMut(&[f32])| {
            let (bi, oy) = (r / ho, r % ho);
            let image = &src[bi * h * w * c..(bi + 1) * h * w * c];
            for ox in 0..wo {
                for ky in 0..win.k {
                    let iy = (oy * win.stride + ky) as isize - win.pad as isize;
                    for kx in 0..win.k {
                        let ix = (ox * win.stride + kx) as isize - win.pad as isize;
                        if iy < 0 || iy >= h as isize || ix < 0 || ix >= w as isize {
                            put(&zeros);
                        } else {
                            let from = (iy as usize * w + ix as usize) * c;
                            put(&image[from..from + c]);
                        }
                    }
                }
            }
        };
        let n = b * ho * wo * row;
        let dst = if rayon::current_num_threads() > 1 && n > wo * row {
            // One task per output image row: [wo, k·k·C] floats.
            let mut dst = vec![0f32; n];
            for_each_chunk_mut(&mut dst, wo * row, |r, out| {
                let mut at = 0;
                gather(r, &mut |v| {
                    out[at..at + v.len()].copy_from_slice(v);
                    at += v.len();
                });
            });
            dst
        } else {
            // One thread: append, so the buffer is written once (no zero fill first).
            let mut dst = Vec::with_capacity(n);
            for r in 0..b * ho {
                gather(r, &mut |v| dst.extend_from_slice(v));
            }
            dst
        };
        Ok((CpuStorage::F32(dst), Shape::from((b, ho, wo, row))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (_, h, w, c) = arg.dims4()?;
        let g = grad_res.contiguous()?.apply_op1(Col2Im {
            window: self.0,
            height: h,
            width: w,
            channels: c,
        })?;
        Ok(Some(g))
    }
}

/// The adjoint of [`Im2Col`]: `[B, Ho, Wo, k·k·C]` → `[B, H, W, C]`, adding every row's entries
/// back onto the input pixels they were gathered from.
#[derive(Clone, Copy, Debug)]
pub struct Col2Im {
    /// The window of the [`Im2Col`] this undoes.
    pub window: Window,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Input channels.
    pub channels: usize,
}

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "reverie-col2im"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, ho, wo, row) = nhwc(layout, self.name())?;
        let (win, h, w, c) = (self.window, self.height, self.width, self.channels);
        win.check(h, w)?;
        if ho != win.out_len(h) || wo != win.out_len(w) || row != win.k * win.k * c {
            candle_core::bail!(
                "{}: [{b}, {ho}, {wo}, {row}] does not match a {h}×{w}×{c} input and {win:?}",
                self.name()
            )
        }
        let src = f32_slice(storage, layout, self.name())?;
        let mut dst = vec![0f32; b * h * w * c];
        // One task per input image row: it gathers from the output rows whose windows cover it,
        // so no two tasks write the same memory.
        for_each_chunk_mut(&mut dst, w * c, |r, out| {
            let (bi, iy) = (r / h, r % h);
            let cols = &src[bi * ho * wo * row..(bi + 1) * ho * wo * row];
            for ky in 0..win.k {
                let t = iy as isize + win.pad as isize - ky as isize;
                if t < 0 || !(t as usize).is_multiple_of(win.stride) {
                    continue;
                }
                let oy = t as usize / win.stride;
                if oy >= ho {
                    continue;
                }
                for ox in 0..wo {
                    let cell = &cols[(oy * wo + ox) * row..(oy * wo + ox + 1) * row];
                    for kx in 0..win.k {
                        let ix = (ox * win.stride + kx) as isize - win.pad as isize;
                        if ix < 0 || ix >= w as isize {
                            continue;
                        }
                        let from = (ky * win.k + kx) * c;
                        let to = ix as usize * c;
                        for (o, g) in out[to..to + c].iter_mut().zip(&cell[from..from + c]) {
                            *o += g;
                        }
                    }
                }
            }
        });
        Ok((CpuStorage::F32(dst), Shape::from((b, h, w, c))))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad_res.contiguous()?.apply_op1(Im2Col(self.window))?))
    }
}

/// A 2D convolution on channels-last tensors, `[B, H, W, C]` → `[B, Ho, Wo, O]`.
///
/// The weight is stored `[O, k, k, C]` (`weight`) with a bias `[O]` (`bias`); [`Conv2d::to_candle_weight`]
/// gives candle's `[O, C, k, k]` layout.
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    window: Window,
    in_channels: usize,
    out_channels: usize,
}

impl Conv2d {
    /// Builds the layer from `vb` (`weight`, and `bias` when `bias` is true), initialised like
    /// PyTorch (Kaiming-uniform with a = √5) when training.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        window: Window,
        bias: bool,
        vb: VarBuilder,
    ) -> candle_core::Result<Conv2d> {
        let fan_in = in_channels * window.k * window.k;
        let bound = 1.0 / (fan_in as f64).sqrt();
        let init = candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = vb.get_with_hints(
            (out_channels, window.k, window.k, in_channels),
            "weight",
            init,
        )?;
        let bias = if bias {
            Some(vb.get_with_hints(out_channels, "bias", init)?)
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            window,
            in_channels,
            out_channels,
        })
    }

    /// The layer from explicit tensors (weight `[O, k, k, C]`).
    pub fn from_weights(
        weight: Tensor,
        bias: Option<Tensor>,
        window: Window,
    ) -> candle_core::Result<Conv2d> {
        let (o, kh, kw, c) = weight.dims4()?;
        if kh != window.k || kw != window.k {
            candle_core::bail!("conv weight {:?} does not match {window:?}", weight.dims())
        }
        Ok(Conv2d {
            weight,
            bias,
            window,
            in_channels: c,
            out_channels: o,
        })
    }

    /// The weight in candle's `conv2d` layout, `[O, C, k, k]`.
    pub fn to_candle_weight(&self) -> candle_core::Result<Tensor> {
        self.weight.permute((0, 3, 1, 2))?.contiguous()
    }

    /// The window.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Multiply-adds per output pixel.
    pub fn macs_per_pixel(&self) -> usize {
        self.window.k * self.window.k * self.in_channels * self.out_channels
    }

    /// The same convolution through candle's `conv2d` (the reference, and the non-CPU path).
    pub fn forward_candle(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let x = xs.permute((0, 3, 1, 2))?.contiguous()?;
        let y = x.conv2d(
            &self.to_candle_weight()?,
            self.window.pad,
            self.window.stride,
            1,
            1,
        )?;
        let y = y.permute((0, 2, 3, 1))?;
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

impl Module for Conv2d {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if !xs.device().is_cpu() || xs.dtype() != DType::F32 {
            return self.forward_candle(xs);
        }
        let (b, h, w, c) = xs.dims4()?;
        if c != self.in_channels {
            candle_core::bail!("conv expects {} input channels, got {c}", self.in_channels)
        }
        let win = self.window;
        let (ho, wo) = (win.out_len(h), win.out_len(w));
        let rows = if win.k == 1 && win.stride == 1 && win.pad == 0 {
            xs.reshape((b * h * w, c))? // [B·H·W, C]
        } else {
            xs.contiguous()?
                .apply_op1(Im2Col(win))? // [B, Ho, Wo, k·k·C]
                .reshape((b * ho * wo, win.k * win.k * c))?
        };
        let wt = self
            .weight
            .reshape((self.out_channels, win.k * win.k * c))?; // [O, k·k·C]
        let y = rows.matmul(&wt.t()?)?; // [B·Ho·Wo, O]
        let y = match &self.bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        };
        y.reshape((b, ho, wo, self.out_channels))
    }
}

/// `[B, H, W, C]` → `[B, H/r, W/r, r·r·C]`: each r×r block of pixels becomes one pixel (channels
/// ordered (dy, dx, c)).
pub fn space_to_depth(xs: &Tensor, r: usize) -> candle_core::Result<Tensor> {
    let (b, h, w, c) = xs.dims4()?;
    if !h.is_multiple_of(r) || !w.is_multiple_of(r) {
        candle_core::bail!("space_to_depth: {h}×{w} is not a multiple of {r}")
    }
    xs.reshape((b, h / r, r, w / r, r, c))?
        .permute((0, 1, 3, 2, 4, 5))?
        .contiguous()?
        .reshape((b, h / r, w / r, r * r * c))
}

/// The inverse of [`space_to_depth`]: `[B, H, W, r·r·C]` → `[B, H·r, W·r, C]`.
pub fn depth_to_space(xs: &Tensor, r: usize) -> candle_core::Result<Tensor> {
    let (b, h, w, rrc) = xs.dims4()?;
    if !rrc.is_multiple_of(r * r) {
        candle_core::bail!("depth_to_space: {rrc} channels are not a multiple of {r}²")
    }
    let c = rrc / (r * r);
    xs.reshape((b, h, w, r, r, c))?
        .permute((0, 1, 3, 2, 4, 5))?
        .contiguous()?
        .reshape((b, h * r, w * r, c))
}
