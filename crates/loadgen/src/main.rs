//! `callforce-loadgen`: drives one HTTP endpoint with keep-alive connections and reports
//! throughput and latency percentiles.
//!
//! Each of `--connections` workers holds one HTTP/1.1 keep-alive connection and sends requests
//! back to back for `--seconds` (after `--warmup` seconds that are not counted). The body may
//! carry `{n}`, replaced by a counter unique across workers, so every create is distinct; the
//! URL's path may carry `{w}`, replaced by the worker's index (0, 1, ...), so that each
//! connection can drive its own call session.
//! Only plain `http://` URLs on this machine are supported: it measures our own services.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Load generator for callforce's HTTP services.
#[derive(Parser, Clone)]
#[command(version, about)]
struct Args {
    /// Target URL (http://127.0.0.1:PORT/path?query); `{w}` in it is the worker's index.
    url: String,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Request body; `{n}` is replaced by a unique counter.
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// Extra header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, short = 'c', default_value_t = 32)]
    connections: usize,
    /// Measured duration in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured warm-up in seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Status every response must have; others are counted as errors.
    #[arg(long, default_value_t = 200)]
    expect: u16,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    /// Paced load: this many requests per second in all, spread evenly over the connections.
    /// Latency is counted from when a request is sent (the timer wakes up to a millisecond
    /// late, which must not count); a connection whose answer comes later than its next turn
    /// sends at once. Without it, each connection sends as fast as answers come back.
    #[arg(long)]
    rate: Option<f64>,
}

struct Shared {
    args: Args,
    host: String,
    path: String,
    headers: Vec<(String, String)>,
    counter: AtomicU64,
    errors: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rest = args
        .url
        .strip_prefix("http://")
        .context("only http:// URLs are supported")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
        None => (rest.to_owned(), "/".to_owned()),
    };
    let headers = args
        .headers
        .iter()
        .map(|h| {
            let (k, v) = h
                .split_once(':')
                .with_context(|| format!("header '{h}' is not 'Name: value'"))?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let shared = Arc::new(Shared {
        args: args.clone(),
        host,
        path,
        headers,
        counter: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });

    let start = Instant::now();
    let warm_until = start + Duration::from_secs_f64(args.warmup);
    let end = warm_until + Duration::from_secs_f64(args.seconds);
    let mut workers = Vec::new();
    for w in 0..args.connections {
        let shared = shared.clone();
        workers.push(tokio::spawn(async move {
            worker(shared, w, warm_until, end).await
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for w in workers {
        hist.add(w.await??)?;
    }
    let secs = args.seconds;
    let n = hist.len();
    let errors = shared.errors.load(Ordering::Relaxed);
    let us = |q: f64| hist.value_at_quantile(q);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "requests": n, "errors": errors, "seconds": secs, "rps": n as f64 / secs,
                "connections": args.connections, "rate": args.rate,
                "p50_us": us(0.5), "p90_us": us(0.9), "p95_us": us(0.95), "p99_us": us(0.99),
                "max_us": hist.max(),
            })
        );
    } else {
        println!(
            "{} {} with {} connections for {secs}s",
            args.method, args.url, args.connections
        );
        println!(
            "  requests: {n} ({:.0}/s), errors: {errors}",
            n as f64 / secs
        );
        println!(
            "  latency: p50 {} µs, p90 {} µs, p99 {} µs, max {} µs",
            us(0.5),
            us(0.9),
            us(0.99),
            hist.max()
        );
    }
    if errors > 0 {
        bail!("{errors} responses did not have status {}", args.expect);
    }
    Ok(())
}

async fn worker(
    shared: Arc<Shared>,
    index: usize,
    warm_until: Instant,
    end: Instant,
) -> anyhow::Result<Histogram<u64>> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let path = shared.path.replace("{w}", &index.to_string());
    let mut sender = connect(&shared.host).await?;
    let a = &shared.args;
    // With --rate, connection `index` sends at start + (index / connections + k) * interval.
    let interval = a
        .rate
        .map(|r| Duration::from_secs_f64(a.connections as f64 / r.max(0.001)));
    let mut scheduled =
        interval.map(|i| Instant::now() + i.mul_f64(index as f64 / a.connections as f64));
    loop {
        if let (Some(at), Some(i)) = (scheduled.as_mut(), interval) {
            tokio::time::sleep_until((*at).into()).await;
            *at += i;
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        let body = match &a.data {
            Some(d) => d.replace(
                "{n}",
                &shared.counter.fetch_add(1, Ordering::Relaxed).to_string(),
            ),
            None => String::new(),
        };
        let mut req = Request::builder()
            .method(a.method.as_str())
            .uri(path.as_str())
            .header("host", &shared.host);
        if a.data.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in &shared.headers {
            req = req.header(k, v);
        }
        let req = req.body(Full::new(Bytes::from(body)))?;
        if sender.ready().await.is_err() {
            // The server closed the connection: count it and open another.
            shared.errors.fetch_add(1, Ordering::Relaxed);
            sender = connect(&shared.host).await?;
            continue;
        }
        let t = Instant::now();
        let status = match sender.send_request(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                resp.into_body()
                    .collect()
                    .await
                    .map(|_| status)
                    .unwrap_or(0)
            }
            Err(_) => 0,
        };
        let took = t.elapsed();
        if t >= warm_until {
            hist.record(took.as_micros().max(1) as u64)?;
            if status != a.expect {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(hist)
}

async fn connect(
    host: &str,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(host)
        .await
        .with_context(|| format!("connect {host}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}
