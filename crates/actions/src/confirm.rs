//! Confirmation of writes: a first call returns a preview of exactly what will be written and a
//! token bound to it; the write runs only when the same call sends the same payload again with
//! that token, before it expires, once.
//!
//! The token is `v1.<expires_ms>.<mac>` where `mac` is HMAC-SHA256 (base64url) over the call id,
//! the action name, the canonical payload (object keys sorted, no whitespace) and the expiry, under
//! a key held by the process. Nothing is stored until a token is used: then its MAC is
//! remembered until it expires, so a token works once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::error::{ActionError, ErrorCode};

/// The clock confirmations read (injected in tests).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The argument that carries a confirmation token.
pub const TOKEN_ARG: &str = "confirmation_token";

/// How confirmations work.
#[derive(Clone)]
pub struct ConfirmConfig {
    /// How long a token stays valid (5 minutes by default).
    pub ttl: Duration,
    /// The HMAC key; several instances behind one load balancer must share it. Random per
    /// process when `None`.
    pub key: Option<[u8; 32]>,
    /// The clock (the system clock by default).
    pub clock: Clock,
}

impl Default for ConfirmConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            key: None,
            clock: Arc::new(Utc::now),
        }
    }
}

impl std::fmt::Debug for ConfirmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmConfig")
            .field("ttl", &self.ttl)
            .field("key", &self.key.map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// Issues and checks confirmation tokens.
pub struct Confirmer {
    key: [u8; 32],
    ttl_ms: i64,
    clock: Clock,
    /// MACs of used tokens, with their expiry (ms), so a token works once.
    used: Mutex<HashMap<[u8; 32], i64>>,
}

impl Confirmer {
    /// A confirmer with `config`.
    pub fn new(config: ConfirmConfig) -> Self {
        let key = config.key.unwrap_or_else(|| {
            use rand::RngCore;
            let mut k = [0u8; 32];
            rand::rng().fill_bytes(&mut k);
            k
        });
        Self {
            key,
            ttl_ms: i64::try_from(config.ttl.as_millis()).unwrap_or(i64::MAX / 2),
            clock: config.clock,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// The current time of this confirmer's clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    fn mac(&self, call_id: &str, action: &str, payload: &Value, expires_ms: i64) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        m.update(b"callforce.confirm.v1\0");
        for part in [call_id.as_bytes(), action.as_bytes()] {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part);
        }
        let canonical = canonical(payload);
        m.update(&(canonical.len() as u64).to_be_bytes());
        m.update(canonical.as_bytes());
        m.update(&expires_ms.to_be_bytes());
        m.finalize().into_bytes().into()
    }

    /// The result a model reads when `action` needs confirmation: the preview and a token
    /// bound to `payload` (what will be sent).
    pub fn require(&self, call_id: &str, action: &str, payload: &Value, preview: Value) -> Value {
        let expires_ms = self.now().timestamp_millis().saturating_add(self.ttl_ms);
        let mac = self.mac(call_id, action, payload, expires_ms);
        let token = format!(
            "v1.{expires_ms}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
        );
        let expires_at = DateTime::<Utc>::from_timestamp_millis(expires_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        json!({"confirmation_required": {
            "message": format!(
                "Nothing was written yet. Read this to the caller; if they agree, call {action} again with the same arguments plus \"{TOKEN_ARG}\": \"{token}\"."
            ),
            "preview": preview,
            "token": token,
            "expires_at": expires_at,
        }})
    }

    /// Checks `token` for `payload` of `action` in call `call_id` and uses it up.
    ///
    /// # Errors
    /// [`ErrorCode::ConfirmationInvalid`] when the token is malformed, was issued for another
    /// call, action or payload, has expired, or was already used.
    pub fn consume(
        &self,
        call_id: &str,
        action: &str,
        payload: &Value,
        token: &str,
    ) -> Result<(), ActionError> {
        let invalid = |why: &str| {
            ActionError::new(
                ErrorCode::ConfirmationInvalid,
                format!("{why}; call {action} without {TOKEN_ARG} to get a new preview and token, and confirm it with the caller"),
            )
            .field(TOKEN_ARG)
        };
        let mut parts = token.splitn(3, '.');
        let (Some("v1"), Some(exp), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("that is not a confirmation token"));
        };
        let Ok(expires_ms) = exp.parse::<i64>() else {
            return Err(invalid("that is not a confirmation token"));
        };
        let Ok(given) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(mac) else {
            return Err(invalid("that is not a confirmation token"));
        };
        let expected = self.mac(call_id, action, payload, expires_ms);
        // Constant-time comparison through the MAC type.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        m.update(&expected);
        let mut n = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        n.update(&given);
        if m.verify_slice(&n.finalize().into_bytes()).is_err() {
            return Err(invalid(
                "the confirmation token does not match these arguments (they changed since the preview, or the token is for another action or call)",
            ));
        }
        let now = self.now().timestamp_millis();
        if now > expires_ms {
            return Err(invalid("the confirmation token has expired"));
        }
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        used.retain(|_, exp| *exp >= now);
        if used.insert(expected, expires_ms).is_some() {
            return Err(invalid("the confirmation token was already used"));
        }
        Ok(())
    }
}

/// `value` as canonical JSON: object keys sorted at every level, no whitespace.
pub fn canonical(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    fn at(clock: &Arc<AtomicI64>) -> Confirmer {
        let c = clock.clone();
        Confirmer::new(ConfirmConfig {
            ttl: Duration::from_secs(300),
            key: Some([7; 32]),
            clock: Arc::new(move || {
                DateTime::from_timestamp_millis(c.load(Ordering::SeqCst)).unwrap_or_default()
            }),
        })
    }

    fn token(r: &Value) -> String {
        r["confirmation_required"]["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"d": [ {"y": 1, "x": 2} ], "c": null}});
        assert_eq!(
            canonical(&a),
            r#"{"a":{"c":null,"d":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn a_token_works_once_for_its_call_action_and_payload_until_it_expires() {
        let clock = Arc::new(AtomicI64::new(1_800_000_000_000));
        let c = at(&clock);
        let payload = json!({"record_id": "003000000000001AAA"});
        let preview = json!({"arguments": payload});
        let t = token(&c.require("call-1", "delete_contact", &payload, preview.clone()));
        let code = |r: Result<(), ActionError>| r.map_err(|e| (e.code, e.message.to_string()));

        // Wrong token, other payload, other action, other call.
        let e = code(c.consume("call-1", "delete_contact", &payload, "nonsense")).unwrap_err();
        assert_eq!(e.0, ErrorCode::ConfirmationInvalid);
        let forged = format!("{}x", &t[..t.len() - 1]);
        assert!(code(c.consume("call-1", "delete_contact", &payload, &forged)).is_err());
        let changed = json!({"record_id": "003000000000002AAA"});
        let e = code(c.consume("call-1", "delete_contact", &changed, &t)).unwrap_err();
        assert!(e.1.contains("does not match"), "{}", e.1);
        assert!(code(c.consume("call-1", "delete_lead", &payload, &t)).is_err());
        assert!(code(c.consume("call-2", "delete_contact", &payload, &t)).is_err());
        // A longer expiry in the token breaks the MAC.
        let (_, rest) = t.split_at(3);
        let mac = rest.split_once('.').expect("mac").1;
        let stretched = format!("v1.{}.{mac}", 1_900_000_000_000_i64);
        assert!(code(c.consume("call-1", "delete_contact", &payload, &stretched)).is_err());

        // The right one works once.
        assert_eq!(
            code(c.consume("call-1", "delete_contact", &payload, &t)),
            Ok(())
        );
        let e = code(c.consume("call-1", "delete_contact", &payload, &t)).unwrap_err();
        assert!(e.1.contains("already used"), "{}", e.1);

        // Expiry: valid at the last millisecond, refused after.
        let t2 = token(&c.require("call-1", "delete_contact", &payload, preview));
        clock.fetch_add(300_001, Ordering::SeqCst);
        let e = code(c.consume("call-1", "delete_contact", &payload, &t2)).unwrap_err();
        assert!(e.1.contains("expired"), "{}", e.1);
    }

    #[test]
    fn key_order_of_the_payload_does_not_matter() {
        let clock = Arc::new(AtomicI64::new(0));
        let c = at(&clock);
        let t = token(&c.require("c", "a", &json!({"x": 1, "y": 2}), json!({})));
        assert_eq!(
            c.consume("c", "a", &json!({"y": 2, "x": 1}), &t)
                .map_err(|e| e.message),
            Ok(())
        );
    }
}
