//! What to do after a queued write failed: one pure function of the failure's class, its error
//! code, the attempts so far and the request, so every rule is tested in one line.

use std::time::Duration;

use callforce_client::{Class, Request};

/// The retry schedule of issue 6: the wait before retry 1, 2, ... 5.
pub const SCHEDULE: [Duration; 5] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(300),
];

/// What the worker does with a job whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Count the attempt and run it again after this wait (before jitter).
    Retry(Duration),
    /// Count the attempt and move the job to the dead letters.
    Dead,
    /// Hand the job back without counting an attempt and pause the whole connection (its API
    /// allowance is spent, or it needs to be authorised again).
    Pause,
    /// The failure means the write is already in place (a delete retried after an ambiguous
    /// attempt finds the record gone): the job is done.
    Done,
}

/// Decides what follows a failed attempt. `attempts` counts the failed attempts before this
/// one; `schedule` is the wait before each retry (its length is the number of retries).
pub fn decide(
    class: Class,
    error_code: Option<&str>,
    attempts: u32,
    request: &Request,
    schedule: &[Duration],
) -> Decision {
    match class {
        Class::Permanent => {
            // A delete that was sent before without an answer may have been applied: finding
            // the record deleted on the retry is its success, not a failure.
            if attempts > 0
                && matches!(request, Request::Delete { .. })
                && error_code == Some("ENTITY_IS_DELETED")
            {
                Decision::Done
            } else {
                Decision::Dead
            }
        }
        Class::Limit | Class::Auth => Decision::Pause,
        Class::Retryable | Class::Ambiguous => {
            match usize::try_from(attempts).ok().and_then(|i| schedule.get(i)) {
                Some(wait) => Decision::Retry(*wait),
                None => Decision::Dead,
            }
        }
    }
}

/// `wait` moved by a random share of at most `jitter` (0.1: ±10 %), so jobs that failed
/// together do not all come back in the same instant.
pub fn jittered(wait: Duration, jitter: f64) -> Duration {
    use rand::Rng;
    if jitter <= 0.0 {
        return wait;
    }
    let f: f64 = rand::rng().random_range(-jitter..=jitter);
    wait.mul_f64((1.0 + f).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use callforce_client::{Id, Record};

    fn create() -> Request {
        Request::Create {
            sobject: "Task".into(),
            record: Record::new(),
        }
    }

    fn delete() -> Request {
        Request::Delete {
            sobject: "Task".into(),
            id: Id::parse("00T000000000001").expect("id"),
        }
    }

    #[test]
    fn every_failure_has_one_decision() {
        use Class::*;
        use Decision::*;
        let s = &SCHEDULE;
        let ms = Duration::from_millis;
        #[rustfmt::skip]
        let cases: Vec<(Class, Option<&str>, u32, Request, Decision)> = vec![
            (Retryable, Some("SERVER_UNAVAILABLE"), 0, create(), Retry(ms(200))),
            (Retryable, Some("SERVER_UNAVAILABLE"), 1, create(), Retry(ms(1_000))),
            (Retryable, Some("UNABLE_TO_LOCK_ROW"), 2, create(), Retry(ms(5_000))),
            (Retryable, None, 3, create(), Retry(ms(30_000))),
            (Retryable, None, 4, create(), Retry(ms(300_000))),
            (Retryable, None, 5, create(), Dead),
            (Ambiguous, None, 0, create(), Retry(ms(200))),
            (Ambiguous, None, 5, create(), Dead),
            (Permanent, Some("REQUIRED_FIELD_MISSING"), 0, create(), Dead),
            (Permanent, Some("MALFORMED_ID"), 3, create(), Dead),
            (Permanent, Some("ENTITY_IS_DELETED"), 0, delete(), Dead),
            (Permanent, Some("ENTITY_IS_DELETED"), 1, delete(), Done),
            (Permanent, Some("ENTITY_IS_DELETED"), 1, create(), Dead),
            (Limit, Some("REQUEST_LIMIT_EXCEEDED"), 0, create(), Pause),
            (Limit, Some("REQUEST_LIMIT_EXCEEDED"), 5, create(), Pause),
            (Auth, Some("INVALID_SESSION_ID"), 4, create(), Pause),
        ];
        for (class, code, attempts, req, want) in cases {
            assert_eq!(
                decide(class, code, attempts, &req, s),
                want,
                "{class:?} {code:?} after {attempts}"
            );
        }
    }

    #[test]
    fn jitter_stays_within_its_share() {
        let base = Duration::from_secs(1);
        for _ in 0..1000 {
            let j = jittered(base, 0.1);
            assert!(
                j >= Duration::from_millis(900) && j <= Duration::from_millis(1100),
                "{j:?}"
            );
        }
        assert_eq!(jittered(base, 0.0), base);
    }
}
