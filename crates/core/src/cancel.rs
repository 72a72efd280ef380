//! Cancellation points for long loops.
//!
//! The core is pgrx-free, so it cannot check PostgreSQL's interrupt flags itself: the glue
//! registers a hook at library load (`_PG_init`) that runs `CHECK_FOR_INTERRUPTS()`. Without a
//! hook (plain `#[test]`s) a check does nothing.
//!
//! A pending cancel, `statement_timeout` or `pg_terminate_backend` makes the hook raise a
//! PostgreSQL ERROR, which pgrx turns into a Rust unwind up to the SQL function's guard: every
//! value on the way is dropped normally. Long loops only touch values owned by the call or by
//! the aggregate state, and an aggregate state never outlives a statement that fails, so an
//! interrupted call leaves nothing half-updated behind.
//!
//! Loops count their work with a [`Ticker`] and check every [`Ticker::STEP`] units (a unit is
//! roughly one arithmetic operation or one comparison, so a check runs every millisecond or so of
//! work and costs one predictable branch per iteration in between).

use std::sync::OnceLock;

static HOOK: OnceLock<fn()> = OnceLock::new();

/// Registers the interrupt check (once per process; later calls are ignored).
pub fn set_hook(f: fn()) {
    let _ = HOOK.set(f);
}

/// Runs the interrupt check now.
#[inline]
pub fn check() {
    if let Some(f) = HOOK.get() {
        f()
    }
}

/// Counts work between interrupt checks.
#[derive(Default)]
pub struct Ticker {
    done: u64,
}

impl Ticker {
    /// Work units between two checks.
    pub const STEP: u64 = 1 << 20;

    pub fn new() -> Ticker {
        Ticker { done: 0 }
    }

    /// Records `work` units and checks for interrupts once a step is complete.
    #[inline]
    pub fn tick(&mut self, work: u64) {
        self.done += work;
        if self.done >= Self::STEP {
            self.done = 0;
            check();
        }
    }
}

/// `sort_unstable_by` with an interrupt check every [`Ticker::STEP`] comparisons.
pub fn sort_unstable_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> std::cmp::Ordering) {
    let mut t = Ticker::new();
    v.sort_unstable_by(|a, b| {
        t.tick(1);
        cmp(a, b)
    });
}

/// Test support: a cancel that arrives after a number of checks, on the current thread only
/// (tests run in parallel threads of one process).
#[cfg(test)]
pub mod testing {
    use std::cell::Cell;

    /// The payload a simulated cancel unwinds with.
    #[derive(Debug)]
    pub struct Cancelled;

    thread_local! {
        static COUNTDOWN: Cell<Option<u64>> = const { Cell::new(None) };
        static CHECKS: Cell<u64> = const { Cell::new(0) };
    }

    fn hook() {
        CHECKS.with(|c| c.set(c.get() + 1));
        COUNTDOWN.with(|c| match c.get() {
            Some(0) => {
                c.set(None);
                // resume_unwind: no panic message, as a PostgreSQL ERROR unwinds through pgrx
                std::panic::resume_unwind(Box::new(Cancelled));
            }
            Some(n) => c.set(Some(n - 1)),
            None => {}
        });
    }

    /// Runs `f` with a cancel arriving at the `after`-th check (0 = the first); `Err(checks)`
    /// when `f` was cancelled, `Ok` when it finished first. Also returns the checks made.
    pub fn cancel_after<R>(after: u64, f: impl FnOnce() -> R) -> (std::result::Result<R, ()>, u64) {
        super::set_hook(hook);
        CHECKS.with(|c| c.set(0));
        COUNTDOWN.with(|c| c.set(Some(after)));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        COUNTDOWN.with(|c| c.set(None));
        let checks = CHECKS.with(|c| c.get());
        match r {
            Ok(v) => (Ok(v), checks),
            Err(p) if p.is::<Cancelled>() => (Err(()), checks),
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// Runs `f` counting the interrupt checks it makes (no cancel).
    pub fn count_checks<R>(f: impl FnOnce() -> R) -> (R, u64) {
        super::set_hook(hook);
        CHECKS.with(|c| c.set(0));
        let r = f();
        (r, CHECKS.with(|c| c.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn ticker_checks_once_per_step() {
        let ((), checks) = count_checks(|| {
            let mut t = Ticker::new();
            for _ in 0..10 * Ticker::STEP {
                t.tick(1);
            }
        });
        assert_eq!(checks, 10);
        let (r, _) = cancel_after(2, || {
            let mut t = Ticker::new();
            for _ in 0..100 {
                t.tick(Ticker::STEP);
            }
        });
        assert!(r.is_err());
        let mut v: Vec<u64> = (0..3_000_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
        let ((), checks) = count_checks(|| sort_unstable_by(&mut v, |a, b| a.cmp(b)));
        assert!(checks >= 20, "{checks} checks while sorting 3 million values");
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
    }
}
