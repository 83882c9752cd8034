//! Time as people say it: a call's time zone (an IANA name), date-times without an offset read
//! in it, and the call's `{{now}}` and `{{today}}`.
//!
//! A call's zone is the one it was started with, else its agent's, else the org user's
//! (`User.TimeZoneSidKey` of the connected user), else UTC; the service decides which, and the
//! call session holds the result ([`crate::CallSession::time_zone`]).
//!
//! A local time is turned into an instant as calendars do (RFC 5545): a time that happens twice
//! (the hour after clocks go back) is the first of the two; a time that does not happen (the
//! hour skipped when clocks go forward) is read with the offset in force before the change, so
//! `02:30` on the night clocks go from 02:00 to 03:00 is `03:30` of the new offset.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset as _, TimeZone as _, Utc};
pub use chrono_tz::Tz;
use serde_json::{Map, Value};

use crate::error::ActionError;

/// The name of the template variable holding the call's zone (`{{time_zone}}`).
pub const TIME_ZONE_VAR: &str = "time_zone";

/// Zones named in the message that refuses a bad one.
const EXAMPLES: &str = "America/New_York, Europe/London, Asia/Tokyo or UTC";

/// The zone named `name` (an IANA name such as `America/New_York`); the case of its letters
/// does not matter (`america/new_york`).
///
/// # Errors
/// [`crate::ErrorCode::InvalidArgument`] on `field`, saying what a valid name looks like and
/// suggesting the closest one when there is one (`America/New_Yrok`).
pub fn parse(field: &str, name: &str) -> Result<Tz, ActionError> {
    let trimmed = name.trim();
    if let Ok(tz) = trimmed.parse::<Tz>() {
        return Ok(tz);
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name());
    if let Some(canonical) = crate::suggest::canonical(trimmed, names.clone())
        && let Ok(tz) = canonical.parse::<Tz>()
    {
        return Ok(tz);
    }
    let mut e = ActionError::invalid(
        field,
        format!(
            "'{name}' is not an IANA time zone name; send one such as {EXAMPLES} (a region and a city, not an abbreviation like EST or an offset like -05:00)"
        ),
    );
    // NB: only a close spelling is suggested: "Eastern" contains no city, and a suggestion
    // would be a guess about where the caller is.
    let close = names
        .map(|n| {
            (
                strsim::levenshtein(&trimmed.to_lowercase(), &n.to_lowercase()),
                n,
            )
        })
        .filter(|(d, n)| *d <= 2.max(n.len() / 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n);
    if let Some(c) = close {
        e.message = format!("{}; did you mean '{c}'?", e.message).into();
        e.suggestion = Some(c.into());
    }
    Err(e)
}

/// The zone of a template context (its `time_zone`), UTC when it has none.
pub fn of_context(ctx: &Map<String, Value>) -> Tz {
    ctx.get(TIME_ZONE_VAR)
        .and_then(Value::as_str)
        .and_then(|n| n.parse().ok())
        .unwrap_or(Tz::UTC)
}

/// The instant the local date-time `naive` names in `zone` (see the module's doc for the hour
/// that happens twice and the one that does not happen).
pub fn local_to_utc(naive: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(d) => d.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // NB: a gap is at most a few hours long and zones change offset far less often than
            // daily, so the offset a day earlier is the one in force before the gap.
            let before = zone
                .offset_from_utc_datetime(&(naive - chrono::TimeDelta::days(1)))
                .fix();
            (naive - chrono::TimeDelta::seconds(i64::from(before.local_minus_utc()))).and_utc()
        }
    }
}

/// An ISO 8601 date-time: one with an offset (or `Z`) is that instant; one without
/// (`2026-12-09T10:00:00`, also with a space for `T`, fractional seconds or no seconds) is a
/// local time in `zone`.
pub fn read_datetime(s: &str, zone: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    // Salesforce's own form: `2026-02-12T10:00:00.000+0000`.
    if let Ok(d) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(d.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?;
    Some(local_to_utc(naive, zone))
}

/// The date an ISO 8601 date or date-time names in `zone`: a date as it is, a local
/// date-time's own date, an instant's (with an offset) date in `zone`
/// (`2026-12-10T03:00:00Z` is the 9th in New York).
pub fn read_date(s: &str, zone: Tz) -> Option<NaiveDate> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    read_datetime(s, zone).map(|d| d.with_timezone(&zone).date_naive())
}

/// An instant as Salesforce answers it (`2026-12-09T15:00:00.000+0000`, or any ISO 8601 form
/// with an offset) as a local time in `zone`, to say it to the caller (10:00 in New York).
/// A time without an offset is taken as local already.
pub fn to_local(s: &str, zone: Tz) -> Option<DateTime<Tz>> {
    read_datetime(s, zone).map(|d| d.with_timezone(&zone))
}

/// `now` in `zone` as ISO 8601 with its offset, to the second (`2026-12-08T19:45:00-05:00`):
/// the call's `{{now}}`.
pub fn now_in(now: DateTime<Utc>, zone: Tz) -> String {
    now.with_timezone(&zone)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Today's date in `zone` (`2026-12-08`): the call's `{{today}}`.
pub fn today_in(now: DateTime<Utc>, zone: Tz) -> String {
    now.with_timezone(&zone).date_naive().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn zone_names_are_iana_names_in_any_case() {
        for (input, want) in [
            ("America/New_York", Some("America/New_York")),
            ("america/new_york", Some("America/New_York")),
            (" Europe/Paris ", Some("Europe/Paris")),
            ("UTC", Some("UTC")),
            ("Eastern", None),
            ("-05:00", None),
            ("", None),
            ("America/New_Yrok", None),
        ] {
            assert_eq!(
                parse("time_zone", input).ok().map(Tz::name),
                want,
                "{input:?}"
            );
        }
    }

    #[test]
    fn a_bad_zone_says_how_to_fix_it() {
        let e = parse("time_zone", "America/New_Yrok").expect_err("bad");
        assert_eq!(e.field.as_deref(), Some("time_zone"));
        assert_eq!(e.suggestion.as_deref(), Some("America/New_York"));
        assert!(e.message.contains("IANA"), "{}", e.message);
        let e = parse("time_zone", "Eastern").expect_err("bad");
        assert!(e.message.contains("America/New_York"), "{}", e.message);
        assert_eq!(e.suggestion, None);
    }

    #[test]
    fn local_times_are_read_in_the_zone_and_offsets_are_kept() {
        let ny: Tz = "America/New_York".parse().expect("zone");
        let la: Tz = "America/Los_Angeles".parse().expect("zone");
        for (input, zone, want) in [
            // Winter: New York is UTC-5.
            ("2026-12-09T10:00:00", ny, Some("2026-12-09T15:00:00Z")),
            ("2026-12-09 10:00", ny, Some("2026-12-09T15:00:00Z")),
            ("2026-12-09T10:00", la, Some("2026-12-09T18:00:00Z")),
            // Summer: New York is UTC-4.
            ("2026-07-01T10:00:00", ny, Some("2026-07-01T14:00:00Z")),
            // Around the change to summer time (8 March 2026, 02:00 -> 03:00).
            ("2026-03-08T01:59:00", ny, Some("2026-03-08T06:59:00Z")),
            ("2026-03-08T03:00:00", ny, Some("2026-03-08T07:00:00Z")),
            // 02:30 does not happen: read with the winter offset, it is 03:30 summer time.
            ("2026-03-08T02:30:00", ny, Some("2026-03-08T07:30:00Z")),
            // Back to winter time (1 November 2026, 02:00 -> 01:00): 01:30 happens twice, the
            // first is taken.
            ("2026-11-01T01:30:00", ny, Some("2026-11-01T05:30:00Z")),
            ("2026-11-01T02:30:00", ny, Some("2026-11-01T07:30:00Z")),
            // An offset or Z is kept, whatever the zone.
            ("2026-12-09T10:00:00Z", ny, Some("2026-12-09T10:00:00Z")),
            (
                "2026-12-09T10:00:00+01:00",
                ny,
                Some("2026-12-09T09:00:00Z"),
            ),
            (
                "2026-12-09T10:00:00.000+0000",
                ny,
                Some("2026-12-09T10:00:00Z"),
            ),
            ("2026-12-09T10:00:00", Tz::UTC, Some("2026-12-09T10:00:00Z")),
            ("tomorrow at ten", ny, None),
        ] {
            assert_eq!(
                read_datetime(input, zone),
                want.map(utc),
                "{input} in {zone}"
            );
        }
    }

    #[test]
    fn dates_are_the_dates_in_the_zone() {
        let ny: Tz = "America/New_York".parse().expect("zone");
        for (input, zone, want) in [
            ("2026-12-09", ny, Some("2026-12-09")),
            ("2026-12-09T23:30:00", ny, Some("2026-12-09")),
            ("2026-12-09T23:30:00-05:00", ny, Some("2026-12-09")),
            ("2026-12-09T23:30:00-05:00", Tz::UTC, Some("2026-12-10")),
            ("2026-12-10T03:00:00Z", ny, Some("2026-12-09")),
            ("2026-12-10T03:00:00Z", Tz::UTC, Some("2026-12-10")),
            ("next week", ny, None),
        ] {
            assert_eq!(
                read_date(input, zone).map(|d| d.to_string()).as_deref(),
                want,
                "{input} in {zone}"
            );
        }
    }

    #[test]
    fn now_and_today_are_said_in_the_zone() {
        let ny: Tz = "America/New_York".parse().expect("zone");
        let at = utc("2026-12-09T02:30:00Z");
        assert_eq!(now_in(at, ny), "2026-12-08T21:30:00-05:00");
        assert_eq!(today_in(at, ny), "2026-12-08");
        assert_eq!(now_in(at, Tz::UTC), "2026-12-09T02:30:00Z");
        assert_eq!(today_in(at, Tz::UTC), "2026-12-09");
    }

    #[test]
    fn instants_the_org_answers_are_said_in_the_zone() {
        let ny: Tz = "America/New_York".parse().expect("zone");
        for (input, want) in [
            ("2026-12-09T15:00:00.000+0000", Some("2026-12-09 10:00 EST")),
            ("2026-07-01T14:00:00Z", Some("2026-07-01 10:00 EDT")),
            ("2026-12-09T10:00:00", Some("2026-12-09 10:00 EST")),
            ("soon", None),
        ] {
            assert_eq!(
                to_local(input, ny)
                    .map(|d| d.format("%Y-%m-%d %H:%M %Z").to_string())
                    .as_deref(),
                want,
                "{input}"
            );
        }
    }
}
