//! World-model benchmarks at 128×128 (the default config, random weights — speed does not depend
//! on the values): one engine step of the network (ego-motion + generate, batch 1), one training
//! step (batch 8, forward + backward), and the fast im2col convolution against candle's `conv2d`.
//!
//! `RAYON_NUM_THREADS=1 cargo bench --bench model` and `RAYON_NUM_THREADS=2 …` for 1 and 2 threads.
//! p50/p99 over many single steps: `cargo run --release --example model_speed -p reverie_model`.

use criterion::{Criterion, criterion_group, criterion_main};
use reverie::core::{Action, GroundProbe};
use reverie::model::candle_core::{DType, Device, Module, Tensor};
use reverie::model::candle_nn::{VarBuilder, VarMap};
use reverie::model::conv::{Conv2d, Window};
use reverie::model::model::{GUIDE_CHANNELS, actions_tensor};
use reverie::model::{ModelConfig, State, WorldModel};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let cfg = ModelConfig::default();
    let vm = VarMap::new();
    let model = ok(WorldModel::new(
        &cfg,
        VarBuilder::from_varmap(&vm, DType::F32, &dev),
    ));
    let (gh, gw) = cfg.grid();
    let guides = |b: usize| {
        ok(Tensor::rand(
            0f32,
            1f32,
            (b, gh, gw, cfg.patch * cfg.patch * 2 * GUIDE_CHANNELS),
            &dev,
        ))
    };
    let mut g = c.benchmark_group("model");
    g.sample_size(30);
    let g1 = guides(1);
    let a1 = ok(actions_tensor(&[Action::IDLE], &dev));
    let code = |b: usize| {
        ok(Tensor::rand(
            0f32,
            1f32,
            (b, cfg.height, cfg.width, 1),
            &dev,
        ))
    };
    let c1 = code(1);
    let probe = |b: usize| ok(model.probe_tensor(&vec![&[0f32; GroundProbe::FEATURES][..]; b]));
    let (p1, p8) = (probe(1), probe(8));
    let mut state = ok(State::zeros(&cfg, 1, &dev));
    g.bench_function("step_128x128_batch1", |b| {
        b.iter(|| {
            let m = ok(model.predict_motion(&state, &[Action::IDLE], &c1, &p1));
            let out = ok(model.generate(&mut state, &a1, &g1));
            (m, ok(out.frame(0)))
        })
    });
    let g8 = guides(8);
    let a8 = ok(actions_tensor(&[Action::IDLE; 8], &dev));
    let c8 = code(8);
    g.sample_size(10);
    g.bench_function("train_step_batch8", |b| {
        b.iter(|| {
            let mut s = ok(State::zeros(&cfg, 8, &dev));
            let m = ok(model.predict_motion(&s, &[Action::IDLE; 8], &c8, &p8));
            let out = ok(model.generate(&mut s, &a8, &g8));
            let loss = ok(ok(ok(out.rgb()).abs()).mean_all()) + ok(ok(m.sqr()).mean_all());
            ok(ok(loss).backward())
        })
    });
    g.finish();

    // The grid's 3×3 convolution: 48 → 48 channels on 32×32, batch 8.
    let mut g = c.benchmark_group("conv3x3_48_32x32_batch8");
    g.sample_size(20);
    let x = ok(Tensor::rand(-1f32, 1f32, (8, 32, 32, 48), &dev));
    let w = ok(Tensor::rand(-0.1f32, 0.1f32, (48, 3, 3, 48), &dev));
    let conv = ok(Conv2d::from_weights(
        w,
        None,
        Window {
            k: 3,
            stride: 1,
            pad: 1,
        },
    ));
    g.bench_function("im2col_gemm", |b| b.iter(|| ok(conv.forward(&x))));
    g.bench_function("candle_conv2d", |b| b.iter(|| ok(conv.forward_candle(&x))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
