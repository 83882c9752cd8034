//! A create whose answer was lost, resolved by looking the record up before sending it again.
//!
//! A create of an object with no External ID field configured for idempotency cannot be sent
//! twice safely: if the first attempt was applied, a second makes a second record. So when an
//! attempt was sent and no answer came, the time of that attempt is kept in the job
//! (`ambiguousSince`), and before the next attempt the org is asked for records of the object
//! created by the connection's user since then (less [`crate::PipelineConfig::lookup_skew`],
//! for clocks that disagree) whose every filterable field written equals the value written:
//!
//! ```text
//! SELECT Id FROM Contact WHERE CreatedById = '005...' AND CreatedDate >= 2026-03-01T08:55:00Z
//!   AND LastName = 'Ng' AND Email = 'ng@example.com' ORDER BY CreatedDate LIMIT 10
//! ```
//!
//! One match is the record the lost attempt made ([`Found::One`]); none means it was not
//! applied and the create is sent again; several cannot be told apart ([`Found::Several`]).
//! The query is built with `callforce-soql`'s builder, so no written value can change its shape.
//!
//! [`resolve`] applies this to every write that creates records without a key
//! ([`resolvable`]): a single create, a raw `POST` that is one ([`raw_create`]), each record of
//! an sObject Collections create (the ones found are not sent again; the answer still has one
//! result per record), and a note with its link ([`Note`]: the note by its title, then its
//! link among the notes found). It says what follows ([`Resolution`]): done with the answer
//! made of what was found, send what was not found ([`Plan`]), or a dead letter when which
//! records are the write's cannot be told.

use std::time::Duration;

use callforce_client::composite::{BatchRequest, CompositeRequest, MAX_SUBREQUESTS, Subrequest};
use callforce_client::describe::{FieldDescribe, SObjectDescribe};
use callforce_client::request::COLLECTION_CHUNK;
use callforce_client::{
    Connection, Error as ClientError, ErrorBody, Method, RawRequest, Record, Request, RequestInfo,
};
use callforce_soql::{Cond, Direction, Number, QueryBuilder, Value as Soql};
use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, Utc};
use serde_json::{Value, json};

/// The most matching ids a lookup reads: enough to say "several" and name them.
pub const MAX_MATCHES: u64 = 10;

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Exactly one record: the unanswered attempt made it; its id.
    One(String),
    /// No record: the attempt was not applied; the create is sent again.
    None,
    /// Several records (up to [`MAX_MATCHES`] ids): which one is this write's cannot be told.
    Several(Vec<String>),
    /// No lookup was possible (the text says why): the create is sent again, at least once.
    Blind(String),
}

/// The lookup query of a create of `record`, for records created by `user_id` from `from` on,
/// or why there is none (the object has no `CreatedById` or `CreatedDate` to filter on, or no
/// written field can be compared).
///
/// Fields the describe does not know, that are not filterable (long text areas, encrypted
/// text), of a type with no equality literal (multi-select picklists, times, compound fields),
/// or whose value does not read as the field's type, are left out.
///
/// # Errors
/// The reason no lookup is possible.
pub fn lookup_query(
    describe: &SObjectDescribe,
    user_id: &str,
    record: &Record,
    from: DateTime<Utc>,
) -> Result<String, String> {
    build(describe, user_id, record, from, MAX_MATCHES).map(|(soql, _)| soql)
}

/// The lookup query reading at most `limit` ids, and how many written fields it compares.
fn build(
    describe: &SObjectDescribe,
    user_id: &str,
    record: &Record,
    from: DateTime<Utc>,
    limit: u64,
) -> Result<(String, usize), String> {
    for system in ["CreatedById", "CreatedDate"] {
        if !describe.field(system).is_some_and(|f| f.filterable) {
            return Err(format!(
                "{} has no filterable {system} to look a lost create up by",
                describe.name
            ));
        }
    }
    let mut cond = Cond::eq("CreatedById", user_id).and(Cond::ge("CreatedDate", from));
    let mut compared = 0;
    for (name, value) in record {
        let Some(field) = describe.field(name).filter(|f| f.filterable) else {
            continue;
        };
        if let Some(v) = literal(field, value) {
            cond = cond.and(Cond::Compare(
                field.name.clone(),
                callforce_soql::CompareOp::Eq,
                v,
            ));
            compared += 1;
        }
    }
    if compared == 0 {
        return Err(format!(
            "none of the fields written to {} can be compared in a query",
            describe.name
        ));
    }
    QueryBuilder::new(&describe.name)
        .select(["Id"])
        .filter(cond)
        .order_by("CreatedDate", Direction::Asc)
        .limit(limit)
        .to_soql()
        .map(|soql| (soql, compared))
        .map_err(|e| format!("the lookup query could not be built: {e}"))
}

/// The SOQL literal `value` is equal to in `field`, or `None` when it has none.
fn literal(field: &FieldDescribe, value: &Value) -> Option<Soql> {
    let ty = field.type_.as_str();
    match value {
        Value::Null => Some(Soql::Null),
        Value::Bool(b) => (ty == "boolean").then_some(Soql::Boolean(*b)),
        Value::Number(n) => match ty {
            "double" | "currency" | "percent" | "int" | "long" => {
                Number::parse(&n.to_string()).map(Soql::Number)
            }
            "string" | "textarea" | "phone" | "picklist" | "combobox" => {
                Some(Soql::String(n.to_string()))
            }
            _ => None,
        },
        Value::String(s) => match ty {
            "string" | "textarea" | "phone" | "email" | "url" | "picklist" | "combobox"
            | "reference" | "id" => Some(Soql::String(s.clone())),
            "double" | "currency" | "percent" | "int" | "long" => {
                Number::parse(s.trim()).map(Soql::Number)
            }
            "boolean" => match s.as_str() {
                "true" => Some(Soql::Boolean(true)),
                "false" => Some(Soql::Boolean(false)),
                _ => None,
            },
            "date" => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .map(Soql::Date),
            "datetime" => datetime(s).map(Soql::DateTime),
            _ => None,
        },
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// A datetime as Salesforce takes it: RFC 3339, or with a `+0000` offset.
fn datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
}

/// Looks up the record a create of `record` in `sobject` made, if an attempt sent at `since`
/// was applied: records created by the connection's user from `since - skew` on, with the same
/// values.
///
/// # Errors
/// The describe, the user id or the query failing (classified as any request is).
pub async fn look_up(
    conn: &Connection,
    sobject: &str,
    record: &Record,
    since: DateTime<Utc>,
    skew: Duration,
) -> Result<(Found, Option<String>), ClientError> {
    let describe = conn.describe(sobject).await?;
    let user = conn.user_id().await?;
    let from = since - TimeDelta::from_std(skew).unwrap_or(TimeDelta::zero());
    let soql = match lookup_query(&describe, &user, record, from) {
        Ok(q) => q,
        Err(why) => return Ok((Found::Blind(why), None)),
    };
    let rows = conn.query::<Record>(&soql).await?;
    let mut ids: Vec<String> = rows
        .records
        .iter()
        .filter_map(|r| r.get("Id")?.as_str().map(str::to_owned))
        .collect();
    let found = match ids.len() {
        0 => Found::None,
        1 => Found::One(ids.remove(0)),
        _ => Found::Several(ids),
    };
    Ok((found, Some(soql)))
}

/// Whether a lost answer to `request`, the write keyed `idempotency_key`, is resolved by a
/// lookup: an upsert on the write's own key ([`key_upsert`]) or a create without one
/// ([`resolvable`]).
pub fn looked_up(request: &Request, idempotency_key: &str) -> bool {
    resolvable(request) || keyed(request, idempotency_key)
}

/// Whether `request` creates its records by upserts on the write's own keys: a single upsert
/// ([`key_upsert`]), or an all-or-none composite made only of such upserts (keyed per
/// subrequest, [`crate::job::make_idempotent`]) and updates by id, with at least one upsert.
pub fn keyed(request: &Request, idempotency_key: &str) -> bool {
    match request {
        Request::Composite(c) => keyed_composite(c, idempotency_key).is_some(),
        _ => key_upsert(request, idempotency_key).is_some(),
    }
}

/// A subrequest of a keyed composite: an upsert on its key (object, field, value), or an
/// update by id.
enum KeyedSub<'a> {
    Upsert(&'a str, &'a str, &'a str),
    Update,
}

/// The subrequests of an all-or-none composite made only of upserts on the write's own keys
/// and updates by id (with at least one upsert; reads of what they wrote are passed over),
/// or `None`.
fn keyed_composite<'a>(
    c: &'a CompositeRequest,
    idempotency_key: &str,
) -> Option<Vec<(&'a str, KeyedSub<'a>)>> {
    if !c.all_or_none {
        return None;
    }
    let mut subs = Vec::with_capacity(c.composite_request.len());
    for sub in &c.composite_request {
        // A read of what an earlier subrequest wrote (a create's read-back) writes nothing;
        // found by its key, the write's answer is its upserts' alone.
        if sub.method.eq_ignore_ascii_case("GET") && sub.url.contains("@{") {
            continue;
        }
        if !sub.method.eq_ignore_ascii_case("PATCH") || sub.url.contains('?') {
            return None;
        }
        let parts: Vec<&str> = sub.url.rsplitn(4, '/').collect();
        let own = crate::job::external_key(&format!("{idempotency_key}/{}", sub.reference_id));
        let kind = match parts.as_slice() {
            [value, field, object, rest] if *value == own && rest.ends_with("/sobjects") => {
                KeyedSub::Upsert(object, field, value)
            }
            [id, _, rest, ..]
                if rest.ends_with("sobjects") && callforce_client::Id::parse(id).is_ok() =>
            {
                KeyedSub::Update
            }
            _ => return None,
        };
        subs.push((sub.reference_id.as_str(), kind));
    }
    subs.iter()
        .any(|(_, k)| matches!(k, KeyedSub::Upsert(..)))
        .then_some(subs)
}

/// The id of the record holding `value` in `field` of `sobject`, and the query that found it.
async fn by_key(
    conn: &Connection,
    sobject: &str,
    field: &str,
    value: &str,
) -> Result<(Option<String>, String), ClientError> {
    let soql = QueryBuilder::new(sobject)
        .select(["Id"])
        .filter(Cond::eq(field, value))
        .limit(2)
        .to_soql()
        .map_err(|e| ClientError::InvalidRequest(format!("the key lookup: {e}")))?;
    let found = conn.query::<Record>(&soql).await?;
    let id = found
        .records
        .first()
        .and_then(|r| r.get("Id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((id, soql))
}

/// The object, field and value of `request` when it is an upsert on the External ID value of
/// `idempotency_key` ([`crate::job::external_key`]): a create of an object with a key field,
/// as [`crate::job::make_idempotent`] rewrote it. An upsert an action named (on its own
/// External ID) is not one: its record may well exist before it.
pub fn key_upsert<'a>(
    request: &'a Request,
    idempotency_key: &str,
) -> Option<(&'a str, &'a str, &'a str)> {
    match request {
        Request::Upsert {
            sobject,
            field,
            value,
            ..
        } if *value == crate::job::external_key(idempotency_key) => {
            Some((sobject.as_str(), field.as_str(), value.as_str()))
        }
        _ => None,
    }
}

/// The record an upsert on a write's own key ([`key_upsert`]) made, if it exists: its answer
/// (`foundByLookup`, the query in `lookup`), or `None`. For a keyed all-or-none composite
/// ([`keyed`]), the records of all its upserts: found, the composite was applied whole and its
/// answer is made of them (each upsert `200` with its id, each update `204`); any not found,
/// `None`. `None` too for any other request.
///
/// NB: the key is this write's alone, so a record holding it was made by an earlier attempt of
/// the same write (or the same write sent again under its key): sending the upsert again would
/// update it, which the org refuses for a create-only field (`TaskSubtype`).
///
/// # Errors
/// The query failing (classified as any request is).
pub async fn find_by_key(
    conn: &Connection,
    request: &Request,
    idempotency_key: &str,
) -> Result<Option<Value>, ClientError> {
    if let Request::Composite(c) = request {
        let Some(subs) = keyed_composite(c, idempotency_key) else {
            return Ok(None);
        };
        let mut answers = Vec::with_capacity(subs.len());
        let mut queries = Vec::new();
        for (reference, kind) in subs {
            answers.push(match kind {
                KeyedSub::Upsert(sobject, field, value) => {
                    let (id, soql) = by_key(conn, sobject, field, value).await?;
                    queries.push(soql);
                    let Some(id) = id else { return Ok(None) };
                    let mut body = saved(&id);
                    body["created"] = json!(true);
                    json!({"body": body, "httpHeaders": {}, "httpStatusCode": 200,
                        "referenceId": reference})
                }
                KeyedSub::Update => json!({"body": null, "httpHeaders": {},
                    "httpStatusCode": 204, "referenceId": reference}),
            });
        }
        return Ok(Some(json!({"compositeResponse": answers,
            "foundByLookup": true, "lookup": queries})));
    }
    let Some((sobject, field, value)) = key_upsert(request, idempotency_key) else {
        return Ok(None);
    };
    let (id, soql) = by_key(conn, sobject, field, value).await?;
    Ok(id.map(|id| {
        let mut v = saved(&id);
        // NB: the record holds this write's own key: an earlier attempt of it created it.
        v["created"] = json!(true);
        v["foundByLookup"] = json!(true);
        v["lookup"] = json!(soql);
        v
    }))
}

/// Whether a lost answer to `request` is resolved by a lookup: a single create (a create on a
/// configured External ID field is an upsert by then, looked up by its key: [`key_upsert`]),
/// a raw `POST` that is a create of one record ([`raw_create`]), an sObject Collections create,
/// and a note with its link ([`Note::of`]).
pub fn resolvable(request: &Request) -> bool {
    match request {
        Request::Create { .. } | Request::CollectionsCreate { .. } => true,
        Request::Raw(r) => raw_create(r).is_some(),
        Request::Composite(c) => Note::of(c).is_some() || read_back_create(c).is_some(),
        _ => false,
    }
}

/// The object and record of a create with its read-back, as an action sends it to learn what
/// the org filled in (a Case's `CaseNumber`) in the same round trip: an all-or-none composite
/// whose first subrequest creates one record (`POST .../sobjects/<Object>`) and whose others
/// only read it (`GET` of a URL naming `@{<first>.id}`). A lost answer is resolved as the
/// create's alone; the action reads the fields of a record found that way itself.
pub fn read_back_create(c: &CompositeRequest) -> Option<(&str, &Record)> {
    let (first, reads) = c.composite_request.split_first()?;
    if !c.all_or_none || reads.is_empty() || !first.method.eq_ignore_ascii_case("POST") {
        return None;
    }
    let (base, sobject) = first.url.rsplit_once('/')?;
    if !base.ends_with("/sobjects") || first.url.contains('?') {
        return None;
    }
    let created = format!("@{{{}.id}}", first.reference_id);
    let only_reads = reads
        .iter()
        .all(|r| r.method.eq_ignore_ascii_case("GET") && r.url.contains(&created));
    match &first.body {
        Some(Value::Object(record)) if only_reads => Some((sobject, record)),
        _ => None,
    }
}

/// The object and record of a raw request that is a create of one record:
/// `POST [/services/data/vXX.X]/sobjects/<Object>` with no query string and a JSON object body.
pub fn raw_create(r: &RawRequest) -> Option<(&str, &Record)> {
    if r.method != Method::Post || !r.query.is_empty() {
        return None;
    }
    let path = r.path.trim_end_matches('/');
    let rest = match path.strip_prefix("/services/data/") {
        Some(versioned) => versioned.split_once('/')?.1,
        None => path.trim_start_matches('/'),
    };
    let sobject = rest.strip_prefix("sobjects/")?;
    let named = sobject
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && sobject
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    match &r.body {
        Some(Value::Object(record)) if named => Some((sobject, record)),
        _ => None,
    }
}

/// A note as `create_note` sends it: a `/composite` request creating a `ContentNote`, and
/// optionally a `ContentDocumentLink` from it (`ContentDocumentId: "@{<note>.id}"`) to a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Note<'a> {
    /// The note's subrequest reference id.
    pub reference: &'a str,
    /// The note's fields.
    pub record: &'a Record,
    /// The link's subrequest reference id, its fields and the record it links to.
    pub link: Option<(&'a str, &'a Record, &'a str)>,
    /// Whether the composite is all or none (the note and its link are made together or not).
    pub all_or_none: bool,
}

impl<'a> Note<'a> {
    /// The note a composite request makes, when it is exactly one (and its link).
    pub fn of(c: &'a CompositeRequest) -> Option<Self> {
        let create = |s: &'a Subrequest, object: &str| -> Option<&'a Record> {
            let (base, name) = s.url.rsplit_once('/')?;
            let ok = s.method.eq_ignore_ascii_case("POST")
                && base.ends_with("/sobjects")
                && name == object;
            match &s.body {
                Some(Value::Object(r)) if ok => Some(r),
                _ => None,
            }
        };
        let (first, link) = match c.composite_request.as_slice() {
            [first] => (first, None),
            [first, link] => (first, Some(link)),
            _ => return None,
        };
        let record = create(first, "ContentNote")?;
        let link = match link {
            None => None,
            Some(s) => {
                let r = create(s, "ContentDocumentLink")?;
                let from_note = format!("@{{{}.id}}", first.reference_id);
                if r.get("ContentDocumentId").and_then(Value::as_str) != Some(from_note.as_str()) {
                    return None;
                }
                let entity = r.get("LinkedEntityId").and_then(Value::as_str)?;
                if entity.contains('@') {
                    return None;
                }
                Some((s.reference_id.as_str(), r, entity))
            }
        };
        Some(Self {
            reference: &first.reference_id,
            record,
            link,
            all_or_none: c.all_or_none,
        })
    }
}

/// What follows a lookup of a write whose answer was lost.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Everything the write makes was found: it is done with this answer, nothing is sent.
    Done(Value),
    /// Send [`Plan::request`] (the write, or what of it was not found) and answer with
    /// [`Plan::answer`].
    Send(Plan),
    /// Which records are this write's cannot be told: a dead letter with this message.
    Unsure {
        /// What was found and what to do about it.
        message: String,
        /// The ids that match.
        matches: Vec<String>,
        /// The queries run.
        lookup: Vec<String>,
    },
}

/// What to send after a lookup, and how to make the write's whole answer from its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// What to send.
    pub request: Request,
    fill: Fill,
}

#[derive(Debug, Clone, PartialEq)]
enum Fill {
    /// The answer is the request's own.
    Whole,
    /// One result per record of the collection: found (`Some`), or the next of the answer.
    Slots(Vec<Option<Value>>),
    /// A note found without its link: the note's result, then the link create's answer.
    Link {
        note: Value,
        reference: String,
        lookup: Vec<String>,
    },
}

impl Plan {
    fn whole(request: &Request) -> Self {
        Self {
            request: request.clone(),
            fill: Fill::Whole,
        }
    }

    /// The write's answer, given the answer to [`Plan::request`]: for a collection one result
    /// per record of the write, in order (the found ones with `foundByLookup`); for a note
    /// whose link alone was sent, the composite answer of both.
    pub fn answer(&self, sent: Value) -> Value {
        match &self.fill {
            Fill::Whole => sent,
            Fill::Slots(slots) => {
                let mut sent = match sent {
                    Value::Array(v) => v.into_iter(),
                    other => vec![other].into_iter(),
                };
                let all = slots
                    .iter()
                    .map(|s| match s {
                        Some(found) => found.clone(),
                        None => sent.next().unwrap_or(Value::Null),
                    })
                    .collect();
                Value::Array(all)
            }
            Fill::Link {
                note,
                reference,
                lookup,
            } => json!({"compositeResponse": [note, sub(reference, sent)],
                "foundByLookup": true, "lookup": lookup}),
        }
    }
}

/// A composite subresponse of a create.
fn sub(reference: &str, body: Value) -> Value {
    json!({"body": body, "httpHeaders": {}, "httpStatusCode": 201, "referenceId": reference})
}

/// The result of a record found by a lookup.
fn saved(id: &str) -> Value {
    json!({"id": id, "success": true, "errors": []})
}

/// Looks up what the write keyed `idempotency_key`, whose answer was lost (an attempt sent at
/// `since`), made, and says what follows: an upsert on its own key is looked up by the key
/// ([`find_by_key`]: found, done; not found, the upsert is sent with every field); anything
/// else as [`resolve`] says.
///
/// # Errors
/// A describe, the user id or a query failing (classified as any request is).
pub async fn resolve_write(
    conn: &Connection,
    request: &Request,
    idempotency_key: &str,
    since: DateTime<Utc>,
    skew: Duration,
) -> Result<Resolution, ClientError> {
    if keyed(request, idempotency_key) {
        return Ok(match find_by_key(conn, request, idempotency_key).await? {
            Some(found) => Resolution::Done(found),
            None => Resolution::Send(Plan::whole(request)),
        });
    }
    resolve(conn, request, since, skew).await
}

/// Looks up what a write whose answer was lost (an attempt sent at `since`) made, and says
/// what follows. See `docs/writes.md` for each kind of write.
///
/// # Errors
/// A describe, the user id or a query failing (classified as any request is).
pub async fn resolve(
    conn: &Connection,
    request: &Request,
    since: DateTime<Utc>,
    skew: Duration,
) -> Result<Resolution, ClientError> {
    let from = since - TimeDelta::from_std(skew).unwrap_or(TimeDelta::zero());
    match request {
        Request::Create { sobject, record } => single(conn, request, sobject, record, from).await,
        Request::Raw(r) => match raw_create(r) {
            Some((sobject, record)) => single(conn, request, sobject, record, from).await,
            None => Ok(Resolution::Send(Plan::whole(request))),
        },
        Request::CollectionsCreate {
            all_or_none,
            records,
        } => collection(conn, *all_or_none, records, from).await,
        Request::Composite(c) => match (Note::of(c), read_back_create(c)) {
            (Some(note), _) => self::note(conn, request, &note, from).await,
            (None, Some((sobject, record))) => single(conn, request, sobject, record, from).await,
            (None, None) => Ok(Resolution::Send(Plan::whole(request))),
        },
        _ => Ok(Resolution::Send(Plan::whole(request))),
    }
}

async fn single(
    conn: &Connection,
    request: &Request,
    sobject: &str,
    record: &Record,
    from: DateTime<Utc>,
) -> Result<Resolution, ClientError> {
    let (found, soql) = look_up(conn, sobject, record, from, Duration::ZERO).await?;
    Ok(match found {
        Found::One(id) => {
            let mut v = saved(&id);
            v["foundByLookup"] = json!(true);
            v["lookup"] = json!(soql);
            Resolution::Done(v)
        }
        Found::Several(ids) => Resolution::Unsure {
            message: several_message(sobject, &ids, from),
            matches: ids,
            lookup: soql.into_iter().collect(),
        },
        Found::None => Resolution::Send(Plan::whole(request)),
        Found::Blind(why) => {
            tracing::warn!(reason = %why, "a lost create cannot be looked up; sending it again");
            Resolution::Send(Plan::whole(request))
        }
    })
}

/// The dead letter's error when a lost create's lookup finds several records.
fn several_message(sobject: &str, ids: &[String], from: DateTime<Utc>) -> String {
    format!(
        "the answer to this {sobject} create was lost, and {} {sobject} records created by this \
         connection's user since {from} hold the values it wrote ({}): which one it made \
         cannot be told. Delete the extra records, then replay this dead letter (its lookup finds \
         the one kept and sends nothing) or discard it",
        ids.len(),
        ids.join(", ")
    )
}

/// Records of one collection with the same lookup query (the same object and values).
struct Group {
    soql: String,
    compared: usize,
    members: Vec<usize>,
}

/// Each record of a collection looked up as a single create is. Records with the same values
/// share one query and take its matches in order; records comparing more fields take their
/// matches first, so a record whose values include another's does not lose its match to it.
async fn collection(
    conn: &Connection,
    all_or_none: bool,
    records: &[Record],
    from: DateTime<Utc>,
) -> Result<Resolution, ClientError> {
    let user = conn.user_id().await?;
    // Enough to tell "more matches than records with these values".
    let limit = records.len() as u64 + MAX_MATCHES;
    let mut groups: Vec<Group> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let sobject = record
            .get("attributes")
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str);
        let Some(sobject) = sobject else {
            tracing::warn!(
                record = i,
                "a record of a lost collection has no attributes.type; sending it again"
            );
            continue;
        };
        let describe = conn.describe(sobject).await?;
        match build(&describe, &user, record, from, limit) {
            Ok((soql, compared)) => match groups.iter_mut().find(|g| g.soql == soql) {
                Some(g) => g.members.push(i),
                None => groups.push(Group {
                    soql,
                    compared,
                    members: vec![i],
                }),
            },
            Err(why) => {
                tracing::warn!(record = i, reason = %why, "a record of a lost collection cannot be looked up; sending it again");
            }
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.compared));
    let lookup: Vec<String> = groups.iter().map(|g| g.soql.clone()).collect();
    let found = query_all(conn, &lookup).await?;
    let mut slots: Vec<Option<Value>> = vec![None; records.len()];
    let mut claimed = std::collections::HashSet::new();
    let mut unsure: Vec<String> = Vec::new();
    let mut matches = Vec::new();
    for (g, ids) in groups.iter().zip(found) {
        let ids: Vec<String> = ids.into_iter().filter(|id| !claimed.contains(id)).collect();
        if ids.len() > g.members.len() {
            let places: Vec<String> = g.members.iter().map(usize::to_string).collect();
            unsure.push(format!(
                "records {} (counting from 0) match {} ({})",
                places.join(", "),
                ids.len(),
                ids.join(", ")
            ));
            matches.extend(ids);
            continue;
        }
        for (&place, id) in g.members.iter().zip(ids) {
            let mut v = saved(&id);
            v["foundByLookup"] = json!(true);
            v["lookup"] = json!(g.soql);
            slots[place] = Some(v);
            claimed.insert(id);
        }
    }
    if !unsure.is_empty() {
        let message = format!(
            "the answer to this collection create was lost, and more records created by this \
             connection's user since {from} hold its values than it has records with them: {}. \
             Which ones it made cannot be told. Delete the extra records, then replay this dead \
             letter (its lookup finds the ones kept and sends only the missing ones) or discard it",
            unsure.join("; ")
        );
        return Ok(Resolution::Unsure {
            message,
            matches,
            lookup,
        });
    }
    // NB: all or none applies per chunk of 200; a chunk is applied whole or not at all, so a
    // chunk found in part means the lookup is wrong about some record: sending the rest could
    // make a second copy of a record the org changed, so a person decides.
    if all_or_none {
        for (c, chunk) in slots.chunks(COLLECTION_CHUNK).enumerate() {
            let n = chunk.iter().filter(|s| s.is_some()).count();
            if n > 0 && n < chunk.len() {
                let missing: Vec<String> = chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.is_none())
                    .map(|(i, _)| (c * COLLECTION_CHUNK + i).to_string())
                    .collect();
                let message = format!(
                    "the answer to this all-or-none collection create was lost, and its lookup \
                     found {n} of {} records, not records {} (counting from 0): the org saves \
                     all or none, so some were saved with other values (a trigger, a rule) or \
                     the found ones are not this write's. Check the records; remove \
                     \"ambiguousSince\" from the payload and replay to send them all again, or \
                     discard it",
                    chunk.len(),
                    missing.join(", ")
                );
                let matches = chunk
                    .iter()
                    .flatten()
                    .filter_map(|v| v["id"].as_str().map(str::to_owned))
                    .collect();
                return Ok(Resolution::Unsure {
                    message,
                    matches,
                    lookup,
                });
            }
        }
    }
    if slots.iter().all(Option::is_some) {
        return Ok(Resolution::Done(Value::Array(
            slots.into_iter().flatten().collect(),
        )));
    }
    let missing = records
        .iter()
        .zip(&slots)
        .filter(|(_, s)| s.is_none())
        .map(|(r, _)| r.clone())
        .collect();
    Ok(Resolution::Send(Plan {
        request: Request::CollectionsCreate {
            all_or_none,
            records: missing,
        },
        fill: Fill::Slots(slots),
    }))
}

/// The ids each of `queries` finds, in order. The queries go in `/composite/batch` requests of
/// 25 (one API call each), so a collection of 200 records costs 8 calls, not 200, and the
/// lookup stays well inside a worker's lease.
///
/// # Errors
/// A batch failing, or one of its queries (as the org answered it).
async fn query_all(conn: &Connection, queries: &[String]) -> Result<Vec<Vec<String>>, ClientError> {
    let mut found = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(MAX_SUBREQUESTS) {
        let paths: Vec<String> = chunk
            .iter()
            .map(|q| {
                let q = form_urlencoded::Serializer::new(String::new())
                    .append_pair("q", q)
                    .finish();
                format!("query?{q}")
            })
            .collect();
        let gets = paths.iter().map(|p| ("GET", p.as_str(), None)).collect();
        let answer = conn
            .batch(BatchRequest::new(conn.version(), false, gets)?)
            .await?;
        if answer.results.len() != chunk.len() {
            return Err(ClientError::InvalidRequest(format!(
                "a batch of {} lookup queries answered {} results",
                chunk.len(),
                answer.results.len()
            )));
        }
        for r in answer.results {
            if !(200..300).contains(&r.status_code) {
                let bytes = serde_json::to_vec(&r.result).unwrap_or_default();
                return Err(ClientError::Api {
                    status: r.status_code,
                    body: ErrorBody::parse(r.status_code, &bytes),
                    request: RequestInfo::new("GET", "/query"),
                });
            }
            let ids = r.result["records"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.get("Id")?.as_str().map(str::to_owned))
                .collect();
            found.push(ids);
        }
    }
    Ok(found)
}

/// The note looked up by its title (its content cannot be compared in a query), then its link
/// to the record among the notes found.
async fn note(
    conn: &Connection,
    request: &Request,
    note: &Note<'_>,
    from: DateTime<Utc>,
) -> Result<Resolution, ClientError> {
    let (found, soql) = look_up(conn, "ContentNote", note.record, from, Duration::ZERO).await?;
    let mut lookup: Vec<String> = soql.into_iter().collect();
    let notes = match found {
        Found::None => return Ok(Resolution::Send(Plan::whole(request))),
        Found::Blind(why) => {
            tracing::warn!(reason = %why, "a lost note cannot be looked up; sending it again");
            return Ok(Resolution::Send(Plan::whole(request)));
        }
        Found::One(id) => vec![id],
        Found::Several(ids) => ids,
    };
    let note_result = |id: &str| sub(note.reference, saved(id));
    let Some((link_ref, link, entity)) = note.link else {
        return Ok(match notes.as_slice() {
            [id] => Resolution::Done(json!({"compositeResponse": [note_result(id)],
                "foundByLookup": true, "lookup": lookup})),
            _ => Resolution::Unsure {
                message: several_message("ContentNote", &notes, from),
                matches: notes,
                lookup,
            },
        });
    };
    let soql = QueryBuilder::new("ContentDocumentLink")
        .select(["Id", "ContentDocumentId"])
        .filter(
            Cond::eq("LinkedEntityId", entity)
                .and(Cond::is_in("ContentDocumentId", notes.iter().cloned())),
        )
        .order_by("ContentDocumentId", Direction::Asc)
        .to_soql()
        .map_err(|e| ClientError::InvalidRequest(format!("the link lookup: {e}")))?;
    let rows = conn.query::<Record>(&soql).await?;
    lookup.push(soql);
    let links: Vec<(String, String)> = rows
        .records
        .iter()
        .filter_map(|r| {
            let id = r.get("Id")?.as_str()?;
            let doc = r.get("ContentDocumentId")?.as_str()?;
            Some((id.to_owned(), doc.to_owned()))
        })
        .collect();
    match (links.as_slice(), notes.as_slice()) {
        ([(link_id, doc)], _) => Ok(Resolution::Done(json!({"compositeResponse": [
                note_result(doc), sub(link_ref, saved(link_id))],
            "foundByLookup": true, "lookup": lookup}))),
        // NB: an all-or-none note and link are saved together: a note found without its link
        // is not this write's (the same title, by the same user), so both are sent again.
        ([], _) if note.all_or_none => Ok(Resolution::Send(Plan::whole(request))),
        ([], [id]) => {
            let mut record = link.clone();
            record.insert("ContentDocumentId".into(), json!(id));
            Ok(Resolution::Send(Plan {
                request: Request::Create {
                    sobject: "ContentDocumentLink".into(),
                    record,
                },
                fill: Fill::Link {
                    note: note_result(id),
                    reference: link_ref.to_owned(),
                    lookup,
                },
            }))
        }
        _ => {
            let linked: Vec<String> = links.into_iter().map(|(_, doc)| doc).collect();
            let (matches, which) = if linked.is_empty() {
                (notes, "none of them linked to its record")
            } else {
                (linked, "each linked to its record")
            };
            Ok(Resolution::Unsure {
                message: format!(
                    "the answer to this note was lost, and {} notes titled as it is were created \
                     by this connection's user since {from}, {which} ({}): which one it made \
                     cannot be told. Delete the extra notes, then replay this dead letter or \
                     discard it",
                    matches.len(),
                    matches.join(", ")
                ),
                matches,
                lookup,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn describe() -> SObjectDescribe {
        let f = |name: &str, ty: &str, filterable: bool| json!({"name": name, "type": ty, "filterable": filterable});
        serde_json::from_value(json!({
            "name": "Contact",
            "fields": [
                f("Id", "id", true),
                f("CreatedById", "reference", true),
                f("CreatedDate", "datetime", true),
                f("LastName", "string", true),
                f("Email", "email", true),
                f("Description", "textarea", false),
                f("Birthdate", "date", true),
                f("Score__c", "double", true),
                f("Do_Not_Call__c", "boolean", true),
                f("Last_Seen__c", "datetime", true),
                f("Channels__c", "multipicklist", true),
                f("AccountId", "reference", true),
            ],
        }))
        .expect("describe")
    }

    fn rec(v: Value) -> Record {
        v.as_object().cloned().expect("object")
    }

    fn from() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 8, 55, 0).unwrap()
    }

    const HEAD: &str = "SELECT Id FROM Contact WHERE CreatedById = '005000000000001AAA' \
        AND CreatedDate >= 2026-03-01T08:55:00Z";
    const TAIL: &str = " ORDER BY CreatedDate ASC LIMIT 10";

    #[test]
    fn lookup_queries_compare_every_filterable_field_written() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"LastName": "Ng"}), " AND LastName = 'Ng'"),
            (
                json!({"lastname": "O'Brien", "Email": "a@b.example"}),
                " AND LastName = 'O\\'Brien' AND Email = 'a@b.example'",
            ),
            (
                json!({"LastName": "x' OR Name != '"}),
                " AND LastName = 'x\\' OR Name != \\''",
            ),
            (
                json!({"LastName": "Ng", "Description": "long text, not filterable"}),
                " AND LastName = 'Ng'",
            ),
            (
                json!({"LastName": "Ng", "Birthdate": "1984-03-14", "Score__c": 4.5,
                       "Do_Not_Call__c": true}),
                " AND LastName = 'Ng' AND Birthdate = 1984-03-14 AND Score__c = 4.5 \
                 AND Do_Not_Call__c = true",
            ),
            (
                json!({"LastName": "Ng", "Last_Seen__c": "2026-03-01T09:00:00.000+0000"}),
                " AND LastName = 'Ng' AND Last_Seen__c = 2026-03-01T09:00:00Z",
            ),
            (
                json!({"LastName": "Ng", "Score__c": "12"}),
                " AND LastName = 'Ng' AND Score__c = 12",
            ),
            (
                json!({"LastName": "Ng", "Email": null}),
                " AND LastName = 'Ng' AND Email = null",
            ),
            (
                json!({"LastName": "Ng", "Channels__c": "Phone;Email", "Unknown__c": "x",
                       "Account": {"External_Id__c": "A-1"}, "Birthdate": "14/03/1984",
                       "Score__c": "a lot"}),
                " AND LastName = 'Ng'",
            ),
        ];
        for (record, conds) in cases {
            let got = lookup_query(
                &describe(),
                "005000000000001AAA",
                &rec(record.clone()),
                from(),
            )
            .expect("a query");
            assert_eq!(got, format!("{HEAD}{conds}{TAIL}"), "{record}");
        }
    }

    #[test]
    fn no_lookup_without_a_comparable_field_or_the_system_fields() {
        let d = describe();
        let e = lookup_query(
            &d,
            "005",
            &rec(json!({"Description": "only long text"})),
            from(),
        )
        .expect_err("nothing to compare");
        assert!(e.contains("none of the fields written to Contact"), "{e}");
        let mut no_created = d.clone();
        no_created.fields.retain(|f| f.name != "CreatedById");
        let e = lookup_query(&no_created, "005", &rec(json!({"LastName": "Ng"})), from())
            .expect_err("no CreatedById");
        assert!(e.contains("no filterable CreatedById"), "{e}");
    }

    fn raw(method: Method, path: &str, query: &[(&str, &str)], body: Option<Value>) -> Request {
        Request::Raw(RawRequest {
            method,
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            headers: vec![],
            body,
        })
    }

    fn composite(all_or_none: bool, subs: Vec<Value>) -> Request {
        Request::Composite(
            serde_json::from_value(json!({"allOrNone": all_or_none, "compositeRequest": subs}))
                .expect("composite"),
        )
    }

    fn post(reference: &str, object: &str, body: Value) -> Value {
        json!({"method": "POST", "url": format!("/services/data/v59.0/sobjects/{object}"),
               "referenceId": reference, "body": body})
    }

    fn read(reference: &str, object: &str) -> Value {
        json!({"method": "GET", "referenceId": "read_back",
               "url": format!("/services/data/v59.0/sobjects/{object}/@{{{reference}.id}}?fields=CaseNumber")})
    }

    #[test]
    fn what_is_resolved_by_a_lookup() {
        let note = post("note", "ContentNote", json!({"Title": "Callback"}));
        let link = |doc: &str, entity: &str| {
            post(
                "link",
                "ContentDocumentLink",
                json!({"ContentDocumentId": doc, "LinkedEntityId": entity, "ShareType": "V"}),
            )
        };
        let body = Some(json!({"LastName": "Ng"}));
        let cases: Vec<(Request, bool)> = vec![
            (
                Request::Create {
                    sobject: "Contact".into(),
                    record: rec(json!({"LastName": "Ng"})),
                },
                true,
            ),
            (
                Request::Upsert {
                    sobject: "Task".into(),
                    field: "Callforce_Key__c".into(),
                    value: "cf-1".into(),
                    record: rec(json!({"Subject": "Call"})),
                },
                false,
            ),
            (
                Request::CollectionsCreate {
                    all_or_none: false,
                    records: vec![],
                },
                true,
            ),
            (
                Request::CollectionsUpdate {
                    all_or_none: false,
                    records: vec![],
                },
                false,
            ),
            (
                raw(Method::Post, "sobjects/Contact", &[], body.clone()),
                true,
            ),
            (
                raw(Method::Post, "/sobjects/Contact/", &[], body.clone()),
                true,
            ),
            (
                raw(
                    Method::Post,
                    "/services/data/v59.0/sobjects/Contact",
                    &[],
                    body.clone(),
                ),
                true,
            ),
            (
                raw(Method::Patch, "/sobjects/Contact", &[], body.clone()),
                false,
            ),
            (
                raw(
                    Method::Post,
                    "/sobjects/Contact",
                    &[("a", "b")],
                    body.clone(),
                ),
                false,
            ),
            (raw(Method::Post, "/sobjects/Contact", &[], None), false),
            (
                raw(Method::Post, "/sobjects/Contact", &[], Some(json!([1]))),
                false,
            ),
            (
                raw(
                    Method::Post,
                    "/sobjects/Contact/describe",
                    &[],
                    body.clone(),
                ),
                false,
            ),
            (
                raw(
                    Method::Post,
                    "/services/apexrest/Contact",
                    &[],
                    body.clone(),
                ),
                false,
            ),
            (
                raw(Method::Post, "/composite/sobjects", &[], body.clone()),
                false,
            ),
            (composite(true, vec![note.clone()]), true),
            // A create with its read-back: resolved as the create.
            (
                composite(
                    true,
                    vec![
                        post("record", "Case", json!({"Subject": "Invoice"})),
                        read("record", "Case"),
                    ],
                ),
                true,
            ),
            (
                composite(
                    false,
                    vec![
                        post("record", "Case", json!({"Subject": "Invoice"})),
                        read("record", "Case"),
                    ],
                ),
                false,
            ),
            (
                composite(
                    true,
                    vec![
                        post("record", "Case", json!({"Subject": "Invoice"})),
                        read("other", "Case"),
                    ],
                ),
                false,
            ),
            (
                composite(
                    true,
                    vec![note.clone(), link("@{note.id}", "001000000000001AAA")],
                ),
                true,
            ),
            (
                composite(
                    true,
                    vec![
                        note.clone(),
                        link("069000000000001AAA", "001000000000001AAA"),
                    ],
                ),
                false,
            ),
            (
                composite(true, vec![note.clone(), link("@{note.id}", "@{acct.id}")]),
                false,
            ),
            (
                composite(true, vec![post("acct", "Account", json!({"Name": "A"}))]),
                false,
            ),
            (
                composite(true, vec![note.clone(), note.clone(), note]),
                false,
            ),
        ];
        for (request, want) in cases {
            assert_eq!(resolvable(&request), want, "{request:?}");
        }
    }

    #[test]
    fn a_plan_answers_one_result_per_record_in_order() {
        let found = |id: &str| Some(json!({"id": id, "foundByLookup": true}));
        let plan = Plan {
            request: Request::CollectionsCreate {
                all_or_none: false,
                records: vec![],
            },
            fill: Fill::Slots(vec![found("a"), None, found("c"), None]),
        };
        let sent = json!([{"id": "b", "success": true}, {"success": false, "errors": []}]);
        assert_eq!(
            plan.answer(sent),
            json!([{"id": "a", "foundByLookup": true}, {"id": "b", "success": true},
                   {"id": "c", "foundByLookup": true}, {"success": false, "errors": []}])
        );
        let link = Plan {
            request: Request::Create {
                sobject: "ContentDocumentLink".into(),
                record: Record::new(),
            },
            fill: Fill::Link {
                note: sub("note", saved("069a")),
                reference: "link".into(),
                lookup: vec!["SELECT Id FROM ContentNote".into()],
            },
        };
        let v = link.answer(json!({"id": "06Aa", "success": true, "errors": []}));
        assert_eq!(v["compositeResponse"][0]["body"]["id"], "069a");
        assert_eq!(v["compositeResponse"][1]["referenceId"], "link");
        assert_eq!(v["compositeResponse"][1]["body"]["id"], "06Aa");
        assert_eq!(v["foundByLookup"], true);
    }
}
