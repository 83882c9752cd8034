//! When a read is tried again: one pure function of the failure's [`Class`], the retries so far
//! and the time spent, so every rule is tested in one line.
//!
//! A read changes nothing at the org, so trying it again is always safe; what limits it is the
//! agent's time. A read that failed with a retryable error (503, 500 `UNKNOWN_EXCEPTION`,
//! `UNABLE_TO_LOCK_ROW`, a connection that failed or was closed before the answer) is tried
//! again after the first steps of the durable write queue's schedule (200 ms, then 1 s), only
//! while the retry can still finish within the mid-call budget: the time spent so far, plus the
//! wait, plus as long again as the failed try took must fit in it.

use std::time::Duration;

use crate::error::Class;

/// The waits before the first and the second retry of a read: the first steps of the write
/// queue's schedule.
pub const READ_RETRY_WAITS: [Duration; 2] = [Duration::from_millis(200), Duration::from_secs(1)];

/// The mid-call budget a read and its retries fit in by default (the write budget's default).
pub const DEFAULT_READ_BUDGET: Duration = Duration::from_millis(1500);

/// The wait before trying a failed read again, or `None` to give up and return the failure.
///
/// `retries` counts the retries already made; `elapsed` is the time since the first try
/// started; `last_try` is how long the try that just failed took (the retry is expected to take
/// as long); `budget` is the mid-call budget (zero: never retry).
pub fn read_retry_after(
    class: Class,
    retries: usize,
    elapsed: Duration,
    last_try: Duration,
    budget: Duration,
) -> Option<Duration> {
    if class != Class::Retryable {
        return None;
    }
    let wait = *READ_RETRY_WAITS.get(retries)?;
    (elapsed + wait + last_try <= budget).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_retries_follow_the_schedule_within_the_budget() {
        use Class::*;
        let ms = Duration::from_millis;
        let b = DEFAULT_READ_BUDGET;
        type Case = (Class, usize, Duration, Duration, Duration, Option<Duration>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // class, retries so far, elapsed, last try, budget -> wait
            (Retryable, 0, ms(10), ms(10), b, Some(ms(200))),
            (Retryable, 1, ms(220), ms(10), b, Some(ms(1_000))),
            (Retryable, 2, ms(1_230), ms(10), b, None),
            (Retryable, 0, ms(1_200), ms(10), b, Some(ms(200))),
            (Retryable, 0, ms(1_295), ms(10), b, None),
            (Retryable, 1, ms(400), ms(100), b, Some(ms(1_000))),
            (Retryable, 1, ms(450), ms(100), b, None),
            (Retryable, 0, ms(1_000), ms(1_000), b, None),
            (Retryable, 0, ms(10), ms(10), Duration::ZERO, None),
            (Ambiguous, 0, ms(10), ms(10), b, None),
            (Permanent, 0, ms(10), ms(10), b, None),
            (Limit, 0, ms(10), ms(10), b, None),
            (Auth, 0, ms(10), ms(10), b, None),
        ];
        for (class, retries, elapsed, last, budget, want) in cases {
            assert_eq!(
                read_retry_after(*class, *retries, *elapsed, *last, *budget),
                *want,
                "{class:?} after {retries} retries, {elapsed:?} spent, last try {last:?}"
            );
        }
    }
}
