//! `/composite` with a builder for referenceId chains, and `/composite/batch`.
//!
//! The builder hands back a [`Reference`] for each subrequest, whose [`Reference::id`] is the
//! `@{ref.id}` text a later subrequest puts in its body or URL, so an Account, its Contact and an
//! Opportunity go out as one round trip. It checks Salesforce's rules before anything is sent:
//! at most 25 subrequests, reference ids matching `[A-Za-z0-9][A-Za-z0-9_]*` and unique.

use callforce_types::{ApiVersion, Id};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::wire::{Record, name, segment};

/// The most subrequests one composite or batch request takes.
pub const MAX_SUBREQUESTS: usize = 25;

/// A `POST /composite` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositeRequest {
    /// Roll everything back when one subrequest fails.
    pub all_or_none: bool,
    /// The subrequests, in order.
    pub composite_request: Vec<Subrequest>,
}

/// One subrequest of a composite request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subrequest {
    /// The HTTP method.
    pub method: String,
    /// The full path (`/services/data/v59.0/sobjects/Account`).
    pub url: String,
    /// The name later subrequests refer to it by.
    pub reference_id: String,
    /// The JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// A subrequest's result, to be referred to by later subrequests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference(String);

impl Reference {
    /// The reference id.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// `@{ref.id}`: the id of the record a create made.
    pub fn id(&self) -> String {
        format!("@{{{}.id}}", self.0)
    }

    /// `@{ref.<path>}`: any value of the subrequest's answer (`records[0].Id`, `Name`...).
    pub fn field(&self, path: &str) -> String {
        format!("@{{{}.{path}}}", self.0)
    }
}

/// A record to target: a real id or a reference to one made earlier in the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An id.
    Id(Id),
    /// `@{ref.id}` of an earlier subrequest.
    Ref(Reference),
}

impl From<Id> for Target {
    fn from(id: Id) -> Self {
        Self::Id(id)
    }
}

impl From<&Reference> for Target {
    fn from(r: &Reference) -> Self {
        Self::Ref(r.clone())
    }
}

impl Target {
    fn segment(&self) -> String {
        match self {
            Self::Id(id) => id.to_string(),
            Self::Ref(r) => r.id(),
        }
    }
}

/// Builds a [`CompositeRequest`].
#[derive(Debug, Clone)]
pub struct CompositeBuilder {
    base: String,
    request: CompositeRequest,
    error: Option<String>,
}

impl CompositeBuilder {
    /// An empty request for `version`.
    pub fn new(version: ApiVersion, all_or_none: bool) -> Self {
        Self {
            base: format!("/services/data/{version}"),
            request: CompositeRequest {
                all_or_none,
                composite_request: Vec::new(),
            },
            error: None,
        }
    }

    fn push(
        &mut self,
        reference_id: &str,
        method: &str,
        url: String,
        body: Option<serde_json::Value>,
    ) -> Reference {
        let valid = reference_id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && reference_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            self.error
                .get_or_insert_with(|| format!("invalid referenceId {reference_id:?}"));
        } else if self
            .request
            .composite_request
            .iter()
            .any(|s| s.reference_id == reference_id)
        {
            self.error
                .get_or_insert_with(|| format!("duplicate referenceId {reference_id:?}"));
        }
        self.request.composite_request.push(Subrequest {
            method: method.to_owned(),
            url,
            reference_id: reference_id.to_owned(),
            body,
        });
        Reference(reference_id.to_owned())
    }

    fn checked<'a>(&mut self, n: &'a str) -> &'a str {
        match name(n) {
            Ok(n) => n,
            Err(e) => {
                self.error.get_or_insert_with(|| e.to_string());
                n
            }
        }
    }

    /// Creates a record; its id is [`Reference::id`].
    pub fn create(&mut self, reference_id: &str, sobject: &str, record: Record) -> Reference {
        let sobject = self.checked(sobject);
        let url = format!("{}/sobjects/{sobject}", self.base);
        self.push(reference_id, "POST", url, Some(record.into()))
    }

    /// Updates a record.
    pub fn update(
        &mut self,
        reference_id: &str,
        sobject: &str,
        target: impl Into<Target>,
        record: Record,
    ) -> Reference {
        let sobject = self.checked(sobject);
        let url = format!(
            "{}/sobjects/{}/{}",
            self.base,
            sobject,
            target.into().segment()
        );
        self.push(reference_id, "PATCH", url, Some(record.into()))
    }

    /// Upserts a record by External ID.
    pub fn upsert(
        &mut self,
        reference_id: &str,
        sobject: &str,
        field: &str,
        value: &str,
        record: Record,
    ) -> Reference {
        let sobject = self.checked(sobject);
        let field = self.checked(field);
        let url = format!(
            "{}/sobjects/{}/{}/{}",
            self.base,
            sobject,
            field,
            segment(value)
        );
        self.push(reference_id, "PATCH", url, Some(record.into()))
    }

    /// Deletes a record.
    pub fn delete(
        &mut self,
        reference_id: &str,
        sobject: &str,
        target: impl Into<Target>,
    ) -> Reference {
        let sobject = self.checked(sobject);
        let url = format!(
            "{}/sobjects/{}/{}",
            self.base,
            sobject,
            target.into().segment()
        );
        self.push(reference_id, "DELETE", url, None)
    }

    /// Reads a record (optionally only some fields).
    pub fn get(
        &mut self,
        reference_id: &str,
        sobject: &str,
        target: impl Into<Target>,
        fields: &[&str],
    ) -> Reference {
        let sobject = self.checked(sobject);
        let mut url = format!(
            "{}/sobjects/{}/{}",
            self.base,
            sobject,
            target.into().segment()
        );
        if !fields.is_empty() {
            url.push_str("?fields=");
            url.push_str(&fields.join(","));
        }
        self.push(reference_id, "GET", url, None)
    }

    /// Runs a SOQL query; later subrequests read `@{ref.records[0].Id}`.
    pub fn query(&mut self, reference_id: &str, soql: &str) -> Reference {
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        let url = format!("{}/query?q={q}", self.base);
        self.push(reference_id, "GET", url, None)
    }

    /// The request.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for an invalid or duplicate reference id, a bad API name, no
    /// subrequest, or more than 25.
    pub fn build(self) -> Result<CompositeRequest> {
        if let Some(e) = self.error {
            return Err(Error::InvalidRequest(e));
        }
        let n = self.request.composite_request.len();
        if n == 0 || n > MAX_SUBREQUESTS {
            return Err(Error::InvalidRequest(format!(
                "a composite request takes 1 to {MAX_SUBREQUESTS} subrequests, not {n}"
            )));
        }
        Ok(self.request)
    }
}

/// The answer to a composite request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositeResponse {
    /// One result per subrequest, in order.
    pub composite_response: Vec<SubResponse>,
}

impl CompositeResponse {
    /// The result of the subrequest named `reference_id`.
    pub fn get(&self, reference_id: &str) -> Option<&SubResponse> {
        self.composite_response
            .iter()
            .find(|s| s.reference_id == reference_id)
    }

    /// Whether every subrequest succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.composite_response
            .iter()
            .all(|s| (200..300).contains(&s.http_status_code))
    }
}

/// One subrequest's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubResponse {
    /// The answer body (`{"id", "success", "errors"}`, a record, an error array, or null).
    #[serde(default)]
    pub body: serde_json::Value,
    /// Headers such as `Location`.
    #[serde(default)]
    pub http_headers: serde_json::Map<String, serde_json::Value>,
    /// The status.
    pub http_status_code: u16,
    /// The subrequest's reference id.
    pub reference_id: String,
}

impl SubResponse {
    /// The created record's id (`body.id`).
    pub fn id(&self) -> Option<Id> {
        self.body
            .get("id")
            .and_then(|v| v.as_str())
            .and_then(|s| Id::parse(s).ok())
    }

    /// The first error code of a failed subrequest.
    pub fn error_code(&self) -> Option<&str> {
        self.body.get(0)?.get("errorCode")?.as_str()
    }
}

/// A `POST /composite/batch` body: independent subrequests, each committed on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    /// Stop at the first failure (later ones get 412 `BATCH_PROCESSING_HALTED`).
    pub halt_on_error: bool,
    /// The subrequests.
    pub batch_requests: Vec<BatchSubrequest>,
}

/// One batch subrequest; its URL is relative to `/services/data/` (`v59.0/sobjects/...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSubrequest {
    /// The method.
    pub method: String,
    /// The URL, starting with the version (`v59.0/sobjects/Account/001...`).
    pub url: String,
    /// The body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rich_input: Option<serde_json::Value>,
}

impl BatchRequest {
    /// A batch of `requests` (method, path below `/services/data/vXX.X/`, body).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for no subrequest or more than 25.
    pub fn new(
        version: ApiVersion,
        halt_on_error: bool,
        requests: Vec<(&str, &str, Option<serde_json::Value>)>,
    ) -> Result<Self> {
        if requests.is_empty() || requests.len() > MAX_SUBREQUESTS {
            return Err(Error::InvalidRequest(format!(
                "a batch takes 1 to {MAX_SUBREQUESTS} subrequests, not {}",
                requests.len()
            )));
        }
        Ok(Self {
            halt_on_error,
            batch_requests: requests
                .into_iter()
                .map(|(m, p, b)| BatchSubrequest {
                    method: m.to_owned(),
                    url: format!("{version}/{}", p.trim_start_matches('/')),
                    rich_input: b,
                })
                .collect(),
        })
    }
}

/// The answer to a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// Whether any subrequest failed.
    pub has_errors: bool,
    /// One result per subrequest.
    pub results: Vec<BatchResult>,
}

/// One batch result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    /// The status.
    pub status_code: u16,
    /// The body (an error array on failure).
    #[serde(default)]
    pub result: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: serde_json::Value) -> Record {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn builder_chains_references_on_the_exact_wire() {
        let mut b = CompositeBuilder::new(ApiVersion::DEFAULT, true);
        let acct = b.create("newAccount", "Account", rec(json!({"Name": "Acme"})));
        let contact = b.create(
            "newContact",
            "Contact",
            rec(json!({"LastName": "Ng", "AccountId": acct.id()})),
        );
        b.update("touch", "Account", &acct, rec(json!({"Phone": "1"})));
        b.get("read", "Contact", &contact, &["Name"]);
        b.query("q1", "SELECT Id FROM Account WHERE Name = 'Acme'");
        let req = b.build().unwrap();
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "allOrNone": true,
                "compositeRequest": [
                    {"method": "POST", "url": "/services/data/v59.0/sobjects/Account",
                     "referenceId": "newAccount", "body": {"Name": "Acme"}},
                    {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact",
                     "referenceId": "newContact",
                     "body": {"LastName": "Ng", "AccountId": "@{newAccount.id}"}},
                    {"method": "PATCH", "url": "/services/data/v59.0/sobjects/Account/@{newAccount.id}",
                     "referenceId": "touch", "body": {"Phone": "1"}},
                    {"method": "GET", "url": "/services/data/v59.0/sobjects/Contact/@{newContact.id}?fields=Name",
                     "referenceId": "read"},
                    {"method": "GET",
                     "url": "/services/data/v59.0/query?q=SELECT+Id+FROM+Account+WHERE+Name+%3D+%27Acme%27",
                     "referenceId": "q1"}
                ]
            })
        );
        assert_eq!(acct.field("records[0].Id"), "@{newAccount.records[0].Id}");
    }

    #[test]
    fn builder_refuses_what_salesforce_refuses() {
        type Case = Box<dyn Fn(&mut CompositeBuilder)>;
        let cases: Vec<Case> = vec![
            Box::new(|b| {
                b.create("bad-ref", "Account", Record::new());
            }),
            Box::new(|b| {
                b.create("_x", "Account", Record::new());
            }),
            Box::new(|b| {
                b.create("a", "Account", Record::new());
                b.create("a", "Account", Record::new());
            }),
            Box::new(|b| {
                b.create("a", "Account/x", Record::new());
            }),
            Box::new(|_| {}),
            Box::new(|b| {
                for i in 0..26 {
                    b.create(&format!("r{i}"), "Account", Record::new());
                }
            }),
        ];
        for (i, f) in cases.iter().enumerate() {
            let mut b = CompositeBuilder::new(ApiVersion::DEFAULT, false);
            f(&mut b);
            assert!(
                matches!(b.build(), Err(Error::InvalidRequest(_))),
                "case {i}"
            );
        }
    }

    #[test]
    fn batch_urls_are_relative_to_services_data() {
        let b = BatchRequest::new(
            ApiVersion::DEFAULT,
            false,
            vec![(
                "PATCH",
                "/sobjects/Account/001D000000IRFmaIAH",
                Some(json!({"Name": "N"})),
            )],
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            json!({"haltOnError": false, "batchRequests": [
                {"method": "PATCH", "url": "v59.0/sobjects/Account/001D000000IRFmaIAH",
                 "richInput": {"Name": "N"}}]})
        );
    }
}
