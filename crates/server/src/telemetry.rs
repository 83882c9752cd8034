//! Logs and traces: the subscriber `callforce` runs under. Logs go to stderr as always; traces
//! go out over OTLP (HTTP, protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, and `OTEL_SDK_DISABLED` is not `true`.
//!
//! What a trace holds (see `docs/observability.md`): a span per request, continuing an incoming
//! W3C `traceparent`; a span per tool call; a span per Salesforce round trip; a span per
//! attempt of a queued write, in the trace of the call that queued it. The spans meant for the
//! exporter only have the target [`callforce_client::telemetry::TARGET`]: the logs do not show
//! them, and without an exporter they are disabled, so tracing costs nothing then.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::env;

/// The trace exporter while it runs: [`Telemetry::shutdown`] sends the spans not sent yet.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans not sent yet and stops the exporter (waits at most the export timeout).
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            // NB: the processor's shutdown blocks until its task on this runtime has sent the
            // last batch: off the runtime's own threads.
            let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(e)) = done {
                eprintln!("warning: could not send the last traces: {e}");
            }
        }
    }
}

/// Whether the environment asks for traces to be exported.
pub fn exporting(get: impl Fn(&str) -> Option<String>) -> bool {
    let disabled =
        get(env::OTEL_SDK_DISABLED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let endpoint = [
        env::OTEL_EXPORTER_OTLP_ENDPOINT,
        env::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    ]
    .iter()
    .any(|k| get(k).is_some_and(|v| !v.trim().is_empty()));
    endpoint && !disabled
}

/// Installs the global subscriber: the log lines (filtered by [`env::LOG`], formatted by
/// [`env::LOG_FORMAT`]) and, when [`exporting`], the OTLP trace exporter. Must be called
/// within the Tokio runtime (the exporter sends from a task of it).
pub fn init() -> Telemetry {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env::LOG)
        .unwrap_or_else(|_| "info,rmcp=warn".into());
    // Colour only for a person at a terminal, and never with NO_COLOR (https://no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let not_for_logs = tracing_subscriber::filter::filter_fn(|m| {
        m.target() != callforce_client::telemetry::TARGET
    });
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let logs = if std::env::var(env::LOG_FORMAT).is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json()
            .with_current_span(true)
            .with_filter(filter.and(not_for_logs))
            .boxed()
    } else {
        logs.with_filter(filter.and(not_for_logs)).boxed()
    };
    let provider = exporting(|k| std::env::var(k).ok()).then(provider);
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("callforce"))
            .with_location(false)
            .with_target(false)
            .with_threads(false)
            // NB: spans only, ours only: an event's message may hold a value (an org's error
            // names the duplicate it found), and a span never does.
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.is_span() && m.target().starts_with("callforce")
            }))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    if provider.is_some() {
        if let Ok(p) = std::env::var(env::OTEL_EXPORTER_OTLP_PROTOCOL)
            && !p.trim().eq_ignore_ascii_case("http/protobuf")
        {
            tracing::warn!(protocol = %p, "traces are sent as OTLP over HTTP with protobuf only; {} is ignored", env::OTEL_EXPORTER_OTLP_PROTOCOL);
        }
        tracing::info!("exporting traces over OTLP");
    }
    Telemetry { provider }
}

/// The tracer provider: the OTLP/HTTP exporter (endpoint, headers, timeout from the standard
/// `OTEL_EXPORTER_OTLP_*` variables), batched on the Tokio runtime (`OTEL_BSP_*`), the
/// service named `callforce` unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` names
/// it, and W3C trace context for `traceparent`.
fn provider() -> SdkTracerProvider {
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;

    let detected = Resource::builder().build();
    let unnamed = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_none_or(|v| v.as_str().starts_with("unknown_service"));
    let mut resource = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if unnamed {
        resource = resource.with_service_name("callforce");
    }
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let mut builder = SdkTracerProvider::builder().with_resource(resource.build());
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => {
            builder = builder.with_span_processor(
                BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build(),
            );
        }
        Err(e) => eprintln!("warning: traces are not exported: {e}"),
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporting_needs_an_endpoint_and_no_opt_out() {
        let e = env::OTEL_EXPORTER_OTLP_ENDPOINT;
        let t = env::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
        let d = env::OTEL_SDK_DISABLED;
        for (vars, want) in [
            (vec![], false),
            (vec![(e, "http://127.0.0.1:4318")], true),
            (vec![(t, "http://127.0.0.1:4318/v1/traces")], true),
            (vec![(e, " ")], false),
            (vec![(e, "http://127.0.0.1:4318"), (d, "true")], false),
            (vec![(e, "http://127.0.0.1:4318"), (d, "TRUE")], false),
            (vec![(e, "http://127.0.0.1:4318"), (d, "false")], true),
            (vec![(d, "false")], false),
        ] {
            let got = exporting(|k| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            });
            assert_eq!(got, want, "{vars:?}");
        }
    }
}
