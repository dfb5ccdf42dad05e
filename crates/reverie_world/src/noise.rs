//! Deterministic, seeded 2D noise (hash-based gradient noise and fractal sums).

use reverie_core::seed::mix64;

/// Hash of a lattice point under a seed.
#[inline]
pub fn hash2(seed: u64, x: i32, z: i32) -> u64 {
    mix64(
        seed ^ (x as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (z as u32 as u64)
                .wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
                .rotate_left(17),
    )
}

/// Hash of a 3D lattice point under a seed.
#[inline]
pub fn hash3(seed: u64, x: i32, y: i32, z: i32) -> u64 {
    hash2(
        seed ^ (y as u32 as u64).wrapping_mul(0x1656_67B1_9E37_79F9),
        x,
        z,
    )
}

/// Uniform value in [0, 1) from a hash.
#[inline]
pub fn unit(h: u64) -> f32 {
    (h >> 40) as f32 / (1u64 << 24) as f32
}

#[inline]
fn fade(t: f32) -> f32 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

#[inline]
fn grad(h: u64, dx: f32, dz: f32) -> f32 {
    // Eight gradient directions.
    match h & 7 {
        0 => dx + dz,
        1 => dx - dz,
        2 => -dx + dz,
        3 => -dx - dz,
        4 => dx,
        5 => -dx,
        6 => dz,
        _ => -dz,
    }
}

/// 2D gradient noise, roughly in [-1, 1], smooth, zero at lattice points.
pub fn gradient(seed: u64, x: f32, z: f32) -> f32 {
    let x0 = x.floor();
    let z0 = z.floor();
    let (ix, iz) = (x0 as i32, z0 as i32);
    let (fx, fz) = (x - x0, z - z0);
    let (u, v) = (fade(fx), fade(fz));
    let n00 = grad(hash2(seed, ix, iz), fx, fz);
    let n10 = grad(hash2(seed, ix + 1, iz), fx - 1.0, fz);
    let n01 = grad(hash2(seed, ix, iz + 1), fx, fz - 1.0);
    let n11 = grad(hash2(seed, ix + 1, iz + 1), fx - 1.0, fz - 1.0);
    let a = n00 + u * (n10 - n00);
    let b = n01 + u * (n11 - n01);
    (a + v * (b - a)) * 0.9
}

/// Fractal sum of `octaves` gradient-noise layers at `1/scale` base frequency, normalised to ~[-1, 1].
pub fn fbm(seed: u64, x: f32, z: f32, scale: f32, octaves: u32) -> f32 {
    let mut sum = 0.0;
    let mut amp = 1.0;
    let mut norm = 0.0;
    let mut f = 1.0 / scale;
    for o in 0..octaves {
        sum += amp
            * gradient(
                seed.wrapping_add(u64::from(o) * 0x51_7C_C1_B7),
                x * f,
                z * f,
            );
        norm += amp;
        amp *= 0.5;
        f *= 2.03;
    }
    sum / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_bounded_and_seeded() {
        let mut diff = 0.0;
        for i in 0..500 {
            let (x, z) = (i as f32 * 0.37 - 40.0, i as f32 * -0.91 + 13.0);
            let a = fbm(1, x, z, 16.0, 4);
            assert_eq!(a, fbm(1, x, z, 16.0, 4));
            assert!((-1.5..=1.5).contains(&a));
            diff += (a - fbm(2, x, z, 16.0, 4)).abs();
        }
        assert!(diff > 10.0, "different seeds must differ");
    }
}
