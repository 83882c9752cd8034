//! What relative date literals (`TODAY`, `LAST_N_DAYS:30`, `THIS_FISCAL_QUARTER`...) mean.
//!
//! [`DateLiteral::range`] turns a literal and "now" into the half-open range `[start, end)` of
//! days it covers. The conventions are the dev org's: the user's time zone is UTC, the fiscal
//! year is the calendar year starting in January, and weeks start on Sunday (Salesforce's default
//! US locale). Ranges saturate at chrono's earliest and latest dates instead of overflowing.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};

use crate::ast::{DateLiteral, Period, Unit};

/// A half-open range of days `[start, end)`; as datetimes, from `start` 00:00 UTC up to but not
/// including `end` 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// The first day in the range.
    pub start: NaiveDate,
    /// The first day after the range.
    pub end: NaiveDate,
}

impl DateRange {
    /// The start as a UTC datetime (00:00 of `start`).
    pub fn start_datetime(&self) -> DateTime<Utc> {
        self.start.and_time(NaiveTime::MIN).and_utc()
    }

    /// The end as a UTC datetime (00:00 of `end`, excluded).
    pub fn end_datetime(&self) -> DateTime<Utc> {
        self.end.and_time(NaiveTime::MIN).and_utc()
    }

    /// True when the day `d` is in the range.
    pub fn contains_date(&self, d: NaiveDate) -> bool {
        self.start <= d && d < self.end
    }

    /// True when the instant `t` is in the range.
    pub fn contains_datetime(&self, t: DateTime<Utc>) -> bool {
        self.start_datetime() <= t && t < self.end_datetime()
    }
}

fn add_days(d: NaiveDate, n: i64) -> NaiveDate {
    let r = if n >= 0 {
        d.checked_add_days(Days::new(n as u64))
    } else {
        d.checked_sub_days(Days::new(n.unsigned_abs()))
    };
    r.unwrap_or(if n >= 0 {
        NaiveDate::MAX
    } else {
        NaiveDate::MIN
    })
}

fn add_months(d: NaiveDate, n: i64) -> NaiveDate {
    let m = u32::try_from(n.unsigned_abs()).ok().map(Months::new);
    let r = m.and_then(|m| {
        if n >= 0 {
            d.checked_add_months(m)
        } else {
            d.checked_sub_months(m)
        }
    });
    r.unwrap_or(if n >= 0 {
        NaiveDate::MAX
    } else {
        NaiveDate::MIN
    })
}

/// Moves `d` (the start of a unit) by `k` units.
fn step(d: NaiveDate, unit: Unit, k: i64) -> NaiveDate {
    match unit {
        Unit::Days => add_days(d, k),
        Unit::Weeks => add_days(d, k.saturating_mul(7)),
        Unit::Months => add_months(d, k),
        Unit::Quarters | Unit::FiscalQuarters => add_months(d, k.saturating_mul(3)),
        Unit::Years | Unit::FiscalYears => add_months(d, k.saturating_mul(12)),
    }
}

/// The first day of the unit containing `d`.
fn start_of(d: NaiveDate, unit: Unit) -> NaiveDate {
    let first = |month: u32| NaiveDate::from_ymd_opt(d.year(), month, 1).unwrap_or(d);
    match unit {
        Unit::Days => d,
        Unit::Weeks => add_days(d, -i64::from(d.weekday().num_days_from_sunday())),
        Unit::Months => first(d.month()),
        Unit::Quarters | Unit::FiscalQuarters => first((d.month0() / 3) * 3 + 1),
        Unit::Years | Unit::FiscalYears => first(1),
    }
}

fn period_unit(p: Period) -> Unit {
    match p {
        Period::Week => Unit::Weeks,
        Period::Month => Unit::Months,
        Period::Quarter => Unit::Quarters,
        Period::Year => Unit::Years,
        Period::FiscalQuarter => Unit::FiscalQuarters,
        Period::FiscalYear => Unit::FiscalYears,
    }
}

impl DateLiteral {
    /// The days this literal covers when it is `now`, as a half-open range.
    ///
    /// `LAST_N_DAYS:n` runs from 00:00 n days ago through the end of today; `NEXT_N_DAYS:n` and
    /// `NEXT_90_DAYS` start tomorrow; the other `LAST_N_`/`NEXT_N_` forms cover whole units before
    /// or after the current one; `N_x_AGO:n` is the single unit n units before the current one.
    pub fn range(&self, now: DateTime<Utc>) -> DateRange {
        let today = now.date_naive();
        let unit_range = |unit: Unit, from: i64, to: i64| {
            let s = start_of(today, unit);
            DateRange {
                start: step(s, unit, from),
                end: step(s, unit, to),
            }
        };
        match *self {
            DateLiteral::Yesterday => unit_range(Unit::Days, -1, 0),
            DateLiteral::Today => unit_range(Unit::Days, 0, 1),
            DateLiteral::Tomorrow => unit_range(Unit::Days, 1, 2),
            DateLiteral::Last90Days => unit_range(Unit::Days, -90, 1),
            DateLiteral::Next90Days => unit_range(Unit::Days, 1, 91),
            DateLiteral::This(p) => unit_range(period_unit(p), 0, 1),
            DateLiteral::Last(p) => unit_range(period_unit(p), -1, 0),
            DateLiteral::Next(p) => unit_range(period_unit(p), 1, 2),
            DateLiteral::LastN(Unit::Days, n) => unit_range(Unit::Days, -i64::from(n), 1),
            DateLiteral::LastN(u, n) => unit_range(u, -i64::from(n), 0),
            DateLiteral::NextN(u, n) => unit_range(u, 1, 1 + i64::from(n)),
            DateLiteral::NAgo(u, n) => unit_range(u, -i64::from(n), 1 - i64::from(n)),
        }
    }

    /// The literal's canonical text (`LAST_N_DAYS:30`).
    pub fn to_text(&self) -> String {
        match *self {
            DateLiteral::Yesterday => "YESTERDAY".into(),
            DateLiteral::Today => "TODAY".into(),
            DateLiteral::Tomorrow => "TOMORROW".into(),
            DateLiteral::Last90Days => "LAST_90_DAYS".into(),
            DateLiteral::Next90Days => "NEXT_90_DAYS".into(),
            DateLiteral::This(p) => format!("THIS_{}", period_name(p)),
            DateLiteral::Last(p) => format!("LAST_{}", period_name(p)),
            DateLiteral::Next(p) => format!("NEXT_{}", period_name(p)),
            DateLiteral::LastN(u, n) => format!("LAST_N_{}:{n}", unit_name(u)),
            DateLiteral::NextN(u, n) => format!("NEXT_N_{}:{n}", unit_name(u)),
            DateLiteral::NAgo(u, n) => format!("N_{}_AGO:{n}", unit_name(u)),
        }
    }
}

const PERIODS: [Period; 6] = [
    Period::Week,
    Period::Month,
    Period::Quarter,
    Period::Year,
    Period::FiscalQuarter,
    Period::FiscalYear,
];

const UNITS: [Unit; 7] = [
    Unit::Days,
    Unit::Weeks,
    Unit::Months,
    Unit::Quarters,
    Unit::Years,
    Unit::FiscalQuarters,
    Unit::FiscalYears,
];

fn period_name(p: Period) -> &'static str {
    match p {
        Period::Week => "WEEK",
        Period::Month => "MONTH",
        Period::Quarter => "QUARTER",
        Period::Year => "YEAR",
        Period::FiscalQuarter => "FISCAL_QUARTER",
        Period::FiscalYear => "FISCAL_YEAR",
    }
}

fn unit_name(u: Unit) -> &'static str {
    match u {
        Unit::Days => "DAYS",
        Unit::Weeks => "WEEKS",
        Unit::Months => "MONTHS",
        Unit::Quarters => "QUARTERS",
        Unit::Years => "YEARS",
        Unit::FiscalQuarters => "FISCAL_QUARTERS",
        Unit::FiscalYears => "FISCAL_YEARS",
    }
}

/// The date literal without argument named `word` (case-insensitive), if any.
pub(crate) fn fixed_literal(word: &str) -> Option<DateLiteral> {
    let w = word.to_ascii_uppercase();
    let simple = match w.as_str() {
        "YESTERDAY" => Some(DateLiteral::Yesterday),
        "TODAY" => Some(DateLiteral::Today),
        "TOMORROW" => Some(DateLiteral::Tomorrow),
        "LAST_90_DAYS" => Some(DateLiteral::Last90Days),
        "NEXT_90_DAYS" => Some(DateLiteral::Next90Days),
        _ => None,
    };
    if simple.is_some() {
        return simple;
    }
    let (prefix, rest) = w.split_once('_')?;
    let p = PERIODS.into_iter().find(|p| period_name(*p) == rest)?;
    match prefix {
        "THIS" => Some(DateLiteral::This(p)),
        "LAST" => Some(DateLiteral::Last(p)),
        "NEXT" => Some(DateLiteral::Next(p)),
        _ => None,
    }
}

/// The `_N_` date literal family named by `word` (case-insensitive): a constructor taking `n`.
pub(crate) fn n_literal(word: &str) -> Option<impl Fn(u32) -> DateLiteral + use<>> {
    let w = word.to_ascii_uppercase();
    let find = |name: &str| UNITS.into_iter().find(|u| unit_name(*u) == name);
    let (kind, unit) = if let Some(rest) = w.strip_prefix("LAST_N_") {
        (0, find(rest)?)
    } else if let Some(rest) = w.strip_prefix("NEXT_N_") {
        (1, find(rest)?)
    } else {
        let rest = w.strip_prefix("N_")?.strip_suffix("_AGO")?;
        (2, find(rest)?)
    };
    Some(move |n| match kind {
        0 => DateLiteral::LastN(unit, n),
        1 => DateLiteral::NextN(unit, n),
        _ => DateLiteral::NAgo(unit, n),
    })
}

/// True when `word` names a date literal (with or without `:n`).
pub(crate) fn is_literal_name(word: &str) -> bool {
    fixed_literal(word).is_some() || n_literal(word).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Condition, Value};
    use crate::parse_condition;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn literal(text: &str) -> DateLiteral {
        match parse_condition(&format!("CreatedDate = {text}")).unwrap() {
            Condition::Compare {
                value: Value::DateLiteral(l),
                ..
            } => l,
            other => panic!("{text}: {other:?}"),
        }
    }

    /// Now is Wednesday 2024-05-15 13:45 UTC (Q2; the week started Sunday 2024-05-12).
    #[test]
    fn date_literal_ranges_from_a_wednesday_in_may() {
        let now = DateTime::parse_from_rfc3339("2024-05-15T13:45:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let cases = [
            ("YESTERDAY", "2024-05-14", "2024-05-15"),
            ("TODAY", "2024-05-15", "2024-05-16"),
            ("TOMORROW", "2024-05-16", "2024-05-17"),
            ("LAST_WEEK", "2024-05-05", "2024-05-12"),
            ("THIS_WEEK", "2024-05-12", "2024-05-19"),
            ("NEXT_WEEK", "2024-05-19", "2024-05-26"),
            ("LAST_MONTH", "2024-04-01", "2024-05-01"),
            ("THIS_MONTH", "2024-05-01", "2024-06-01"),
            ("NEXT_MONTH", "2024-06-01", "2024-07-01"),
            ("LAST_90_DAYS", "2024-02-15", "2024-05-16"),
            ("NEXT_90_DAYS", "2024-05-16", "2024-08-14"),
            ("THIS_QUARTER", "2024-04-01", "2024-07-01"),
            ("LAST_QUARTER", "2024-01-01", "2024-04-01"),
            ("NEXT_QUARTER", "2024-07-01", "2024-10-01"),
            ("THIS_YEAR", "2024-01-01", "2025-01-01"),
            ("LAST_YEAR", "2023-01-01", "2024-01-01"),
            ("NEXT_YEAR", "2025-01-01", "2026-01-01"),
            ("THIS_FISCAL_QUARTER", "2024-04-01", "2024-07-01"),
            ("LAST_FISCAL_QUARTER", "2024-01-01", "2024-04-01"),
            ("NEXT_FISCAL_QUARTER", "2024-07-01", "2024-10-01"),
            ("THIS_FISCAL_YEAR", "2024-01-01", "2025-01-01"),
            ("LAST_FISCAL_YEAR", "2023-01-01", "2024-01-01"),
            ("NEXT_FISCAL_YEAR", "2025-01-01", "2026-01-01"),
            ("LAST_N_DAYS:1", "2024-05-14", "2024-05-16"),
            ("LAST_N_DAYS:30", "2024-04-15", "2024-05-16"),
            ("NEXT_N_DAYS:1", "2024-05-16", "2024-05-17"),
            ("NEXT_N_DAYS:7", "2024-05-16", "2024-05-23"),
            ("N_DAYS_AGO:3", "2024-05-12", "2024-05-13"),
            ("LAST_N_WEEKS:2", "2024-04-28", "2024-05-12"),
            ("NEXT_N_WEEKS:2", "2024-05-19", "2024-06-02"),
            ("N_WEEKS_AGO:1", "2024-05-05", "2024-05-12"),
            ("LAST_N_MONTHS:3", "2024-02-01", "2024-05-01"),
            ("NEXT_N_MONTHS:2", "2024-06-01", "2024-08-01"),
            ("N_MONTHS_AGO:5", "2023-12-01", "2024-01-01"),
            ("LAST_N_QUARTERS:2", "2023-10-01", "2024-04-01"),
            ("NEXT_N_QUARTERS:1", "2024-07-01", "2024-10-01"),
            ("N_QUARTERS_AGO:4", "2023-04-01", "2023-07-01"),
            ("LAST_N_YEARS:2", "2022-01-01", "2024-01-01"),
            ("NEXT_N_YEARS:1", "2025-01-01", "2026-01-01"),
            ("N_YEARS_AGO:10", "2014-01-01", "2015-01-01"),
            ("LAST_N_FISCAL_QUARTERS:1", "2024-01-01", "2024-04-01"),
            ("NEXT_N_FISCAL_QUARTERS:3", "2024-07-01", "2025-04-01"),
            ("N_FISCAL_QUARTERS_AGO:2", "2023-10-01", "2024-01-01"),
            ("LAST_N_FISCAL_YEARS:1", "2023-01-01", "2024-01-01"),
            ("NEXT_N_FISCAL_YEARS:2", "2025-01-01", "2027-01-01"),
            ("N_FISCAL_YEARS_AGO:1", "2023-01-01", "2024-01-01"),
        ];
        for (text, start, end) in cases {
            let lit = literal(text);
            assert_eq!(lit.to_text(), text, "canonical text");
            let r = lit.range(now);
            assert_eq!((r.start, r.end), (d(start), d(end)), "{text}");
        }
    }

    #[test]
    fn week_boundaries_follow_sunday_start() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let cases = [
            ("2024-05-12T00:00:00Z", "2024-05-12"), // Sunday: its own week
            ("2024-05-18T23:59:59Z", "2024-05-12"), // Saturday: same week
            ("2024-01-02T08:00:00Z", "2023-12-31"), // crosses a year
        ];
        for (now, start) in cases {
            assert_eq!(
                DateLiteral::This(Period::Week).range(at(now)).start,
                d(start),
                "{now}"
            );
        }
    }

    #[test]
    fn last_n_days_covers_from_midnight_n_days_ago_through_end_of_today() {
        let now = DateTime::parse_from_rfc3339("2024-03-01T09:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let r = DateLiteral::LastN(Unit::Days, 2).range(now);
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(r.contains_datetime(t("2024-02-28T00:00:00Z")));
        assert!(!r.contains_datetime(t("2024-02-27T23:59:59Z")));
        assert!(r.contains_datetime(t("2024-03-01T23:59:59Z")));
        assert!(!r.contains_datetime(t("2024-03-02T00:00:00Z")));
        assert!(r.contains_date(d("2024-02-29")));
    }

    #[test]
    fn huge_n_saturates_instead_of_overflowing() {
        let now = Utc::now();
        let r = DateLiteral::LastN(Unit::Years, u32::MAX).range(now);
        assert_eq!(r.start, NaiveDate::MIN);
        let r = DateLiteral::NextN(Unit::Days, u32::MAX).range(now);
        assert_eq!(r.end, NaiveDate::MAX);
    }

    #[test]
    fn literal_names_are_case_insensitive() {
        assert_eq!(
            fixed_literal("this_fiscal_year"),
            Some(DateLiteral::This(Period::FiscalYear))
        );
        assert!(fixed_literal("THIS_DECADE").is_none());
        assert!(n_literal("last_n_days").is_some());
        assert!(n_literal("N_DAYS").is_none());
    }
}
