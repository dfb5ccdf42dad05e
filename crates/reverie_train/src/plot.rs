//! A small PNG line chart (loss curves): log-scaled y with a grid line per decade (darker, labelled
//! `1e-2` …) and at 2× and 5×, linear x with a line every tenth of the run (the last labelled with
//! its x). Labels use a built-in 3×5 pixel font; the exact numbers are in the CSV beside it.

use std::path::Path;

use crate::error::{Result, TrainError};

/// One curve: points (x, y > 0) and its colour.
#[derive(Clone, Debug)]
pub struct Series {
    /// Points.
    pub points: Vec<(f64, f64)>,
    /// RGB colour.
    pub color: [u8; 3],
}

/// Draws the series into a `w × h` PNG at `path`.
pub fn line_chart(path: &Path, w: usize, h: usize, series: &[Series]) -> Result<()> {
    let mut img = vec![255u8; w * h * 3];
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.1 > 0.0 && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y.log10());
        y1 = y1.max(y.log10());
    }
    if x0 > x1 {
        return Err(TrainError::file(path, "nothing to plot yet"));
    }
    let (y0, y1) = (y0.floor(), y1.ceil().max(y0.floor() + 1.0));
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let (ml, mr, mt, mb) = (44.0, 8.0, 8.0, 20.0);
    let px = |x: f64| ml + (x - x0) / (x1 - x0) * (w as f64 - ml - mr);
    let py = |ly: f64| mt + (y1 - ly) / (y1 - y0) * (h as f64 - mt - mb);
    let set = |img: &mut Vec<u8>, x: i64, y: i64, c: [u8; 3]| {
        if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
            let i = (y as usize * w + x as usize) * 3;
            img[i..i + 3].copy_from_slice(&c);
        }
    };
    let mut decade = y0;
    while decade <= y1 {
        for (m, shade) in [(1.0f64, 170u8), (2.0, 225), (5.0, 225)] {
            let ly = decade + m.log10();
            if ly <= y1 {
                let y = py(ly).round() as i64;
                for x in 0..w as i64 {
                    set(&mut img, x, y, [shade; 3]);
                }
            }
        }
        decade += 1.0;
    }
    for i in 0..=10 {
        let x = px(x0 + (x1 - x0) * f64::from(i) / 10.0).round() as i64;
        for y in 0..h as i64 {
            set(&mut img, x, y, [225; 3]);
        }
    }
    let mut decade = y0;
    while decade <= y1 {
        let label = format!("1e{}", decade as i64);
        text(
            &mut img,
            w,
            4,
            py(decade).round() as i64 - 5,
            &label,
            [90; 3],
        );
        decade += 1.0;
    }
    let xl = format!("{}", x1.round() as i64);
    let xw = (xl.len() * 8) as i64;
    text(
        &mut img,
        w,
        px(x1).round() as i64 - xw,
        h as i64 - 14,
        &xl,
        [90; 3],
    );
    text(
        &mut img,
        w,
        px(x0).round() as i64,
        h as i64 - 14,
        &format!("{}", x0.round() as i64),
        [90; 3],
    );
    for s in series {
        for &(x, y) in s.points.iter().filter(|p| p.1 > 0.0 && p.1.is_finite()) {
            let (cx, cy) = (px(x).round() as i64, py(y.log10()).round() as i64);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    set(&mut img, cx + dx, cy + dy, s.color);
                }
            }
        }
        let mut last: Option<(f64, f64)> = None;
        for &(x, y) in s.points.iter().filter(|p| p.1 > 0.0 && p.1.is_finite()) {
            let p = (px(x), py(y.log10()));
            if let Some(q) = last {
                let n = ((p.0 - q.0).abs().max((p.1 - q.1).abs()).ceil() as usize).max(1);
                for k in 0..=n {
                    let t = k as f64 / n as f64;
                    let (x, y) = (q.0 + (p.0 - q.0) * t, q.1 + (p.1 - q.1) * t);
                    set(&mut img, x.round() as i64, y.round() as i64, s.color);
                    set(&mut img, x.round() as i64, y.round() as i64 + 1, s.color);
                }
            }
            last = Some(p);
        }
    }
    reverie_world::imageio::write_png(path, w as u32, h as u32, &img)
        .map_err(|e| TrainError::file(path, e))
}

/// 3×5 glyphs (rows top to bottom, 3 bits each, MSB left) for digits, `e`, `-` and `.`.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'e' => [0, 7, 7, 4, 7],
        '-' => [0, 0, 7, 0, 0],
        '.' => [0, 0, 0, 0, 2],
        _ => return None,
    })
}

/// Writes `s` at (x, y) (top left) in the 3×5 font scaled 2×.
fn text(img: &mut [u8], w: usize, x: i64, y: i64, s: &str, c: [u8; 3]) {
    let h = img.len() / 3 / w;
    for (i, ch) in s.chars().enumerate() {
        let Some(g) = glyph(ch) else { continue };
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) == 0 {
                    continue;
                }
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let px = x + i as i64 * 8 + col * 2 + dx;
                    let py = y + row as i64 * 2 + dy;
                    if px >= 0 && py >= 0 && (px as usize) < w && (py as usize) < h {
                        let k = (py as usize * w + px as usize) * 3;
                        img[k..k + 3].copy_from_slice(&c);
                    }
                }
            }
        }
    }
}
