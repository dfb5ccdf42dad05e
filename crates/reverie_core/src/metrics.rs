//! Image comparison metrics shared by the memory evaluation and the model evaluation.

/// Peak signal-to-noise ratio in dB of 8-bit RGB images, over the pixels where `mask` is true
/// (`None`: all pixels). Returns `None` when no pixel is selected; `f64::INFINITY` when the
/// selected pixels are identical.
pub fn psnr_rgb8(a: &[u8], b: &[u8], mask: Option<&[bool]>) -> Option<f64> {
    let mse = mse_rgb8(a, b, mask)?;
    Some(psnr_from_mse(mse))
}

/// Mean squared error per channel value (0..255 scale) over the masked pixels; `None` if none.
pub fn mse_rgb8(a: &[u8], b: &[u8], mask: Option<&[bool]>) -> Option<f64> {
    assert_eq!(a.len(), b.len(), "images differ in size");
    let pixels = a.len() / 3;
    if let Some(m) = mask {
        assert_eq!(m.len(), pixels, "mask differs in size from the images");
    }
    let mut sum = 0u64;
    let mut n = 0u64;
    for i in 0..pixels {
        if mask.is_some_and(|m| !m[i]) {
            continue;
        }
        for c in 0..3 {
            let d = a[3 * i + c] as i64 - b[3 * i + c] as i64;
            sum += (d * d) as u64;
        }
        n += 3;
    }
    (n > 0).then(|| sum as f64 / n as f64)
}

/// PSNR in dB for 8-bit data from a mean squared error.
pub fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Fraction of true entries.
pub fn fraction(mask: &[bool]) -> f64 {
    if mask.is_empty() {
        return 0.0;
    }
    mask.iter().filter(|&&m| m).count() as f64 / mask.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_known_error() {
        let a = vec![100u8; 12];
        let mut b = a.clone();
        b[0] = 110; // one value off by 10 out of 12: mse = 100 / 12
        let p = psnr_rgb8(&a, &b, None).unwrap();
        assert!((p - psnr_from_mse(100.0 / 12.0)).abs() < 1e-9);
        assert!((psnr_from_mse(100.0) - 28.1308).abs() < 1e-3);
        // Masking out the differing pixel makes them identical.
        let mask = [false, true, true, true];
        assert_eq!(psnr_rgb8(&a, &b, Some(&mask)), Some(f64::INFINITY));
        assert_eq!(psnr_rgb8(&a, &b, Some(&[false; 4])), None);
        assert!((fraction(&mask) - 0.75).abs() < 1e-12);
    }
}
