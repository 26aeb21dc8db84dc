//! Whether the losses use the fused kernels: on by default where the device has them, off for
//! the process with `DML_FUSED=0`, or off for one thread's scope with [`without_fused`] (what the
//! tests use to check the fused path against the composed one).

use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    static DISABLED_HERE: Cell<usize> = const { Cell::new(0) };
    static CALLS_HERE: Cell<usize> = const { Cell::new(0) };
}

/// How many fused kernel calls this thread has made so far (what a test reads to know that a
/// loss took its fused path).
pub fn fused_calls() -> usize {
    CALLS_HERE.with(|c| c.get())
}

/// Counts one fused kernel call on this thread.
pub(crate) fn count_call() {
    CALLS_HERE.with(|c| c.set(c.get() + 1));
}

/// True unless `DML_FUSED=0` is set or the current thread is inside [`without_fused`].
pub fn fused_enabled() -> bool {
    static FROM_ENV: OnceLock<bool> = OnceLock::new();
    let env = *FROM_ENV.get_or_init(|| std::env::var("DML_FUSED").map_or(true, |v| v != "0"));
    env && DISABLED_HERE.with(|d| d.get() == 0)
}

/// Runs `f` with the fused kernels switched off on this thread: every loss takes its composed
/// path (the reference the fused kernels are tested against).
pub fn without_fused<T>(f: impl FnOnce() -> T) -> T {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            DISABLED_HERE.with(|d| d.set(d.get() - 1));
        }
    }
    DISABLED_HERE.with(|d| d.set(d.get() + 1));
    let _restore = Restore;
    f()
}
