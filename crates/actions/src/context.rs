//! Who is calling, looked up when the call starts: the caller's record (a Contact, a Lead or a
//! Person Account, found by phone in any format, by email or by id), their account, open cases,
//! open opportunities and last activities, as compact JSON and as one paragraph for a system
//! prompt. Two round trips: a search that finds who it is, then one `/composite` request for
//! everything about them.

use std::collections::BTreeMap;

use callforce_client::{CompositeBuilder, Connection, Record};
use callforce_soql::{
    Cond, Direction, QueryBuilder, ReturningBuilder, SearchBuilder, SearchGroup, Value as SoqlValue,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::{Action, Catalog};
use crate::compact::compact;
use crate::error::ActionError;

/// The most records a list of the context keeps.
const MAX_ITEMS: usize = 5;

/// What an agent's calls learn about the caller at start. Everything has a default, so an
/// agent that says nothing gets the caller, their account, open cases and opportunities and the
/// last three activities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSpec {
    /// Whether calls look the caller up at start (on by default).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The objects the caller may be: `Contact`, `Lead`, `Account` (Person Accounts, in orgs
    /// that have them).
    #[serde(default = "default_lookup")]
    pub lookup: Vec<String>,
    /// What else is fetched: `Account`, `Case` (open), `Opportunity` (open), `Task`, `Event`.
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    /// Fields per object, replacing the defaults (`{"Case": ["Id", "CaseNumber", "Subject"]}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Vec<String>>,
    /// How many recent activities are kept (3).
    #[serde(default = "default_activities")]
    pub activities: usize,
}

fn yes() -> bool {
    true
}

fn default_lookup() -> Vec<String> {
    ["Contact", "Lead", "Account"].map(String::from).to_vec()
}

fn default_include() -> Vec<String> {
    ["Account", "Case", "Opportunity", "Task", "Event"]
        .map(String::from)
        .to_vec()
}

fn default_activities() -> usize {
    3
}

impl Default for ContextSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            lookup: default_lookup(),
            include: default_include(),
            fields: BTreeMap::new(),
            activities: default_activities(),
        }
    }
}

const LOOKUP: [&str; 3] = ["Contact", "Lead", "Account"];
const INCLUDE: [&str; 5] = ["Account", "Case", "Opportunity", "Task", "Event"];

impl ContextSpec {
    /// Checks the objects and field names.
    ///
    /// # Errors
    /// An invalid-argument error naming the field and the values it takes.
    pub fn validate(&self) -> Result<(), ActionError> {
        for o in &self.lookup {
            if !LOOKUP.contains(&o.as_str()) {
                return Err(ActionError::invalid(
                    "caller_context.lookup",
                    format!("'{o}' is not one of {}", LOOKUP.join(", ")),
                ));
            }
        }
        for o in &self.include {
            if !INCLUDE.contains(&o.as_str()) {
                return Err(ActionError::invalid(
                    "caller_context.include",
                    format!("'{o}' is not one of {}", INCLUDE.join(", ")),
                ));
            }
        }
        for (object, fields) in &self.fields {
            if !LOOKUP.contains(&object.as_str()) && !INCLUDE.contains(&object.as_str()) {
                return Err(ActionError::invalid(
                    "caller_context.fields",
                    format!(
                        "'{object}' is not an object of the context: Contact, Lead, Account, \
                         Case, Opportunity, Task or Event"
                    ),
                ));
            }
            if let Some(f) = fields.iter().find(|f| !is_field_path(f)) {
                return Err(ActionError::invalid(
                    "caller_context.fields",
                    format!("'{f}' is not a field API name (Name, Account.Name)"),
                ));
            }
        }
        if self.activities > 20 {
            return Err(ActionError::invalid(
                "caller_context.activities",
                "at most 20 activities are kept",
            ));
        }
        Ok(())
    }

    /// The fields fetched of `object`: the agent's, else the defaults (for `Contact` and `Lead`,
    /// with the fields of `search_contact`/`search_lead`, so a search for the caller is answered
    /// from the context in the shape the search gives).
    fn fields_of(&self, object: &str, catalog: &Catalog) -> Vec<String> {
        if let Some(f) = self.fields.get(object) {
            let mut f = f.clone();
            if !f.iter().any(|x| x == "Id") {
                f.insert(0, "Id".into());
            }
            return f;
        }
        let defaults: &[&str] = match object {
            "Contact" => &[
                "Id",
                "Name",
                "Title",
                "Email",
                "Phone",
                "AccountId",
                "Account.Name",
            ],
            "Lead" => &["Id", "Name", "Company", "Email", "Phone", "Status"],
            "Account" => &["Id", "Name", "Type", "Industry", "Phone"],
            "Case" => &[
                "Id",
                "CaseNumber",
                "Subject",
                "Status",
                "Priority",
                "CreatedDate",
            ],
            "Opportunity" => &["Id", "Name", "StageName", "Amount", "CloseDate"],
            "Task" => &["Id", "Subject", "Status", "ActivityDate", "TaskSubtype"],
            "Event" => &["Id", "Subject", "StartDateTime"],
            _ => &["Id"],
        };
        let mut fields: Vec<String> = defaults.iter().map(|s| (*s).to_owned()).collect();
        let search = match object {
            "Contact" => "search_contact",
            "Lead" => "search_lead",
            _ => "",
        };
        if let Some(Action::Template(t)) = catalog.get(search) {
            for f in &t.fields {
                if !fields.contains(f) {
                    fields.push(f.clone());
                }
            }
        }
        fields
    }
}

fn is_field_path(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// How the caller is named at call start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum Who {
    /// A phone number in any format.
    Phone(String),
    /// An email address.
    Email(String),
    /// A record id (Contact, Lead or Account).
    Id(String),
}

/// What was found about the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallerContext {
    /// `found`, `ambiguous` (several records match: none is picked) or `not_found`.
    pub status: String,
    /// How the caller was looked up (`phone`, `email`, `id`) and with what.
    pub by: String,
    /// The value looked up.
    pub value: String,
    /// The caller's record, with its `type` (`Contact`, `Lead`, `Account`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Value>,
    /// Every match, when there are several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<Value>,
    /// The caller's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Value>,
    /// Cases not closed, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_cases: Vec<Value>,
    /// Opportunities not closed, closing soonest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_opportunities: Vec<Value>,
    /// The last tasks and events, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_activities: Vec<Value>,
    /// Events still to come (a callback already booked), soonest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upcoming_events: Vec<Value>,
    /// One short paragraph for a system prompt.
    pub summary: String,
    /// The fields fetched of each object the caller may be, so a search for the caller is
    /// answered from here only when it asks for no more.
    #[serde(skip)]
    fetched: BTreeMap<String, Vec<String>>,
}

impl CallerContext {
    /// What search template `t` answers for `term` when `term` is the phone number the caller
    /// was looked up by: the records of `t`'s object that matched, in the search's shape, with
    /// no round trip. `None` when the context cannot tell (another term, fields the lookup did
    /// not fetch, a list that may have been cut).
    pub fn answers(&self, t: &crate::catalog::Template, term: &str) -> Option<Value> {
        let object = t.object.as_deref()?;
        if self.by != "phone" || !t.phone_search || !same_phone(term, &self.value) {
            return None;
        }
        let fetched = self.fetched.get(object)?;
        if !t.fields.iter().all(|f| fetched.contains(f)) || !t.filters.is_empty() {
            return None;
        }
        let all: Vec<&Value> = if self.matches.is_empty() {
            self.caller.iter().collect()
        } else {
            self.matches.iter().collect()
        };
        let mine: Vec<Value> = all
            .into_iter()
            .filter(|r| r.get("type").and_then(Value::as_str) == Some(object))
            .map(|r| {
                let mut r = r.clone();
                if let Value::Object(m) = &mut r {
                    m.remove("type");
                }
                r
            })
            .collect();
        if mine.len() >= MAX_ITEMS {
            return None;
        }
        let n = mine.len() as u64;
        Some(crate::compact::records(
            mine,
            n,
            crate::compact::MAX_LIST,
            false,
        ))
    }
}

/// Whether two phone numbers are the same number in any format: the same digits, or the same
/// last ten digits when both have at least ten (a country code given or not).
fn same_phone(a: &str, b: &str) -> bool {
    let digits = |s: &str| -> String { s.chars().filter(char::is_ascii_digit).collect() };
    let (a, b) = (digits(a), digits(b));
    if a.len() >= 10 && b.len() >= 10 {
        a[a.len() - 10..] == b[b.len() - 10..]
    } else {
        !a.is_empty() && a == b
    }
}

/// Looks the caller up on `conn`: who it is, then everything `spec` includes about them.
///
/// # Errors
/// The org's errors, as a model-facing [`ActionError`].
pub async fn look_up(
    conn: &Connection,
    who: &Who,
    spec: &ContextSpec,
    catalog: &Catalog,
) -> Result<CallerContext, ActionError> {
    let (by, value) = match who {
        Who::Phone(v) => ("phone", v),
        Who::Email(v) => ("email", v),
        Who::Id(v) => ("id", v),
    };
    let matches = identify(conn, who, spec, catalog).await?;
    let mut ctx = CallerContext {
        status: "not_found".into(),
        by: by.into(),
        value: value.clone(),
        caller: None,
        matches: Vec::new(),
        account: None,
        open_cases: Vec::new(),
        open_opportunities: Vec::new(),
        recent_activities: Vec::new(),
        upcoming_events: Vec::new(),
        summary: String::new(),
        fetched: spec
            .lookup
            .iter()
            .map(|o| (o.clone(), spec.fields_of(o, catalog)))
            .collect(),
    };
    match pick(&matches) {
        Pick::None => {}
        Pick::Several => {
            ctx.status = "ambiguous".into();
            ctx.matches = matches.iter().take(MAX_ITEMS).cloned().collect();
        }
        Pick::One(i) => {
            ctx.status = "found".into();
            let caller = matches[i].clone();
            if matches.len() > 1 {
                ctx.matches = matches.iter().take(MAX_ITEMS).cloned().collect();
            }
            about(conn, &caller, spec, catalog, &mut ctx).await?;
            ctx.caller = Some(caller);
        }
    }
    ctx.summary = summary(&ctx);
    Ok(ctx)
}

/// Which of the matches is the caller.
enum Pick {
    None,
    One(usize),
    Several,
}

/// One Contact or Person Account is the caller (a lead with the same phone is usually the same
/// person before conversion); with none, one Lead is. Anything else is ambiguous.
fn pick(matches: &[Value]) -> Pick {
    let of = |types: &[&str]| -> Vec<usize> {
        matches
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| types.contains(&t))
            })
            .map(|(i, _)| i)
            .collect()
    };
    let people = of(&["Contact", "Account"]);
    match people.len() {
        1 => return Pick::One(people[0]),
        n if n > 1 => return Pick::Several,
        _ => {}
    }
    match of(&["Lead"]).as_slice() {
        [] => Pick::None,
        [one] => Pick::One(*one),
        _ => Pick::Several,
    }
}

/// Whether the org has Person Accounts (the held describe of Account has `IsPersonAccount`).
fn person_accounts(conn: &Connection) -> bool {
    conn.held_describe("Account")
        .is_some_and(|d| d.fields.iter().any(|f| f.name == "IsPersonAccount"))
}

/// The records the caller may be, each with its `type`.
async fn identify(
    conn: &Connection,
    who: &Who,
    spec: &ContextSpec,
    catalog: &Catalog,
) -> Result<Vec<Value>, ActionError> {
    let objects: Vec<&str> = spec
        .lookup
        .iter()
        .map(String::as_str)
        .filter(|o| *o != "Account" || person_accounts(conn))
        .collect();
    let filter = |object: &str| -> Option<Cond> {
        match object {
            "Lead" => Some(Cond::eq("IsConverted", false)),
            "Account" => Some(Cond::eq("IsPersonAccount", true)),
            _ => None,
        }
    };
    let records: Vec<Record> = match who {
        Who::Phone(term) | Who::Email(term) => {
            let group = if matches!(who, Who::Phone(_)) {
                SearchGroup::Phone
            } else {
                SearchGroup::Email
            };
            let mut sosl = SearchBuilder::phrase(term.clone()).in_fields(group);
            for o in &objects {
                let mut r = ReturningBuilder::new(*o)
                    .fields(spec.fields_of(o, catalog))
                    .limit(MAX_ITEMS as u64);
                if let Some(f) = filter(o) {
                    r = r.filter(f);
                }
                sosl = sosl.returning(r);
            }
            let sosl = sosl
                .to_sosl()
                .map_err(|e| ActionError::invalid(by_field(who), e.to_string()))?;
            conn.search(&sosl).await?.search_records
        }
        Who::Id(id) => {
            let object = match id.get(..3) {
                Some("003") => "Contact",
                Some("00Q") => "Lead",
                Some("001") => "Account",
                _ => {
                    return Err(ActionError::invalid(
                        "caller_id",
                        format!(
                            "'{id}' is not the id of a Contact (003...), Lead (00Q...) or Person \
                             Account (001...)"
                        ),
                    ));
                }
            };
            if !objects.contains(&object) {
                return Ok(Vec::new());
            }
            let mut q = QueryBuilder::new(object)
                .select(spec.fields_of(object, catalog))
                .filter(Cond::eq("Id", id.clone()));
            if let Some(f) = filter(object) {
                q = q.filter(f);
            }
            let soql = q
                .limit(1)
                .to_soql()
                .map_err(|e| ActionError::invalid("caller_id", e.to_string()))?;
            conn.query::<Record>(&soql).await?.records
        }
    };
    // The record's own type is kept (`type`), not its relationships' (`Account.Name` stays
    // `{"Account": {"Name"}}`, as a search gives it).
    Ok(records
        .into_iter()
        .map(|r| {
            let ty = r
                .get("attributes")
                .and_then(|a| a.get("type"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            typed(
                compact(Value::Object(r), MAX_ITEMS, false),
                ty.as_deref().unwrap_or(""),
            )
        })
        .collect())
}

fn by_field(who: &Who) -> &'static str {
    match who {
        Who::Phone(_) => "caller_phone",
        Who::Email(_) => "caller_email",
        Who::Id(_) => "caller_id",
    }
}

/// Everything about `caller` that `spec` includes, in one `/composite` request.
async fn about(
    conn: &Connection,
    caller: &Value,
    spec: &ContextSpec,
    catalog: &Catalog,
    ctx: &mut CallerContext,
) -> Result<(), ActionError> {
    let ty = caller.get("type").and_then(Value::as_str).unwrap_or("");
    let Some(id) = caller.get("Id").and_then(Value::as_str).map(str::to_owned) else {
        return Ok(());
    };
    let account = match ty {
        "Account" => Some(id.clone()),
        _ => caller
            .get("AccountId")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    let includes = |o: &str| spec.include.iter().any(|i| i == o);
    let query = |object: &str, cond: Cond, order: &str, dir: Direction, n: usize| {
        QueryBuilder::new(object)
            .select(spec.fields_of(object, catalog))
            .filter(cond)
            .order_by(order, dir)
            .limit(n as u64)
            .to_soql()
    };
    let mut b = CompositeBuilder::new(conn.version(), false);
    let mut n = 0;
    let mut add = |b: &mut CompositeBuilder, name: &str, soql: Result<String, _>| {
        if let Ok(soql) = soql {
            b.query(name, &soql);
            n += 1;
        }
    };
    if let (true, Some(a), false) = (includes("Account"), &account, ty == "Account") {
        add(
            &mut b,
            "account",
            query(
                "Account",
                Cond::eq("Id", a.clone()),
                "Id",
                Direction::Asc,
                1,
            ),
        );
    }
    if includes("Case") && ty != "Lead" {
        let whose = match ty {
            "Account" => Cond::eq("AccountId", id.clone()),
            _ => Cond::eq("ContactId", id.clone()),
        };
        add(
            &mut b,
            "cases",
            query(
                "Case",
                whose.and(Cond::eq("IsClosed", false)),
                "CreatedDate",
                Direction::Desc,
                MAX_ITEMS,
            ),
        );
    }
    if let (true, Some(a)) = (includes("Opportunity"), &account) {
        add(
            &mut b,
            "opportunities",
            query(
                "Opportunity",
                Cond::eq("AccountId", a.clone()).and(Cond::eq("IsClosed", false)),
                "CloseDate",
                Direction::Asc,
                MAX_ITEMS,
            ),
        );
    }
    if spec.activities > 0 {
        let whose = match ty {
            "Account" => "WhatId",
            _ => "WhoId",
        };
        let now = SoqlValue::DateTime(chrono::Utc::now().fixed_offset());
        if includes("Task") {
            add(
                &mut b,
                "tasks",
                query(
                    "Task",
                    Cond::eq(whose, id.clone())
                        .and(Cond::le("ActivityDate", SoqlValue::Date(today()))),
                    "ActivityDate",
                    Direction::Desc,
                    spec.activities,
                ),
            );
        }
        if includes("Event") {
            add(
                &mut b,
                "events",
                query(
                    "Event",
                    Cond::eq(whose, id.clone()).and(Cond::lt("StartDateTime", now.clone())),
                    "StartDateTime",
                    Direction::Desc,
                    spec.activities,
                ),
            );
            add(
                &mut b,
                "upcoming",
                query(
                    "Event",
                    Cond::eq(whose, id.clone()).and(Cond::ge("StartDateTime", now)),
                    "StartDateTime",
                    Direction::Asc,
                    spec.activities,
                ),
            );
        }
    }
    if n == 0 {
        return Ok(());
    }
    let request = b
        .build()
        .map_err(|e| ActionError::template(format!("caller context: {e}")))?;
    let answer = conn.composite(request).await?;
    // NB: one part refused (a field the org lacks, no access to an object) leaves it out and
    // keeps the rest: the context is a courtesy, never a reason to fail a call.
    let records = |name: &str| -> Vec<Value> {
        match answer.get(name) {
            Some(s) if (200..300).contains(&s.http_status_code) => s
                .body
                .get("records")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .map(|v| compact(v.clone(), MAX_ITEMS, false))
                        .collect()
                })
                .unwrap_or_default(),
            Some(s) => {
                tracing::debug!(part = name, status = s.http_status_code, body = %s.body, "a part of the caller context was refused");
                Vec::new()
            }
            None => Vec::new(),
        }
    };
    ctx.account = records("account").into_iter().next();
    ctx.open_cases = records("cases");
    ctx.open_opportunities = records("opportunities");
    let mut activities: Vec<Value> = records("tasks")
        .into_iter()
        .map(|t| typed(t, "Task"))
        .chain(records("events").into_iter().map(|e| typed(e, "Event")))
        .collect();
    activities.sort_by_key(|a| std::cmp::Reverse(when(a)));
    activities.truncate(spec.activities);
    ctx.recent_activities = activities;
    ctx.upcoming_events = records("upcoming");
    Ok(())
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// `v` with `type` first, unless `ty` is empty.
fn typed(v: Value, ty: &str) -> Value {
    match v {
        Value::Object(m) if !ty.is_empty() => {
            let mut out = Map::new();
            out.insert("type".into(), Value::String(ty.into()));
            out.extend(m);
            Value::Object(out)
        }
        other => other,
    }
}

/// When an activity happened, as sortable text.
fn when(v: &Value) -> String {
    ["StartDateTime", "ActivityDate", "CreatedDate"]
        .iter()
        .find_map(|f| v.get(*f).and_then(Value::as_str))
        .unwrap_or("")
        .to_owned()
}

fn text<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// "Sarah Johnson (contact, VP Finance at Acme Corporation)".
fn describe_person(v: &Value) -> String {
    let ty = text(v, "type").unwrap_or("record").to_ascii_lowercase();
    let ty = if ty == "account" {
        "person account".to_owned()
    } else {
        ty
    };
    let name = text(v, "Name")
        .map(str::to_owned)
        .or_else(|| {
            let n = [text(v, "FirstName"), text(v, "LastName")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            (!n.is_empty()).then_some(n)
        })
        .unwrap_or_else(|| "someone".into());
    let company = v
        .get("Account")
        .and_then(|a| text(a, "Name"))
        .or_else(|| text(v, "Company"));
    let mut about = vec![ty];
    match (text(v, "Title"), company) {
        (Some(t), Some(c)) => about.push(format!("{t} at {c}")),
        (None, Some(c)) => about.push(c.to_owned()),
        (Some(t), None) => about.push(t.to_owned()),
        (None, None) => {}
    }
    format!("{name} ({})", about.join(", "))
}

/// One short paragraph about the caller for a system prompt.
pub fn summary(ctx: &CallerContext) -> String {
    let by = match ctx.by.as_str() {
        "phone" => format!("phone number {}", ctx.value),
        "email" => format!("email {}", ctx.value),
        _ => format!("id {}", ctx.value),
    };
    match ctx.status.as_str() {
        "ambiguous" => {
            let who: Vec<String> = ctx.matches.iter().map(describe_person).collect();
            format!(
                "Several records match the caller's {by}: {}. Ask the caller's name before \
                 acting on one of them.",
                who.join("; ")
            )
        }
        "found" => {
            let Some(caller) = &ctx.caller else {
                return String::new();
            };
            let mut s = format!(
                "The caller is {}, matched by {by}.",
                describe_person(caller)
            );
            if !ctx.open_cases.is_empty() {
                let cases: Vec<String> = ctx
                    .open_cases
                    .iter()
                    .map(|c| {
                        let mut d = format!("case {}", text(c, "CaseNumber").unwrap_or("?"));
                        if let Some(subject) = text(c, "Subject") {
                            d.push_str(&format!(" \"{subject}\""));
                        }
                        let state: Vec<&str> = [text(c, "Status"), text(c, "Priority")]
                            .into_iter()
                            .flatten()
                            .collect();
                        if !state.is_empty() {
                            d.push_str(&format!(" ({})", state.join(", ")));
                        }
                        d
                    })
                    .collect();
                s.push_str(&format!(" Open: {}.", cases.join("; ")));
            }
            if !ctx.open_opportunities.is_empty() {
                let opps: Vec<String> = ctx
                    .open_opportunities
                    .iter()
                    .map(|o| {
                        let mut d = format!("\"{}\"", text(o, "Name").unwrap_or("?"));
                        if let Some(stage) = text(o, "StageName") {
                            d.push_str(&format!(" ({stage})"));
                        }
                        d
                    })
                    .collect();
                s.push_str(&format!(" Open opportunities: {}.", opps.join("; ")));
            }
            let dated = |v: &Value| {
                let on = when(v);
                let on = on.get(..10).unwrap_or(&on).to_owned();
                let subject = text(v, "Subject").unwrap_or("untitled");
                if on.is_empty() {
                    format!("\"{subject}\"")
                } else {
                    format!("\"{subject}\" on {on}")
                }
            };
            if let Some(last) = ctx.recent_activities.first() {
                s.push_str(&format!(" Last activity: {}.", dated(last)));
            }
            if let Some(next) = ctx.upcoming_events.first() {
                s.push_str(&format!(" Coming up: {}.", dated(next)));
            }
            s
        }
        _ => {
            let what = match ctx.by.as_str() {
                "phone" => "name or email",
                _ => "name",
            };
            format!("No one in Salesforce matches the caller's {by}; ask for their {what}.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_contact_is_the_caller_even_with_a_lead_of_the_same_phone() {
        let m = [
            json!({"type": "Lead", "Id": "00Q1"}),
            json!({"type": "Contact", "Id": "0031"}),
        ];
        assert!(matches!(pick(&m), Pick::One(1)));
        let two = [
            json!({"type": "Contact", "Id": "0031"}),
            json!({"type": "Contact", "Id": "0032"}),
        ];
        assert!(matches!(pick(&two), Pick::Several));
        assert!(matches!(pick(&[]), Pick::None));
        assert!(matches!(
            pick(&[json!({"type": "Lead", "Id": "00Q1"})]),
            Pick::One(0)
        ));
    }

    #[test]
    fn the_summary_reads_as_a_paragraph() {
        let ctx = CallerContext {
            status: "found".into(),
            by: "phone".into(),
            value: "+15552345678".into(),
            caller: Some(
                json!({"type": "Contact", "Name": "Sarah Johnson", "Title": "VP Finance",
                "Account": {"Name": "Acme Corporation"}}),
            ),
            matches: vec![],
            account: None,
            open_cases: vec![
                json!({"CaseNumber": "00001026", "Subject": "Invoice", "Status": "Working"}),
            ],
            open_opportunities: vec![json!({"Name": "Acme renewal", "StageName": "Negotiation"})],
            recent_activities: vec![
                json!({"type": "Task", "Subject": "Check-in", "ActivityDate": "2026-12-01"}),
            ],
            upcoming_events: vec![
                json!({"Subject": "Callback", "StartDateTime": "2026-12-09T15:00:00.000+0000"}),
            ],
            summary: String::new(),
            fetched: BTreeMap::new(),
        };
        assert_eq!(
            summary(&ctx),
            "The caller is Sarah Johnson (contact, VP Finance at Acme Corporation), matched by \
             phone number +15552345678. Open: case 00001026 \"Invoice\" (Working). Open \
             opportunities: \"Acme renewal\" (Negotiation). Last activity: \"Check-in\" on \
             2026-12-01. Coming up: \"Callback\" on 2026-12-09."
        );
        let none = CallerContext {
            status: "not_found".into(),
            caller: None,
            open_cases: vec![],
            open_opportunities: vec![],
            recent_activities: vec![],
            upcoming_events: vec![],
            ..ctx
        };
        assert_eq!(
            summary(&none),
            "No one in Salesforce matches the caller's phone number +15552345678; ask for their \
             name or email."
        );
    }

    #[test]
    fn phones_are_the_same_in_any_format() {
        assert!(same_phone("+1 (555) 234-5678", "5552345678"));
        assert!(same_phone("+15552345678", "1-555-234-5678"));
        assert!(!same_phone("+15552345679", "+15552345678"));
        assert!(!same_phone("", ""));
        assert!(same_phone("2345", "2345"));
    }

    #[test]
    fn specs_name_what_is_wrong() {
        let bad: ContextSpec = serde_json::from_value(json!({"include": ["Cases"]})).unwrap();
        let e = bad.validate().unwrap_err();
        assert_eq!(e.field.as_deref(), Some("caller_context.include"));
        assert!(e.message.contains("Case, Opportunity"), "{}", e.message);
        let bad: ContextSpec =
            serde_json::from_value(json!({"fields": {"Case": ["Sub ject"]}})).unwrap();
        assert!(bad.validate().is_err());
        assert!(ContextSpec::default().validate().is_ok());
    }
}
