//! The panic guard of every front door: a bug that panics while a request is handled answers
//! that request (a 500 with its request id over REST, a JSON-RPC error over MCP) and is logged
//! once, with its backtrace, under that request id. The process, the connection and every
//! other request go on.
//!
//! [`guard`] polls a future inside `catch_unwind`. The panic hook [`install`] sets keeps what a
//! panic inside a guarded poll says (message, place, backtrace) for the guard to log, instead
//! of printing it; a panic anywhere else goes to the hook that was there before.

use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

thread_local! {
    /// How many guarded polls are running on this thread (they nest: REST around MCP).
    static GUARDED: Cell<u32> = const { Cell::new(0) };
    /// What the last panic of a guarded poll on this thread said.
    static CAUGHT: RefCell<Option<Panic>> = const { RefCell::new(None) };
}

/// A panic caught while a request was handled.
#[derive(Debug)]
pub struct Panic {
    /// The panic's message.
    pub message: String,
    /// Where it panicked (`file:line:column`).
    pub location: String,
    /// The backtrace, captured when it panicked.
    pub backtrace: String,
}

/// The id of one request, for its log lines and an answer that reports a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// A new random id (16 hex digits).
    pub fn new() -> Self {
        use rand::Rng;
        Self(format!("{:016x}", rand::rng().random::<u64>()))
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Installs the panic hook (once per process; later calls do nothing).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) > 0 {
                let caught = describe(info);
                CAUGHT.with(|c| *c.borrow_mut() = Some(caught));
            } else {
                previous(info);
            }
        }));
    });
}

fn describe(info: &PanicHookInfo<'_>) -> Panic {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    Panic {
        message,
        location: info.location().map(ToString::to_string).unwrap_or_default(),
        backtrace: Backtrace::force_capture().to_string(),
    }
}

/// Runs `fut`; a panic while it is polled ends it with the [`Panic`] instead of unwinding
/// further.
pub async fn guard<F: Future>(fut: F) -> Result<F::Output, Panic> {
    Guarded {
        inner: Box::pin(fut),
    }
    .await
}

struct Guarded<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for Guarded<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // A panic some library caught itself during an earlier poll is not this one's.
        CAUGHT.with(|c| c.borrow_mut().take());
        GUARDED.with(|g| g.set(g.get() + 1));
        // NB: a future that panicked is never polled again (it is dropped with the guard),
        // so whatever state the panic left it in is never seen.
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.as_mut().poll(cx)));
        GUARDED.with(|g| g.set(g.get().saturating_sub(1)));
        match polled {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                let caught = CAUGHT
                    .with(|c| c.borrow_mut().take())
                    .unwrap_or_else(|| Panic {
                        // The hook was not installed (a test that did not start the service).
                        message: payload
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| payload.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a panic without a message".to_owned()),
                        location: String::new(),
                        backtrace: String::new(),
                    });
                Poll::Ready(Err(caught))
            }
        }
    }
}

/// Logs a caught panic once, with its request id and backtrace.
pub fn log(request_id: &RequestId, door: &str, p: &Panic) {
    tracing::error!(
        request_id = %request_id,
        door,
        panic = %p.message,
        location = %p.location,
        backtrace = %p.backtrace,
        "a request panicked; it was answered with an internal error"
    );
}

/// The message a client reads about a request that failed on a bug of ours.
pub fn message(request_id: &RequestId) -> String {
    format!(
        "callforce failed on this request because of an internal error (request id \
         {request_id}); nothing more was done for it. Try again; if it fails again, report \
         the request id."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_a_guarded_future_is_caught_with_its_message_and_backtrace() {
        install();
        let ok = guard(async { 7 }).await;
        assert_eq!(ok.ok(), Some(7));
        let caught = guard(async {
            tokio::task::yield_now().await;
            let v: Vec<u8> = Vec::new();
            // An index out of bounds, after a first Pending poll.
            v[usize::from(v.is_empty())]
        })
        .await
        .expect_err("panicked");
        assert!(caught.message.contains("index out of bounds"), "{caught:?}");
        assert!(caught.location.contains("panics.rs"), "{caught:?}");
        assert!(!caught.backtrace.is_empty());
        // Nested guards: the inner one catches, the outer sees a value.
        let outer = guard(async { guard(async { panic!("inner") }).await.is_err() }).await;
        assert_eq!(outer.ok(), Some(true));
    }
}
