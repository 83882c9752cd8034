//! The token lifecycle of one connection: the current access token, refresh on expiry or on
//! `401 INVALID_SESSION_ID`, one refresh at a time, rotation, and re-authorisation.
//!
//! Single flight: every request remembers the *generation* of the token it used. A request that
//! meets a 401 asks for a refresh of that generation; the refresh lock lets one caller through,
//! and callers that were waiting behind it find the generation moved on and take the new token
//! without a second call to the token endpoint. So a hundred concurrent 401s make one refresh.
//!
//! Rotation: when a refresh answers with a new refresh token, it is handed to the
//! [`RotationHook`] and awaited before the lock is released. If storing fails, the token is kept
//! in memory but not used for another refresh until a retry of the hook succeeds
//! ([`Error::Persist`] meanwhile), so a rotated token is always stored before it is used again.
//!
//! Re-authorisation: `invalid_grant` from the token endpoint (revoked or expired grant) puts the
//! connection in a state where every request fails at once with
//! [`Error::NeedsReauthorization`]; nothing retries until [`TokenManager::set_tokens`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{Grant, OAuthClient, Tokens};
use crate::error::{Error, Result};

/// A boxed future, as returned by a [`RotationHook`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Stores a rotated refresh token (encrypted, in the connection's row); called and awaited
/// before the token is used. An `Err` is a message for the logs; it never contains the token.
pub type RotationHook =
    Arc<dyn Fn(SecretString) -> BoxFuture<'static, std::result::Result<(), String>> + Send + Sync>;

/// The current access token and its generation (bumped by every refresh).
#[derive(Clone)]
pub struct Current {
    /// The access token.
    pub access_token: SecretString,
    /// Its generation.
    pub generation: u64,
    /// The instance URL it belongs to.
    pub instance_url: Arc<str>,
}

impl std::fmt::Debug for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Current")
            .field("access_token", &"[redacted]")
            .field("generation", &self.generation)
            .field("instance_url", &self.instance_url)
            .finish()
    }
}

struct State {
    current: Current,
    obtained: Instant,
    grant: Grant,
    needs_reauth: Option<String>,
    /// A rotated refresh token the hook has not stored yet.
    unpersisted: bool,
    /// The user's id, from the identity URL of the token answer (or the userinfo endpoint).
    user_id: Option<Arc<str>>,
}

/// The user id at the end of an identity URL (`https://login.salesforce.com/id/00D.../005...`),
/// when it looks like an id (15 or 18 letters and digits).
fn user_of(identity_url: &str) -> Option<Arc<str>> {
    let last = identity_url.trim_end_matches('/').rsplit('/').next()?;
    let looks_like_id =
        matches!(last.len(), 15 | 18) && last.bytes().all(|b| b.is_ascii_alphanumeric());
    (identity_url.contains("/id/") && looks_like_id).then(|| last.into())
}

/// Holds and renews one connection's tokens.
pub struct TokenManager {
    oauth: OAuthClient,
    state: RwLock<State>,
    refresh_lock: tokio::sync::Mutex<()>,
    on_rotate: Option<RotationHook>,
    lifetime: Option<Duration>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.read();
        f.debug_struct("TokenManager")
            .field("generation", &st.current.generation)
            .field("grant", &st.grant)
            .field("needs_reauth", &st.needs_reauth)
            .finish()
    }
}

impl TokenManager {
    /// Starts from `tokens`; `grant` is how to renew them (a refresh token in `tokens` is used
    /// when `grant` is [`Grant::None`]). `lifetime`, when known (the org's session timeout),
    /// makes the manager refresh before sending once it has passed.
    pub fn new(
        oauth: OAuthClient,
        tokens: Tokens,
        grant: Grant,
        on_rotate: Option<RotationHook>,
        lifetime: Option<Duration>,
    ) -> Self {
        let grant = match (grant, &tokens.refresh_token) {
            (Grant::None, Some(r)) => Grant::RefreshToken(r.clone()),
            (g, _) => g,
        };
        Self {
            oauth,
            state: RwLock::new(State {
                current: Current {
                    access_token: tokens.access_token,
                    generation: 0,
                    instance_url: tokens.instance_url.trim_end_matches('/').into(),
                },
                obtained: Instant::now(),
                grant,
                needs_reauth: None,
                unpersisted: false,
                user_id: user_of(&tokens.id),
            }),
            refresh_lock: tokio::sync::Mutex::new(()),
            on_rotate,
            lifetime,
        }
    }

    /// The OAuth endpoints used to renew tokens.
    pub fn oauth(&self) -> &OAuthClient {
        &self.oauth
    }

    /// The instance URL of the current token.
    pub fn instance_url(&self) -> Arc<str> {
        self.state.read().current.instance_url.clone()
    }

    /// The id of the user the tokens act as, when the token answer named it (its identity URL
    /// ends with the user id) or [`TokenManager::set_user_id`] recorded it.
    pub fn user_id(&self) -> Option<Arc<str>> {
        self.state.read().user_id.clone()
    }

    /// Records the id of the user the tokens act as (read from the userinfo endpoint when the
    /// token answer did not name it).
    pub fn set_user_id(&self, user_id: &str) {
        self.state.write().user_id = Some(user_id.into());
    }

    /// Why the connection needs re-authorisation, if it does.
    pub fn needs_reauthorization(&self) -> Option<String> {
        self.state.read().needs_reauth.clone()
    }

    /// Replaces the tokens (after a person authorised the connection again) and clears the
    /// re-authorisation state.
    pub fn set_tokens(&self, tokens: Tokens, grant: Grant) {
        let mut st = self.state.write();
        st.grant = match (grant, &tokens.refresh_token) {
            (Grant::None, Some(r)) => Grant::RefreshToken(r.clone()),
            (g, _) => g,
        };
        st.current = Current {
            access_token: tokens.access_token,
            generation: st.current.generation + 1,
            instance_url: tokens.instance_url.trim_end_matches('/').into(),
        };
        st.obtained = Instant::now();
        st.needs_reauth = None;
        st.unpersisted = false;
        st.user_id = user_of(&tokens.id);
    }

    /// The token to send now, refreshed first when its known lifetime has passed.
    ///
    /// # Errors
    /// [`Error::NeedsReauthorization`] when the grant was refused; a refresh's errors.
    pub async fn current(&self) -> Result<Current> {
        let (current, stale) = {
            let st = self.state.read();
            if let Some(reason) = &st.needs_reauth {
                return Err(Error::NeedsReauthorization {
                    reason: reason.clone(),
                });
            }
            let stale = self
                .lifetime
                .is_some_and(|l| st.obtained.elapsed() >= l.saturating_sub(Duration::from_secs(1)));
            (st.current.clone(), stale)
        };
        if stale {
            return self.refresh(current.generation).await;
        }
        Ok(current)
    }

    /// Renews the token of generation `seen` (the one a request was refused with). When another
    /// caller already renewed it, returns the newer token without calling the token endpoint.
    ///
    /// # Errors
    /// [`Error::NeedsReauthorization`] on `invalid_grant`; [`Error::Persist`] when a rotated
    /// token could not be stored; network and other OAuth errors as they come (not marking the
    /// connection).
    pub async fn refresh(&self, seen: u64) -> Result<Current> {
        let _guard = self.refresh_lock.lock().await;
        let (grant, unpersisted) = {
            let st = self.state.read();
            if let Some(reason) = &st.needs_reauth {
                return Err(Error::NeedsReauthorization {
                    reason: reason.clone(),
                });
            }
            if st.current.generation != seen {
                return Ok(st.current.clone());
            }
            (st.grant.clone(), st.unpersisted)
        };
        if unpersisted && let Grant::RefreshToken(token) = &grant {
            self.persist(token.clone()).await?;
            self.state.write().unpersisted = false;
        }
        tracing::debug!(generation = seen, grant = ?grant, "refreshing the access token");
        let tokens = match self.oauth.grant(&grant).await {
            Ok(t) => t,
            Err(Error::OAuth {
                error, description, ..
            }) if error == "invalid_grant" => {
                let reason = format!("{error}: {description}");
                tracing::warn!(%reason, "grant refused; the connection needs re-authorisation");
                self.state.write().needs_reauth = Some(reason.clone());
                return Err(Error::NeedsReauthorization { reason });
            }
            Err(e @ Error::NeedsReauthorization { .. }) => {
                self.state.write().needs_reauth = Some(e.to_string());
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let rotated = match (&grant, &tokens.refresh_token) {
            (Grant::RefreshToken(old), Some(new)) if old.expose_secret() != new.expose_secret() => {
                Some(new.clone())
            }
            _ => None,
        };
        let mut persist_error = None;
        if let Some(new) = &rotated
            && let Err(e) = self.persist(new.clone()).await
        {
            persist_error = Some(e);
        }
        let mut st = self.state.write();
        if let Some(user) = user_of(&tokens.id) {
            st.user_id = Some(user);
        }
        if let Some(new) = rotated {
            st.grant = Grant::RefreshToken(new);
            st.unpersisted = persist_error.is_some();
        }
        st.current = Current {
            access_token: tokens.access_token,
            generation: st.current.generation + 1,
            instance_url: tokens.instance_url.trim_end_matches('/').into(),
        };
        st.obtained = Instant::now();
        Ok(st.current.clone())
    }

    async fn persist(&self, token: SecretString) -> Result<()> {
        let Some(hook) = &self.on_rotate else {
            return Ok(());
        };
        hook(token).await.map_err(|e| {
            tracing::error!(error = %e, "storing the rotated refresh token failed");
            Error::Persist(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::user_of;

    #[test]
    fn user_ids_come_from_identity_urls() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA",
                Some("005000000000001AAA"),
            ),
            (
                "http://127.0.0.1:8180/id/00D000000000001/005000000000001/",
                Some("005000000000001"),
            ),
            ("", None),
            (
                "https://login.salesforce.com/id/00D000000000001AAA/not-an-id",
                None,
            ),
            ("https://example.com/users/005000000000001AAA", None),
        ];
        for (url, want) in cases {
            assert_eq!(user_of(url).as_deref(), *want, "{url}");
        }
    }
}
