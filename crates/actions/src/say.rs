//! What a result says: one short sentence a voice agent can read out as it is, added to every
//! action result as `say` ("I found Sarah Johnson at Acme Corporation.").
//!
//! All the wording lives here, so it reads as one voice and is tested as a table. Dates and
//! times are said as people say them ("Tuesday, December 8 at 10 AM", through [`when`] alone),
//! numbers with their thousands grouped, a case number as it is written; record ids are never
//! said. A list names at most [`SPOKEN_LIST`] records and says how many more there are.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::catalog::{Action, Effect, Op};

/// The most records the `say` of a list names; the rest are counted ("and 7 more").
pub const SPOKEN_LIST: usize = 3;

/// The sentence of a write that is queued: saved durably, not yet in Salesforce.
pub const QUEUED: &str = "I've saved that; it will be in Salesforce in a moment.";

/// Adds `say` to `result`, the answer of `action` run with `args` (checked and resolved): the
/// sentence [`sentence`] makes of it. A result that is not an object is kept under `result`.
/// Times are said in `zone` (UTC when `None`).
pub fn with_say(
    action: &Action,
    args: &Map<String, Value>,
    result: Value,
    zone: Option<Tz>,
) -> Value {
    let line = sentence(action, args, &result, zone);
    let mut out = match result {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("result".into(), other);
            m
        }
    };
    out.insert("say".into(), Value::String(line));
    Value::Object(out)
}

/// The sentence a voice agent can read out for `result`, the answer of `action` run with
/// `args`; times in `zone` (UTC when `None`).
pub fn sentence(
    action: &Action,
    args: &Map<String, Value>,
    result: &Value,
    zone: Option<Tz>,
) -> String {
    let object = object_of(action, args);
    let noun = object.as_deref().map_or_else(|| "record".to_owned(), noun);
    if let Some(preview) = result.get("confirmation_required") {
        return confirm(preview);
    }
    if result.get("queued").and_then(Value::as_bool) == Some(true) {
        return queued(action, object.as_deref(), args, zone);
    }
    // Several records fit about equally: the question the search put is what to say.
    if result.get("ambiguous").and_then(Value::as_bool) == Some(true)
        && let Some(question) = result.get("question").and_then(Value::as_str)
    {
        return question.to_owned();
    }
    if let Some(records) = result.get("records").and_then(Value::as_array) {
        let total = result
            .get("count")
            .and_then(Value::as_u64)
            .map_or(records.len(), |n| n as usize);
        let term = args.get("search_term").and_then(Value::as_str);
        return found(object.as_deref(), records, total, term, zone);
    }
    match action {
        Action::Template(t) => match t.op {
            Op::Search | Op::GlobalSearch | Op::RunQuery => {
                found(object.as_deref(), &[], 0, None, zone)
            }
            Op::Get | Op::GetNote => match object.as_deref() {
                Some(o) => capitalise(&record_sentence(o, result, zone)),
                None => "Here is the record.".into(),
            },
            Op::Create | Op::CreateRecord | Op::CreateTask | Op::CreateNote => {
                created(&t.name, object.as_deref(), args, result, zone)
            }
            Op::Update | Op::UpdateNote | Op::UpdateRecord => format!("I've updated the {noun}."),
            Op::UpsertRecord => match result.get("created").and_then(Value::as_bool) {
                Some(true) => format!("I've created the {noun}."),
                _ => format!("I've updated the {noun}."),
            },
            Op::Delete => format!("I've deleted the {noun}."),
            Op::BulkCreate | Op::BulkUpdate => bulk(t.op, &noun, result),
            Op::CustomApiCall => match result.get("status") {
                Some(_) => "Here is what Salesforce answered.".into(),
                None => "Done; Salesforce accepted it.".into(),
            },
        },
        Action::Custom(c) => match c.effect() {
            Effect::Read => "Here is what I found.".into(),
            _ => "Done; it's saved in Salesforce.".into(),
        },
    }
}

/// The sentence of an intent's answer: its records written (`records: [{object, created}]`),
/// or queued.
pub fn intent_sentence(result: &Value) -> String {
    if result.get("queued").and_then(Value::as_bool) == Some(true) {
        return QUEUED.into();
    }
    let records = result.get("records").and_then(Value::as_array);
    let parts: Vec<String> = records
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let object = r.get("object").and_then(Value::as_str)?;
            let created = r.get("created").and_then(Value::as_bool) == Some(true);
            Some(format!(
                "{} the {}",
                if created { "created" } else { "updated" },
                noun(object)
            ))
        })
        .collect();
    if parts.is_empty() {
        return "I've saved that in Salesforce.".into();
    }
    format!("I've {}.", and_list(&parts))
}

/// The date and time `at` as people say it, in `zone` (UTC when `None`): "Tuesday, December 8
/// at 10 AM", "Tuesday, December 8 at 10:30 AM". Every time a result says goes through here.
pub fn when(at: DateTime<Utc>, zone: Option<Tz>) -> String {
    let local = at.with_timezone(&zone.unwrap_or(Tz::UTC));
    let day = day(local.date_naive());
    let (pm, hour) = local.hour12();
    let half = if pm { "PM" } else { "AM" };
    match local.minute() {
        0 => format!("{day} at {hour} {half}"),
        m => format!("{day} at {hour}:{m:02} {half}"),
    }
}

/// A date as people say it: "Tuesday, December 8".
pub fn day(d: NaiveDate) -> String {
    format!("{}, {} {}", d.format("%A"), d.format("%B"), d.day())
}

/// A number as people say it: thousands grouped ("12,500"), at most two decimals, none when
/// whole ("12,500.5" is "12,500.50").
pub fn number(n: f64) -> String {
    let negative = n < 0.0;
    let cents = (n.abs() * 100.0).round() as u128;
    let (whole, frac) = (cents / 100, cents % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if negative { "-" } else { "" };
    match frac {
        0 => format!("{sign}{grouped}"),
        f => format!("{sign}{grouped}.{f:02}"),
    }
}

/// The sObject `action` works on with `args`.
fn object_of(action: &Action, args: &Map<String, Value>) -> Option<String> {
    match action {
        Action::Template(t) => match t.op {
            Op::CreateRecord
            | Op::UpdateRecord
            | Op::UpsertRecord
            | Op::BulkCreate
            | Op::BulkUpdate => args
                .get("sobject")
                .and_then(Value::as_str)
                .map(str::to_owned),
            Op::RunQuery => args
                .get("soql")
                .and_then(Value::as_str)
                .and_then(|q| callforce_soql::parse_query(q).ok())
                .map(|q| q.from.object),
            Op::CreateNote | Op::GetNote | Op::UpdateNote => Some("ContentNote".into()),
            Op::CreateTask => Some("Task".into()),
            _ => t.object.clone(),
        },
        Action::Custom(c) => c.object(),
    }
}

/// How an object is named in speech: `case`, `opportunity`, `price book entry`; an object
/// without a usual name is its API name in words (`Invoice_Line__c` is `invoice line`).
pub fn noun(object: &str) -> String {
    let known = match object {
        "ContentNote" | "Note" => "note",
        "KnowledgeArticleVersion" | "Knowledge__kav" => "article",
        "Group" => "queue",
        "Product2" => "product",
        "PricebookEntry" => "price book entry",
        "OpportunityLineItem" => "product line",
        "CampaignMember" => "campaign member",
        "Event" => "appointment",
        _ => "",
    };
    if !known.is_empty() {
        return known.into();
    }
    let base = object.strip_suffix("__c").unwrap_or(object);
    let mut words = String::new();
    let mut prev_lower = false;
    for c in base.chars() {
        if c == '_' {
            words.push(' ');
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower {
            words.push(' ');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        words.push(c.to_ascii_lowercase());
    }
    words
}

fn plural(noun: &str) -> String {
    let consonant_y = noun.ends_with('y')
        && !noun.ends_with("ay")
        && !noun.ends_with("ey")
        && !noun.ends_with("oy");
    if consonant_y {
        format!("{}ies", &noun[..noun.len() - 1])
    } else if noun.ends_with('s') || noun.ends_with("ch") {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

fn is_person(object: &str) -> bool {
    matches!(object, "Contact" | "Lead" | "User")
}

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    let mut cur = v;
    for p in path.split('.') {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// A Salesforce date-time (`2026-12-08T10:00:00.000+0000`, or RFC 3339) in UTC.
/// An instant from Salesforce's form or ISO 8601; a time without an offset is a local time of
/// `zone` (as the write read it), UTC when `None`.
fn parse_time(s: &str, zone: Option<Tz>) -> Option<DateTime<Utc>> {
    crate::zone::read_datetime(s, zone.unwrap_or(Tz::UTC))
}

fn time_at(v: &Value, field: &str, zone: Option<Tz>) -> Option<String> {
    str_at(v, field)
        .and_then(|s| parse_time(s, zone))
        .map(|t| when(t, zone))
}

/// A person's name with their company: "Sarah Johnson at Acme Corporation".
fn person(v: &Value) -> Option<String> {
    let name = str_at(v, "Name").map(str::to_owned).or_else(|| {
        let parts: Vec<&str> = ["FirstName", "LastName"]
            .iter()
            .filter_map(|f| str_at(v, f))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })?;
    let company = str_at(v, "Account.Name").or_else(|| str_at(v, "Company"));
    Some(match company {
        Some(c) => format!("{name} at {c}"),
        None => name,
    })
}

/// How a record is named in a list: "Sarah Johnson at Acme Corporation", "case 00001026 about
/// Invoice amount discrepancy", "Callback on Tuesday, December 8 at 10 AM".
fn label(object: Option<&str>, v: &Value, zone: Option<Tz>) -> String {
    let object = object.or_else(|| str_at(v, "type"));
    match object {
        Some(o) if is_person(o) => person(v).unwrap_or_else(|| format!("a {}", noun(o))),
        Some("Case") => match (str_at(v, "CaseNumber"), str_at(v, "Subject")) {
            (Some(n), Some(s)) => format!("case {n} about {s}"),
            (Some(n), None) => format!("case {n}"),
            (None, Some(s)) => format!("a case about {s}"),
            (None, None) => "a case".into(),
        },
        Some("Event") => {
            let what = str_at(v, "Subject").unwrap_or("an appointment");
            match time_at(v, "StartDateTime", zone) {
                Some(t) => format!("{what} on {t}"),
                None => what.to_owned(),
            }
        }
        Some(o) => ["Name", "Title", "Subject", "CaseNumber", "Product2.Name"]
            .iter()
            .find_map(|f| str_at(v, f))
            .map_or_else(|| format!("a {}", noun(o)), str::to_owned),
        None => ["Name", "Title", "Subject"]
            .iter()
            .find_map(|f| str_at(v, f))
            .map_or_else(|| "a record".to_owned(), str::to_owned),
    }
}

/// One record read out: "Case 00001026, Invoice amount discrepancy, is open."
fn record_sentence(object: &str, v: &Value, zone: Option<Tz>) -> String {
    match object {
        "Case" => {
            let number = str_at(v, "CaseNumber");
            let closed = v.get("IsClosed").and_then(Value::as_bool) == Some(true)
                || str_at(v, "Status").is_some_and(|s| s.eq_ignore_ascii_case("Closed"));
            let state = if closed { "closed" } else { "open" };
            match (number, str_at(v, "Subject")) {
                (Some(n), Some(s)) => format!("case {n}, {s}, is {state}."),
                (Some(n), None) => format!("case {n} is {state}."),
                (None, _) => format!("the case is {state}."),
            }
        }
        "Opportunity" => {
            let mut s = label(Some(object), v, zone);
            if let Some(stage) = str_at(v, "StageName") {
                s.push_str(&format!(", at stage {stage}"));
            }
            if let Some(a) = v.get("Amount").and_then(Value::as_f64) {
                s.push_str(&format!(", for {}", number(a)));
            }
            if let Some(d) = str_at(v, "CloseDate").and_then(|d| d.parse::<NaiveDate>().ok()) {
                s.push_str(&format!(", closing {}", day(d)));
            }
            format!("here is {s}.")
        }
        _ => format!("here is {}.", label(Some(object), v, zone)),
    }
}

/// "A", "A and B", "A, B and C".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The sentence of a list of `total` records of which `records` were returned.
fn found(
    object: Option<&str>,
    records: &[Value],
    total: usize,
    term: Option<&str>,
    zone: Option<Tz>,
) -> String {
    let total = total.max(records.len());
    let noun = object.map_or_else(|| "record".to_owned(), noun);
    if total == 0 {
        let people = object.is_some_and(is_person);
        return match term.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) if people && crate::exec::looks_like_phone(t) => {
                "I couldn't find anyone with that number.".into()
            }
            Some(t) if people && t.contains('@') => {
                "I couldn't find anyone with that email address.".into()
            }
            Some(_) if people => "I couldn't find anyone by that name.".into(),
            Some(_) => format!("I couldn't find any {} matching that.", plural(&noun)),
            None => format!("I couldn't find any {}.", plural(&noun)),
        };
    }
    if total == 1 && records.len() == 1 {
        let one = &records[0];
        return match object {
            Some("Case") => capitalise(&record_sentence("Case", one, zone)),
            _ => format!("I found {}.", label(object, one, zone)),
        };
    }
    let named: Vec<String> = records
        .iter()
        .take(SPOKEN_LIST)
        .map(|r| label(object, r, zone))
        .collect();
    let more = total - named.len();
    let what = if object.is_none() && records.iter().any(|r| r.get("type").is_some()) {
        "results".to_owned()
    } else {
        plural(&noun)
    };
    if more == 0 {
        format!("I found {total} {what}: {}.", and_list(&named))
    } else {
        format!(
            "I found {total} {what}: {}, and {more} more.",
            named.join(", ")
        )
    }
}

/// The sentence of a create that is done.
fn created(
    action: &str,
    object: Option<&str>,
    args: &Map<String, Value>,
    result: &Value,
    zone: Option<Tz>,
) -> String {
    let merged = merged(args, result);
    match (action, object) {
        ("log_call", _) => "I've logged this call.".into(),
        (_, Some("Case")) => match str_at(result, "CaseNumber") {
            Some(n) => format!("I've created your case; the case number is {n}."),
            None => "I've created your case.".into(),
        },
        (_, Some("Event")) => match time_at(&merged, "StartDateTime", zone) {
            Some(t) => format!("It's on the calendar for {t}."),
            None => "It's on the calendar.".into(),
        },
        (_, Some("Task")) => {
            match str_at(&merged, "Subject").or_else(|| str_at(&merged, "subject")) {
                Some(s) => format!("I've added a task: {s}."),
                None => "I've added the task.".into(),
            }
        }
        (_, Some("ContentNote")) => "I've saved the note.".into(),
        (_, Some("CampaignMember")) => "I've added them to the campaign.".into(),
        (_, Some("OpportunityLineItem")) => "I've added the product to the opportunity.".into(),
        (_, Some(o)) if is_person(o) => match person(&merged) {
            Some(p) => format!("I've added {p} as a new {}.", noun(o)),
            None => format!("I've added the {}.", noun(o)),
        },
        (_, Some(o)) => match str_at(&merged, "Name") {
            Some(n) => format!("I've created the {} {n}.", noun(o)),
            None => format!("I've created the {}.", noun(o)),
        },
        (_, None) => "I've created the record.".into(),
    }
}

/// The arguments with the result's fields over them (what was written, and what the org
/// answered).
fn merged(args: &Map<String, Value>, result: &Value) -> Value {
    let mut m = args.clone();
    // A generic create's values are under `fields`.
    if let Some(Value::Object(fields)) = args.get("fields") {
        for (k, v) in fields {
            m.insert(k.clone(), v.clone());
        }
    }
    if let Some(r) = result.as_object() {
        for (k, v) in r {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// The sentence of a write that was queued.
fn queued(
    action: &Action,
    object: Option<&str>,
    args: &Map<String, Value>,
    zone: Option<Tz>,
) -> String {
    const LATER: &str = "it will be in Salesforce in a moment";
    let creates = matches!(action, Action::Template(t) if matches!(t.op, Op::Create | Op::CreateTask | Op::CreateNote | Op::CreateRecord));
    match (action.name(), object) {
        ("log_call", _) => format!("I've logged this call; {LATER}."),
        (_, Some("Event")) if creates => {
            match time_at(&Value::Object(args.clone()), "StartDateTime", zone) {
                Some(t) => format!("I've booked it for {t}; {LATER}."),
                None => format!("I've booked it; {LATER}."),
            }
        }
        (_, Some("Case")) if creates => {
            format!("I've saved your case; {LATER}, so I don't have its number yet.")
        }
        (_, Some("ContentNote")) if creates => format!("I've saved the note; {LATER}."),
        _ => QUEUED.into(),
    }
}

/// The sentence of a bulk create or update.
fn bulk(op: Op, noun: &str, result: &Value) -> String {
    let ok = result.get("succeeded").and_then(Value::as_u64).unwrap_or(0);
    let failed = result.get("failed").and_then(Value::as_u64).unwrap_or(0);
    let verb = if op == Op::BulkCreate {
        "created"
    } else {
        "updated"
    };
    let things = |n: u64| {
        if n == 1 {
            format!("1 {noun}")
        } else {
            format!("{n} {}", plural(noun))
        }
    };
    match failed {
        0 => format!("I've {verb} {}.", things(ok)),
        f => format!(
            "I've {verb} {}; {} could not be saved.",
            things(ok),
            things(f)
        ),
    }
}

/// The sentence of a confirmation preview: what the caller is asked to agree to.
fn confirm(preview: &Value) -> String {
    let p = preview.get("preview").unwrap_or(preview);
    let effect = p.get("effect").and_then(Value::as_str).unwrap_or("call");
    let what = p
        .get("object")
        .and_then(Value::as_str)
        .map_or_else(|| "record".to_owned(), noun);
    match effect {
        "create" => format!("Just to confirm: shall I create this {what}?"),
        "update" | "upsert" => format!("Just to confirm: shall I update this {what}?"),
        "delete" => format!("Just to confirm: shall I delete this {what}?"),
        _ => "Just to confirm: shall I go ahead?".into(),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use serde_json::json;

    fn say(action: &str, args: Value, result: Value) -> String {
        let c = Catalog::with_examples();
        let a = c.get(action).unwrap_or_else(|| panic!("{action}"));
        let args = args.as_object().cloned().unwrap_or_default();
        sentence(a, &args, &result, None)
    }

    #[test]
    fn times_dates_and_numbers_are_said_as_people_say_them() {
        let at = |s: &str| parse_time(s, None).expect(s);
        for (t, zone, want) in [
            (
                "2026-12-08T10:00:00.000+0000",
                None,
                "Tuesday, December 8 at 10 AM",
            ),
            (
                "2026-12-08T10:30:00Z",
                None,
                "Tuesday, December 8 at 10:30 AM",
            ),
            (
                "2026-12-08T00:05:00Z",
                None,
                "Tuesday, December 8 at 12:05 AM",
            ),
            ("2026-12-08T12:00:00Z", None, "Tuesday, December 8 at 12 PM"),
            (
                "2026-12-08T15:00:00Z",
                Some(Tz::America__New_York),
                "Tuesday, December 8 at 10 AM",
            ),
            (
                "2026-12-08T02:00:00Z",
                Some(Tz::America__Los_Angeles),
                "Monday, December 7 at 6 PM",
            ),
            ("2026-12-08T10:00:00", None, "Tuesday, December 8 at 10 AM"),
        ] {
            assert_eq!(when(at(t), zone), want, "{t} {zone:?}");
        }
        // A time written without an offset is the call's local time, as the write read it.
        assert_eq!(
            time_at(
                &json!({"StartDateTime": "2026-12-08T10:00:00"}),
                "StartDateTime",
                Some(Tz::America__New_York)
            )
            .as_deref(),
            Some("Tuesday, December 8 at 10 AM")
        );
        for (n, want) in [
            (0.0, "0"),
            (12500.0, "12,500"),
            (1234567.5, "1,234,567.50"),
            (999.0, "999"),
            (-1500.25, "-1,500.25"),
        ] {
            assert_eq!(number(n), want, "{n}");
        }
        for (o, want) in [
            ("Case", "case"),
            ("OpportunityLineItem", "product line"),
            ("Invoice_Line__c", "invoice line"),
            ("ServiceAppointment", "service appointment"),
        ] {
            assert_eq!(noun(o), want, "{o}");
        }
        for (n, want) in [
            ("case", "cases"),
            ("opportunity", "opportunities"),
            ("price book entry", "price book entries"),
            ("campaign member", "campaign members"),
            ("queue", "queues"),
        ] {
            assert_eq!(plural(n), want);
        }
    }

    #[test]
    fn an_ambiguous_search_says_its_question() {
        let q = "I found two: Sarah Johnson at Acme, and Sara Johnston at Globex. Which one?";
        let result = json!({"count": 2, "ambiguous": true, "question": q,
            "records": [{"Id": "003A"}, {"Id": "003B"}]});
        assert_eq!(
            say(
                "search_contact",
                json!({"search_term": "sara jonson"}),
                result
            ),
            q
        );
    }

    #[test]
    fn each_result_says_one_sentence() {
        let sarah = json!({"Id": "003A", "FirstName": "Sarah", "LastName": "Johnson", "Account": {"Name": "Acme Corporation"}});
        let bob = json!({"Id": "003B", "FirstName": "Bob", "LastName": "Smith"});
        let list = |n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| json!({"Name": format!("Person {i}")}))
                .collect()
        };
        let cases = [
            (
                "search_contact",
                json!({"search_term": "+15551234567"}),
                json!({"count": 1, "records": [sarah]}),
                "I found Sarah Johnson at Acme Corporation.",
            ),
            (
                "search_contact",
                json!({"search_term": "+15550000000"}),
                json!({"count": 0, "records": []}),
                "I couldn't find anyone with that number.",
            ),
            (
                "search_contact",
                json!({"search_term": "Zed Q"}),
                json!({"count": 0, "records": []}),
                "I couldn't find anyone by that name.",
            ),
            (
                "search_contact",
                json!({"search_term": "zed@x.com"}),
                json!({"count": 0, "records": []}),
                "I couldn't find anyone with that email address.",
            ),
            (
                "search_case",
                json!({"search_term": "refund"}),
                json!({"count": 0, "records": []}),
                "I couldn't find any cases matching that.",
            ),
            (
                "search_opportunity",
                json!({}),
                json!({"count": 0, "records": []}),
                "I couldn't find any opportunities.",
            ),
            (
                "search_contact",
                json!({"search_term": "o"}),
                json!({"count": 2, "records": [sarah, bob]}),
                "I found 2 contacts: Sarah Johnson at Acme Corporation and Bob Smith.",
            ),
            (
                "search_lead",
                json!({}),
                json!({"count": 10, "records": list(10)}),
                "I found 10 leads: Person 0, Person 1, Person 2, and 7 more.",
            ),
            (
                "search_lead",
                json!({}),
                json!({"count": 3, "records": list(3)}),
                "I found 3 leads: Person 0, Person 1 and Person 2.",
            ),
            (
                "search_case",
                json!({"search_term": "00001026"}),
                json!({"count": 1, "records": [{"CaseNumber": "00001026", "Subject": "Invoice amount discrepancy", "Status": "Working"}]}),
                "Case 00001026, Invoice amount discrepancy, is open.",
            ),
            (
                "get_case",
                json!({}),
                json!({"CaseNumber": "00001026", "Status": "Closed"}),
                "Case 00001026 is closed.",
            ),
            (
                "get_case",
                json!({}),
                json!({"CaseNumber": "00001026", "Status": "New"}),
                "Case 00001026 is open.",
            ),
            (
                "get_contact",
                json!({}),
                json!({"Name": "Sarah Johnson", "Account": {"Name": "Acme Corporation"}}),
                "Here is Sarah Johnson at Acme Corporation.",
            ),
            (
                "get_opportunity",
                json!({}),
                json!({"Name": "Acme renewal", "StageName": "Proposal", "Amount": 12500, "CloseDate": "2026-12-31"}),
                "Here is Acme renewal, at stage Proposal, for 12,500, closing Thursday, December 31.",
            ),
            (
                "search_event",
                json!({}),
                json!({"count": 1, "records": [{"Subject": "Callback", "StartDateTime": "2026-12-08T10:00:00.000+0000"}]}),
                "I found Callback on Tuesday, December 8 at 10 AM.",
            ),
            (
                "global_search",
                json!({"search_term": "acme"}),
                json!({"count": 2, "records": [{"type": "Account", "Name": "Acme Corporation"}, {"type": "Case", "CaseNumber": "00001026", "Subject": "Invoice"}]}),
                "I found 2 results: Acme Corporation and case 00001026 about Invoice.",
            ),
            (
                "create_case",
                json!({"Subject": "x"}),
                json!({"id": "500A", "success": true, "CaseNumber": "00001026"}),
                "I've created your case; the case number is 00001026.",
            ),
            (
                "create_case",
                json!({"Subject": "x"}),
                json!({"id": "500A", "success": true}),
                "I've created your case.",
            ),
            (
                "log_call",
                json!({"Subject": "x"}),
                json!({"id": "00TA", "success": true}),
                "I've logged this call.",
            ),
            (
                "log_call",
                json!({"Subject": "x"}),
                json!({"queued": true, "reference": "job-1"}),
                "I've logged this call; it will be in Salesforce in a moment.",
            ),
            (
                "schedule_event",
                json!({"StartDateTime": "2026-12-08T10:00:00Z"}),
                json!({"id": "00UA", "success": true}),
                "It's on the calendar for Tuesday, December 8 at 10 AM.",
            ),
            (
                "schedule_event",
                json!({"StartDateTime": "2026-12-08T10:00:00Z"}),
                json!({"queued": true, "reference": "job-2"}),
                "I've booked it for Tuesday, December 8 at 10 AM; it will be in Salesforce in a moment.",
            ),
            (
                "create_case",
                json!({}),
                json!({"queued": true, "reference": "job-3"}),
                "I've saved your case; it will be in Salesforce in a moment, so I don't have its number yet.",
            ),
            (
                "update_case",
                json!({}),
                json!({"queued": true, "reference": "job-4"}),
                "I've saved that; it will be in Salesforce in a moment.",
            ),
            (
                "create_contact",
                json!({"FirstName": "Ann", "LastName": "Lee"}),
                json!({"id": "003C", "success": true}),
                "I've added Ann Lee as a new contact.",
            ),
            (
                "create_account",
                json!({"Name": "Globex"}),
                json!({"id": "001C", "success": true}),
                "I've created the account Globex.",
            ),
            (
                "create_task",
                json!({"subject": "Send the contract"}),
                json!({"id": "00TB", "success": true}),
                "I've added a task: Send the contract.",
            ),
            (
                "create_note",
                json!({"Title": "t"}),
                json!({"id": "069A"}),
                "I've saved the note.",
            ),
            (
                "update_contact",
                json!({}),
                json!({"id": "003A", "updated": ["Email"]}),
                "I've updated the contact.",
            ),
            (
                "delete_task",
                json!({}),
                json!({"id": "00TA", "deleted": true}),
                "I've deleted the task.",
            ),
            (
                "create_record",
                json!({"sobject": "Invoice_Line__c"}),
                json!({"id": "a01A", "success": true}),
                "I've created the invoice line.",
            ),
            (
                "create_record",
                json!({"sobject": "Account", "fields": {"Name": "Globex"}}),
                json!({"id": "001A", "success": true}),
                "I've created the account Globex.",
            ),
            (
                "search_pricebook_entries",
                json!({}),
                json!({"count": 1, "records": [{"Id": "01u", "Product2": {"Name": "Voice Agent Enterprise"}}]}),
                "I found Voice Agent Enterprise.",
            ),
            (
                "upsert_record",
                json!({"sobject": "Account"}),
                json!({"id": "001A", "created": false}),
                "I've updated the account.",
            ),
            (
                "bulk_create",
                json!({"sobject": "Lead"}),
                json!({"succeeded": 4, "failed": 1}),
                "I've created 4 leads; 1 lead could not be saved.",
            ),
            (
                "run_query",
                json!({"soql": "SELECT Id FROM Case"}),
                json!({"count": 0, "records": []}),
                "I couldn't find any cases.",
            ),
            (
                "delete_contact",
                json!({}),
                json!({"confirmation_required": {"preview": {"effect": "delete", "object": "Contact"}, "token": "t"}}),
                "Just to confirm: shall I delete this contact?",
            ),
            (
                "custom_api_call",
                json!({"method": "GET"}),
                json!({"status": 200, "body": {}}),
                "Here is what Salesforce answered.",
            ),
            (
                "identify_customer",
                json!({}),
                json!({"count": 0, "records": []}),
                "I couldn't find any contacts.",
            ),
        ];
        for (action, args, result, want) in cases {
            assert_eq!(
                say(action, args.clone(), result.clone()),
                want,
                "{action} {args} {result}"
            );
        }
    }

    #[test]
    fn a_result_always_carries_say_and_is_never_empty() {
        let c = Catalog::with_examples();
        let a = c.get("custom_api_call").expect("action");
        let v = with_say(a, &Map::new(), json!([1, 2]), None);
        assert_eq!(v["result"], json!([1, 2]));
        assert!(v["say"].as_str().is_some_and(|s| !s.is_empty()));
        let v = with_say(a, &Map::new(), json!({}), None);
        assert!(v["say"].is_string(), "{v}");
    }

    #[test]
    fn an_intent_says_what_it_wrote() {
        for (result, want) in [
            (
                json!({"intent": "x", "records": [{"object": "Task", "created": true}, {"object": "Opportunity", "created": false}]}),
                "I've created the task and updated the opportunity.",
            ),
            (json!({"queued": true, "reference": "job-1"}), QUEUED),
            (
                json!({"intent": "x", "records": []}),
                "I've saved that in Salesforce.",
            ),
        ] {
            assert_eq!(intent_sentence(&result), want);
        }
    }
}
