//! `callforce mcp`: MCP over stdio, as a bridge to the service's `/mcp`.
//!
//! Each JSON-RPC message read from stdin (one per line) is POSTed to `/mcp` with the API key and
//! the call's headers; the answer (JSON, or the events of an SSE answer) is written to stdout,
//! one message per line. With no `--url` the service runs embedded in the same process on a
//! loopback port with a one-time key, so both modes share one code path and one MCP server.
//! A stdio process is one conversation: its call id is fixed at start (`--call-id` or a fresh
//! one), and a `callforce/caller_phone` in the `initialize` request's `_meta` sets the caller.

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// Where and as whom the bridge talks to the service.
#[derive(Clone)]
pub struct Bridge {
    /// The `/mcp` URL, with `?tools=compact` or `?agent=` when asked.
    pub url: String,
    /// The API key (sent as a bearer token).
    pub api_key: String,
    /// The call every tool call of this process runs in.
    pub call_id: String,
    /// The caller's phone number, if known at start.
    pub caller_phone: Option<String>,
    /// The agent handling the call.
    pub agent: Option<String>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("url", &self.url)
            .field("call_id", &self.call_id)
            .finish_non_exhaustive()
    }
}

/// Forwards messages from `input` to the service and its answers to `output` until `input`
/// ends.
///
/// # Errors
/// When `output` cannot be written or the HTTP client cannot be built; a service that fails to
/// answer a request becomes a JSON-RPC error for that request instead.
pub async fn run<R, W>(mut bridge: Bridge, input: R, mut output: W) -> anyhow::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let http = reqwest::Client::builder()
        .build()
        .context("building the HTTP client")?;
    let mut protocol_version: Option<String> = None;
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await.context("reading stdin")? {
        if line.trim().is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let err = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("not JSON: {e}")}});
                write_line(&mut output, &err).await?;
                continue;
            }
        };
        let is_initialize = message["method"] == "initialize";
        if is_initialize {
            let meta = &message["params"]["_meta"];
            if let Some(p) = meta["callforce/caller_phone"].as_str() {
                bridge.caller_phone = Some(p.to_owned());
            }
            if let Some(a) = meta["callforce/agent"].as_str() {
                bridge.agent = Some(a.to_owned());
            }
        }
        let id = message.get("id").cloned();
        let mut req = http
            .post(&bridge.url)
            .bearer_auth(&bridge.api_key)
            .header("accept", "application/json, text/event-stream")
            .header("x-call-id", &bridge.call_id)
            .json(&message);
        if let Some(p) = &bridge.caller_phone {
            req = req.header("x-caller-phone", p);
        }
        if let Some(a) = &bridge.agent {
            req = req.header("x-agent", a);
        }
        if let Some(v) = &protocol_version {
            req = req.header("mcp-protocol-version", v);
        }
        let answers = match exchange(req).await {
            Ok(answers) => answers,
            Err(why) => {
                tracing::warn!(%why, "the service did not answer an MCP message");
                match id {
                    // A notification has nobody to tell.
                    None | Some(Value::Null) => continue,
                    Some(id) => vec![
                        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": why}}),
                    ],
                }
            }
        };
        for answer in answers {
            if is_initialize && let Some(v) = answer["result"]["protocolVersion"].as_str() {
                protocol_version = Some(v.to_owned());
            }
            write_line(&mut output, &answer).await?;
        }
    }
    Ok(())
}

/// Sends one message; returns the JSON-RPC messages of the answer, or why there is none.
async fn exchange(req: reqwest::RequestBuilder) -> Result<Vec<Value>, String> {
    let resp = req
        .send()
        .await
        .map_err(|e| format!("callforce could not be reached: {e}"))?;
    let status = resp.status();
    let is_sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = resp
        .text()
        .await
        .map_err(|e| format!("reading callforce's answer: {e}"))?;
    if !status.is_success() {
        let detail = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(body);
        return Err(format!("callforce answered {status}: {detail}"));
    }
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    if is_sse {
        return Ok(body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect());
    }
    serde_json::from_str(&body)
        .map(|v| vec![v])
        .map_err(|e| format!("callforce answered something that is not JSON: {e}"))
}

async fn write_line<W: AsyncWrite + Unpin>(output: &mut W, message: &Value) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    output.write_all(&line).await.context("writing stdout")?;
    output.flush().await.context("writing stdout")?;
    Ok(())
}
