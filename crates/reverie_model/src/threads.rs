//! How many threads candle's CPU kernels (and this crate's im2col) use.
//!
//! candle sizes its matmul parallelism from `RAYON_NUM_THREADS` on *every* call — without it set,
//! each matmul re-reads `/proc/cpuinfo` to count physical cores (≈ 4 % of a model step in
//! `perf`) — and its element-wise thread pool from `CANDLE_NUM_THREADS` once. At batch 1 and
//! 128×128 our step is too small to split: waking and joining a second thread for every op costs
//! more than it saves, and a single-threaded step leaves the other core to the memory, the warp
//! and the window. Measured with `reverie bench --seconds 30` on our 2 cores: to-frame p99
//! 34.0 → 26.8 ms and input→frame p99 68.6 → 59.0 ms going from 2 threads to 1.

/// Interactive work (the runtime, the app, evaluation): one session, batch 1 — one thread.
pub const INTERACTIVE_THREADS: usize = 1;

/// Sets `RAYON_NUM_THREADS` and `CANDLE_NUM_THREADS` to `threads` unless the user set them.
/// Returns the thread count in effect for candle's matmul.
///
/// # Safety
/// It writes the process environment: call it first thing in `main`, before any other thread
/// exists (see [`std::env::set_var`]).
#[allow(unsafe_code)]
pub unsafe fn set_cpu_threads(threads: usize) -> usize {
    let threads = threads.max(1);
    for var in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            // SAFETY: the caller guarantees no other thread reads or writes the environment.
            unsafe { std::env::set_var(var, threads.to_string()) };
        }
    }
    cpu_threads()
}

/// The thread count candle's matmul uses now.
pub fn cpu_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// The machine's cores as the OS offers them to this process (for batch work such as training).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
