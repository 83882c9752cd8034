//! The typed operations of a [`Connection`]: each builds a [`Request`], sends it, and parses
//! the answer; [`Connection::execute`] runs any request (a queued one) and returns its JSON.

use std::sync::Arc;

use callforce_types::Id;
use futures_util::stream::{self, Stream, TryStreamExt};
use serde::de::DeserializeOwned;

use crate::composite::{BatchRequest, BatchResponse, CompositeRequest, CompositeResponse};
use crate::connection::{Connection, Method, RawResponse};
use crate::describe::{DescribeGlobal, Described, SObjectDescribe};
use crate::error::{Error, ErrorBody, Result};
use crate::request::{
    OrgLimits, QueryResult, RawRequest, Record, Request, SaveResult, SearchResult, TreeResult,
};

impl Connection {
    /// Sends one request (collections of more than 200 records as several, in order) and
    /// returns the answer's JSON (`null` for 204). A collections answer is the concatenation of
    /// its chunks' result arrays. A tree request that fails returns its `hasErrors` body.
    ///
    /// # Errors
    /// See [`Connection::send`].
    pub async fn execute(&self, request: &Request) -> Result<serde_json::Value> {
        let chunks = request.chunks();
        if chunks.len() > 1 {
            // NB: allOrNone applies per chunk; records in an earlier chunk stay written when a
            // later chunk fails.
            let mut all = Vec::new();
            for chunk in &chunks {
                match self.send_request(chunk).await?.json()? {
                    serde_json::Value::Array(v) => all.extend(v),
                    other => all.push(other),
                }
            }
            return Ok(serde_json::Value::Array(all));
        }
        match self.send_request(request).await {
            Ok(r) => r.json(),
            Err(Error::Api {
                status: 400,
                body: ErrorBody::Text(t),
                ..
            }) if matches!(request, Request::Tree { .. }) && t.contains("\"hasErrors\"") => {
                serde_json::from_str(&t).map_err(|e| Error::InvalidRequest(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// Sends `request`; a read (GET or HEAD) that fails with a retryable error is tried again
    /// within the connection's read budget ([`crate::retry::read_retry_after`]). Every typed
    /// operation, [`Connection::execute`] and [`Connection::raw`] come through here, so each
    /// read path is retried once, here, and a caller never retries a read on top.
    async fn send_request(&self, request: &Request) -> Result<RawResponse> {
        let http = request.to_http(self.version())?;
        if !matches!(http.method, Method::Get | Method::Head) {
            return self.send(&http).await;
        }
        let started = tokio::time::Instant::now();
        let mut retries = 0;
        loop {
            let tried = tokio::time::Instant::now();
            let e = match self.send(&http).await {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            let wait = crate::retry::read_retry_after(
                e.class(),
                retries,
                started.elapsed(),
                tried.elapsed(),
                self.inner.read_budget,
            );
            let Some(wait) = wait else {
                return Err(e);
            };
            tracing::debug!(error = %e, ?wait, "read failed; trying again");
            tokio::time::sleep(wait).await;
            retries += 1;
        }
    }

    async fn typed<T: DeserializeOwned>(&self, request: &Request) -> Result<T> {
        self.send_request(request).await?.parse()
    }

    /// Creates a record.
    ///
    /// # Errors
    /// [`Error::Api`] (400 with the validation errors, 404 for an unknown object...).
    pub async fn create(&self, sobject: &str, record: Record) -> Result<SaveResult> {
        self.typed(&Request::Create {
            sobject: sobject.to_owned(),
            record,
        })
        .await
    }

    /// Reads a record (only `fields` when not empty).
    ///
    /// # Errors
    /// [`Error::Api`] 404 `NOT_FOUND` when it does not exist.
    pub async fn get(&self, sobject: &str, id: Id, fields: &[&str]) -> Result<Record> {
        self.typed(&Request::Get {
            sobject: sobject.to_owned(),
            id,
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        })
        .await
    }

    /// Updates a record (204).
    ///
    /// # Errors
    /// [`Error::Api`] as for create.
    pub async fn update(&self, sobject: &str, id: Id, record: Record) -> Result<()> {
        self.send_request(&Request::Update {
            sobject: sobject.to_owned(),
            id,
            record,
        })
        .await
        .map(|_| ())
    }

    /// Deletes a record (204).
    ///
    /// # Errors
    /// [`Error::Api`] 404 `ENTITY_IS_DELETED` or `NOT_FOUND`.
    pub async fn delete(&self, sobject: &str, id: Id) -> Result<()> {
        self.send_request(&Request::Delete {
            sobject: sobject.to_owned(),
            id,
        })
        .await
        .map(|_| ())
    }

    /// Creates or updates the record whose External ID `field` is `value`; `created` tells which.
    ///
    /// # Errors
    /// [`Error::Api`] 300 ([`ErrorBody::MultipleChoices`]) when several records match.
    pub async fn upsert(
        &self,
        sobject: &str,
        field: &str,
        value: &str,
        record: Record,
    ) -> Result<SaveResult> {
        let r = self
            .send_request(&Request::Upsert {
                sobject: sobject.to_owned(),
                field: field.to_owned(),
                value: value.to_owned(),
                record,
            })
            .await?;
        if r.body.is_empty() {
            // API 45.0 and older answer an update with 204 and no body.
            return Ok(SaveResult {
                id: None,
                success: true,
                errors: vec![],
                created: Some(r.status == 201),
            });
        }
        r.parse()
    }

    /// The first page of a SOQL query.
    ///
    /// # Errors
    /// [`Error::Api`] 400 `MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`.
    pub async fn query<T: DeserializeOwned>(&self, soql: &str) -> Result<QueryResult<T>> {
        self.typed(&Request::Query {
            soql: soql.to_owned(),
            all: false,
        })
        .await
    }

    /// The first page of a `queryAll` (deleted and archived rows too).
    ///
    /// # Errors
    /// As [`Connection::query`].
    pub async fn query_all<T: DeserializeOwned>(&self, soql: &str) -> Result<QueryResult<T>> {
        self.typed(&Request::Query {
            soql: soql.to_owned(),
            all: true,
        })
        .await
    }

    /// The page at a `nextRecordsUrl`.
    ///
    /// # Errors
    /// [`Error::Api`] 400 `INVALID_QUERY_LOCATOR` for an unknown or expired locator.
    pub async fn query_more<T: DeserializeOwned>(
        &self,
        next_records_url: &str,
    ) -> Result<QueryResult<T>> {
        self.typed(&Request::QueryMore {
            next_records_url: next_records_url.to_owned(),
        })
        .await
    }

    /// Every row of a query, page after page (following `nextRecordsUrl` only as the stream is
    /// read).
    pub fn query_stream<T: DeserializeOwned + Send + 'static>(
        &self,
        soql: &str,
        all: bool,
    ) -> impl Stream<Item = Result<T>> + Send + 'static {
        enum Next {
            First(String, bool),
            More(String),
            Done,
        }
        let conn = self.clone();
        stream::try_unfold(
            (conn, Next::First(soql.to_owned(), all)),
            |(conn, next)| async move {
                let page: QueryResult<T> = match next {
                    Next::Done => return Ok(None),
                    Next::First(soql, all) => conn.typed(&Request::Query { soql, all }).await?,
                    Next::More(url) => conn.query_more(&url).await?,
                };
                let next = match (page.done, page.next_records_url) {
                    (false, Some(url)) => Next::More(url),
                    _ => Next::Done,
                };
                let rows = stream::iter(page.records.into_iter().map(Ok));
                Ok(Some((rows, (conn, next))))
            },
        )
        .try_flatten()
    }

    /// A SOSL search.
    ///
    /// # Errors
    /// [`Error::Api`] 400 `MALFORMED_SEARCH`.
    pub async fn search(&self, sosl: &str) -> Result<SearchResult> {
        self.typed(&Request::Search {
            sosl: sosl.to_owned(),
        })
        .await
    }

    /// The org's objects, cached for the connection's describe TTL.
    ///
    /// # Errors
    /// Transport and API errors.
    pub async fn describe_global(&self) -> Result<Arc<DescribeGlobal>> {
        if let Some(d) = self.inner.describe.global() {
            return Ok(d);
        }
        let d: Arc<DescribeGlobal> = Arc::new(self.typed(&Request::DescribeGlobal).await?);
        self.inner.describe.put_global(d.clone());
        Ok(d)
    }

    /// One object's describe, cached for the connection's describe TTL.
    ///
    /// # Errors
    /// [`Error::Api`] 404 `NOT_FOUND` for an unknown object.
    pub async fn describe(&self, sobject: &str) -> Result<Arc<SObjectDescribe>> {
        if let Some(d) = self.inner.describe.get(sobject) {
            return Ok(d);
        }
        let d: Arc<SObjectDescribe> = Arc::new(
            self.typed(&Request::Describe {
                sobject: sobject.to_owned(),
            })
            .await?,
        );
        self.inner.describe.put(d.clone());
        Ok(d)
    }

    /// One object's describe if it changed since `since` (the `Last-Modified` of an earlier
    /// answer, sent as `If-Modified-Since`); with `None`, always. A changed describe replaces
    /// the cached one. Bypasses the cache's TTL: this is how a poller learns of schema changes
    /// for the price of a bodiless `304` when there are none.
    ///
    /// # Errors
    /// [`Error::Api`] 404 `NOT_FOUND` for an object that no longer exists; transport errors.
    pub async fn describe_if_modified(
        &self,
        sobject: &str,
        since: Option<&str>,
    ) -> Result<Described> {
        let mut req = Request::Describe {
            sobject: sobject.to_owned(),
        }
        .to_http(self.version())?;
        if let Some(s) = since {
            req.headers.push(("If-Modified-Since".into(), s.to_owned()));
        }
        match self.send(&req).await {
            Ok(resp) => {
                let describe: Arc<SObjectDescribe> = Arc::new(resp.parse()?);
                self.inner.describe.put(describe.clone());
                Ok(Described::Modified {
                    describe,
                    last_modified: resp.last_modified,
                })
            }
            Err(Error::Api { status: 304, .. }) => Ok(Described::NotModified),
            Err(e) => Err(e),
        }
    }

    /// The values of every picklist of `sobject` under the record type `record_type_id`
    /// (`GET /ui-api/object-info/{object}/picklist-values/{recordTypeId}`), not cached.
    ///
    /// # Errors
    /// [`Error::Api`] 404 for an unknown object or record type; transport errors.
    pub async fn picklist_values(
        &self,
        sobject: &str,
        record_type_id: &str,
    ) -> Result<crate::describe::RecordTypePicklists> {
        let valid =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid(sobject) || !valid(record_type_id) {
            return Err(Error::InvalidRequest(format!(
                "not an object and record type id: {sobject} {record_type_id}"
            )));
        }
        let resp = self
            .raw(RawRequest {
                method: crate::connection::Method::Get,
                path: format!("ui-api/object-info/{sobject}/picklist-values/{record_type_id}"),
                query: vec![],
                headers: vec![],
                body: None,
            })
            .await?;
        resp.parse()
    }

    /// The describe of `sobject` this connection holds, fresh or not, without asking the org:
    /// the latest one fetched, else one handed in with [`Connection::seed_describe`].
    pub fn held_describe(&self, sobject: &str) -> Option<Arc<SObjectDescribe>> {
        self.inner.describe.held(sobject)
    }

    /// Whether the describe of `sobject` held is fresh (fetched within the describe TTL).
    pub fn has_fresh_describe(&self, sobject: &str) -> bool {
        self.inner.describe.get(sobject).is_some()
    }

    /// Hands the connection a describe fetched earlier (one the service stored), unless it
    /// holds one already: [`Connection::held_describe`] serves it; [`Connection::describe`]
    /// still fetches the current one.
    pub fn seed_describe(&self, describe: Arc<SObjectDescribe>) {
        self.inner.describe.seed(describe);
    }

    /// Forgets that cached describes are current: one object's, or all (`None`), after a schema
    /// change; [`Connection::describe`] fetches them again. The latest one stays held for
    /// [`Connection::held_describe`] until a newer one replaces it.
    pub fn invalidate_describe(&self, sobject: Option<&str>) {
        self.inner.describe.invalidate(sobject);
    }

    /// The id of the user this connection acts as: from the identity URL of the token answer,
    /// else asked once of the userinfo endpoint and remembered.
    ///
    /// # Errors
    /// The userinfo endpoint's errors.
    pub async fn user_id(&self) -> Result<Arc<str>> {
        let tokens = &self.inner.tokens;
        if let Some(id) = tokens.user_id() {
            return Ok(id);
        }
        let current = tokens.current().await?;
        let info = tokens
            .oauth()
            .userinfo(&current.instance_url, &current.access_token)
            .await?;
        tokens.set_user_id(&info.user_id);
        Ok(info.user_id.into())
    }

    /// The org's limits (`GET /limits`).
    ///
    /// # Errors
    /// Transport and API errors.
    pub async fn limits(&self) -> Result<OrgLimits> {
        self.typed(&Request::Limits).await
    }

    /// Runs a composite request (see [`crate::composite::CompositeBuilder`]).
    ///
    /// # Errors
    /// [`Error::Api`] when the envelope itself is refused; subrequest failures are in the answer.
    pub async fn composite(&self, request: CompositeRequest) -> Result<CompositeResponse> {
        self.typed(&Request::Composite(request)).await
    }

    /// Runs a collections request (create, update, upsert or delete), 200 records per call;
    /// results in input order.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for a request that is not a collections one; API errors.
    pub async fn collections(&self, request: &Request) -> Result<Vec<SaveResult>> {
        if !matches!(
            request,
            Request::CollectionsCreate { .. }
                | Request::CollectionsUpdate { .. }
                | Request::CollectionsUpsert { .. }
                | Request::CollectionsDelete { .. }
        ) {
            return Err(Error::InvalidRequest("not a collections request".into()));
        }
        let mut out = Vec::new();
        for chunk in request.chunks() {
            let mut part: Vec<SaveResult> = self.typed(&chunk).await?;
            out.append(&mut part);
        }
        Ok(out)
    }

    /// Runs a composite batch.
    ///
    /// # Errors
    /// API errors for the envelope.
    pub async fn batch(&self, request: BatchRequest) -> Result<BatchResponse> {
        self.typed(&Request::Batch(request)).await
    }

    /// Creates record trees; on failure nothing is created and `has_errors` is set.
    ///
    /// # Errors
    /// API errors other than the tree's own 400.
    pub async fn tree(&self, sobject: &str, records: Vec<Record>) -> Result<TreeResult> {
        let v = self
            .execute(&Request::Tree {
                sobject: sobject.to_owned(),
                records,
            })
            .await?;
        serde_json::from_value(v).map_err(|e| Error::InvalidRequest(e.to_string()))
    }

    /// Sends a request to any path (Apex REST, Chatter...).
    ///
    /// # Errors
    /// See [`Connection::send`].
    pub async fn raw(&self, request: RawRequest) -> Result<RawResponse> {
        self.send_request(&Request::Raw(request)).await
    }
}
