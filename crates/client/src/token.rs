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
//! Across processes: several instances holding the same connection (sharing one database) would
//! each refresh it, and where the org rotates refresh tokens the second refresh presents a token
//! the first already spent. A [`RefreshCoordinator`] ([`TokenManager::with_coordinator`]) takes
//! a lock shared by every instance inside the local single flight and reads the tokens stored
//! under it: when they differ from the ones this process was refused with, another instance
//! refreshed meanwhile and its tokens are taken instead of refreshing again; otherwise this
//! process refreshes and stores its new tokens before the lock is released.
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

/// A connection's tokens as stored, shared by the instances that hold the connection.
#[derive(Clone)]
pub struct StoredTokens {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token, if the grant has one.
    pub refresh_token: Option<SecretString>,
    /// The instance URL the access token belongs to, when known: stored tokens of another
    /// instance URL are never taken.
    pub instance_url: Option<String>,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokens")
            .field("instance_url", &self.instance_url)
            .finish_non_exhaustive()
    }
}

/// Serialises the refreshes of one connection across processes (a database lock per
/// connection). Errors are messages for the logs; they never contain a token.
pub trait RefreshCoordinator: Send + Sync {
    /// Waits for the connection's lock and reads the tokens stored under it.
    fn lock(&self) -> BoxFuture<'_, std::result::Result<Box<dyn RefreshTicket>, String>>;
}

/// A held cross-process refresh lock; dropping it releases the lock without storing anything.
pub trait RefreshTicket: Send {
    /// The tokens stored when the lock was taken (`None` when none are).
    fn stored(&self) -> Option<StoredTokens>;
    /// Stores the tokens of a refresh this process made, then releases the lock.
    fn save(
        self: Box<Self>,
        tokens: StoredTokens,
    ) -> BoxFuture<'static, std::result::Result<(), String>>;
    /// Releases the lock without storing anything; `took_stored` says whether this process
    /// now uses the stored tokens.
    fn release(self: Box<Self>, took_stored: bool) -> BoxFuture<'static, ()>;
}

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
    coordinator: Option<Arc<dyn RefreshCoordinator>>,
    lifetime: Option<Duration>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.read();
        f.debug_struct("TokenManager")
            .field("generation", &st.current.generation)
            .field("grant", &st.grant)
            .field("needs_reauth", &st.needs_reauth)
            .field("coordinated", &self.coordinator.is_some())
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
            coordinator: None,
            lifetime,
        }
    }

    /// Serialises this connection's refreshes with other processes through `coordinator`
    /// (see the module doc): a refresh another instance already made is taken from the store
    /// instead of being made again.
    #[must_use]
    pub fn with_coordinator(mut self, coordinator: Arc<dyn RefreshCoordinator>) -> Self {
        self.coordinator = Some(coordinator);
        self
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
        let ticket = match &self.coordinator {
            Some(c) => Some(c.lock().await.map_err(|e| {
                tracing::warn!(error = %e, "taking the connection's refresh lock failed");
                Error::Coordinate(e)
            })?),
            None => None,
        };
        if let Some(t) = &ticket
            && let Some(current) = self.adopt_stored(t.as_ref(), seen)
        {
            if let Some(t) = ticket {
                t.release(true).await;
            }
            return Ok(current);
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
                release(ticket).await;
                return Err(Error::NeedsReauthorization { reason });
            }
            Err(e @ Error::NeedsReauthorization { .. }) => {
                self.state.write().needs_reauth = Some(e.to_string());
                release(ticket).await;
                return Err(e);
            }
            Err(e) => {
                release(ticket).await;
                return Err(e);
            }
        };
        let rotated = match (&grant, &tokens.refresh_token) {
            (Grant::RefreshToken(old), Some(new)) if old.expose_secret() != new.expose_secret() => {
                Some(new.clone())
            }
            _ => None,
        };
        let mut persist_error = None;
        if let Some(t) = ticket {
            // Stored under the lock, so an instance waiting for it finds these tokens.
            let refresh_token = match (&rotated, &grant) {
                (Some(new), _) => Some(new.clone()),
                (None, Grant::RefreshToken(old)) => Some(old.clone()),
                _ => None,
            };
            let stored = StoredTokens {
                access_token: tokens.access_token.clone(),
                refresh_token,
                instance_url: Some(tokens.instance_url.trim_end_matches('/').to_owned()),
            };
            if let Err(e) = t.save(stored).await {
                tracing::error!(error = %e, "storing the refreshed tokens failed");
                if rotated.is_some() {
                    persist_error = Some(Error::Persist(e));
                }
            }
        } else if let Some(new) = &rotated
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

    /// Takes the tokens under `ticket` when another process stored new ones since this one
    /// was refused with generation `seen`.
    fn adopt_stored(&self, ticket: &dyn RefreshTicket, seen: u64) -> Option<Current> {
        let stored = ticket.stored()?;
        let mut st = self.state.write();
        let same_instance = stored
            .instance_url
            .as_deref()
            .is_none_or(|u| u.trim_end_matches('/') == &*st.current.instance_url);
        if st.current.generation != seen
            || !same_instance
            || stored.access_token.expose_secret().is_empty()
            || stored.access_token.expose_secret() == st.current.access_token.expose_secret()
        {
            return None;
        }
        tracing::debug!(
            generation = seen,
            "another instance refreshed the connection: taking its stored tokens"
        );
        if let (Grant::RefreshToken(_), Some(r)) = (&st.grant, stored.refresh_token) {
            st.grant = Grant::RefreshToken(r);
            st.unpersisted = false;
        }
        st.current = Current {
            access_token: stored.access_token,
            generation: st.current.generation + 1,
            instance_url: st.current.instance_url.clone(),
        };
        st.obtained = Instant::now();
        Some(st.current.clone())
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

/// Releases a cross-process refresh lock, if one is held.
async fn release(ticket: Option<Box<dyn RefreshTicket>>) {
    if let Some(t) = ticket {
        t.release(false).await;
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
