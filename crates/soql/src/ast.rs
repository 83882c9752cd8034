//! The SOQL and SOSL syntax trees that [`crate::parse_query`] and [`crate::parse_search`] return.
//!
//! Names keep the spelling they were written with; compare them with
//! [`eq_ignore_ascii_case`](str::eq_ignore_ascii_case), as Salesforce does. Every node prints back
//! to canonical text through `Display` (see [`crate::print`]).
//!
//! Literal kinds stay distinct ([`Value`]): a string is never a date, a date is never a datetime.
//! A `LIKE` right-hand side is a [`LikePattern`], not a [`Value::String`], because `\%` and `\_`
//! (a literal `%` and `_`) must stay distinct from the wildcards.

use chrono::{DateTime, FixedOffset, NaiveDate};

/// A `SELECT` query (top level, child subquery or semi-join subquery).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The select list, in order.
    pub select: Vec<SelectItem>,
    /// The `FROM` object (or, in a child subquery, the child relationship name).
    pub from: FromClause,
    /// `USING SCOPE <scope>` (for example `Mine`, `Team`, `Everything`).
    pub using_scope: Option<String>,
    /// The `WHERE` condition.
    pub filter: Option<Condition>,
    /// The `WITH` clause.
    pub with: Option<WithClause>,
    /// The `GROUP BY` clause.
    pub group_by: Option<GroupBy>,
    /// The `HAVING` condition (only with `GROUP BY`).
    pub having: Option<Condition>,
    /// The `ORDER BY` items, in order (empty when there is none).
    pub order_by: Vec<OrderItem>,
    /// `LIMIT n`.
    pub limit: Option<u64>,
    /// `OFFSET n`.
    pub offset: Option<u64>,
    /// `FOR VIEW | REFERENCE | UPDATE`.
    pub for_clause: Option<ForClause>,
    /// `UPDATE TRACKING | VIEWSTAT`.
    pub update: Option<UpdateClause>,
}

impl Query {
    /// A query selecting `select` from `object`, with every other clause empty.
    pub fn new(select: Vec<SelectItem>, object: impl Into<String>) -> Self {
        Query {
            select,
            from: FromClause {
                object: object.into(),
                alias: None,
            },
            using_scope: None,
            filter: None,
            with: None,
            group_by: None,
            having: None,
            order_by: Vec::new(),
            limit: None,
            offset: None,
            for_clause: None,
            update: None,
        }
    }

    /// True when the select list has an aggregate function or the query has `GROUP BY`: its rows
    /// are `AggregateResult`s. `SELECT COUNT() ...` is not: it only counts (see [`Query::is_count_only`]).
    pub fn is_aggregate(&self) -> bool {
        self.group_by.is_some()
            || self.select.iter().any(|item| match item {
                SelectItem::Expr {
                    expr: Expr::Call(call),
                    ..
                } => call.is_aggregate() && !call.is_count_star(),
                _ => false,
            })
    }

    /// True for `SELECT COUNT() FROM ...`: the answer is a `totalSize` with no records.
    pub fn is_count_only(&self) -> bool {
        matches!(self.select.as_slice(), [SelectItem::Expr { expr: Expr::Call(call), .. }] if call.is_count_star())
    }
}

/// The `FROM` clause: an object name and an optional alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromClause {
    /// The object (or child relationship) name, as written.
    pub object: String,
    /// The alias, as in `FROM Contact c`.
    pub alias: Option<String>,
}

/// One item of a select list.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// A field path or a function call, with an optional alias (`COUNT(Id) total`).
    Expr {
        /// The field or call.
        expr: Expr,
        /// The alias, if written.
        alias: Option<String>,
    },
    /// A child relationship subquery: `(SELECT Id FROM Contacts)`.
    Subquery(Box<Query>),
    /// `FIELDS(ALL | STANDARD | CUSTOM)`.
    Fields(FieldsKind),
    /// `TYPEOF ... END` on a polymorphic relationship (parsed and printed, not evaluated here).
    TypeOf(TypeOf),
}

impl SelectItem {
    /// A plain field path item without alias: `SelectItem::field(["Account", "Name"])`.
    pub fn field<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Self {
        SelectItem::Expr {
            expr: Expr::Field(FieldPath::new(segments)),
            alias: None,
        }
    }
}

/// Which fields `FIELDS(...)` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldsKind {
    /// `FIELDS(ALL)`.
    All,
    /// `FIELDS(STANDARD)`.
    Standard,
    /// `FIELDS(CUSTOM)`.
    Custom,
}

/// `TYPEOF rel WHEN Type THEN fields ... [ELSE fields] END`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeOf {
    /// The polymorphic relationship name (`What`, `Owner`).
    pub relationship: String,
    /// The `WHEN Type THEN fields` branches, in order.
    pub whens: Vec<TypeOfWhen>,
    /// The `ELSE` fields, if any.
    pub otherwise: Vec<FieldPath>,
}

/// One `WHEN Type THEN fields` branch of a [`TypeOf`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeOfWhen {
    /// The object type the branch applies to.
    pub object: String,
    /// The fields selected for that type.
    pub fields: Vec<FieldPath>,
}

/// A dotted field path: `Name`, `Account.Name`, `Account.Owner.Name`, `Foo__r.Bar__c`.
///
/// All segments but the last are relationship names; the last is the field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    /// The segments, in order, spelled as written.
    pub segments: Vec<String>,
}

impl FieldPath {
    /// A path from its segments.
    pub fn new<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Self {
        FieldPath {
            segments: segments.into_iter().map(Into::into).collect(),
        }
    }

    /// The last segment (the field itself).
    pub fn field(&self) -> &str {
        self.segments.last().map_or("", String::as_str)
    }

    /// The relationship segments before the field (empty for a plain field).
    pub fn relationships(&self) -> &[String] {
        match self.segments.split_last() {
            Some((_, rest)) => rest,
            None => &[],
        }
    }
}

/// A field path or a function call: what a select item, a condition's left side, a `GROUP BY` or
/// an `ORDER BY` item refers to.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A field path.
    Field(FieldPath),
    /// A function call (`COUNT(Id)`, `toLabel(Status)`, `CALENDAR_YEAR(CreatedDate)`).
    Call(FunctionCall),
}

/// A function call. Aggregates are calls too; see [`FunctionCall::aggregate`].
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionCall {
    /// The function name as written (`COUNT`, `toLabel`).
    pub name: String,
    /// The arguments, in order (empty for `COUNT()`).
    pub args: Vec<FunctionArg>,
}

/// One argument of a [`FunctionCall`].
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionArg {
    /// A field path or nested call (`FORMAT(MIN(CloseDate))`).
    Expr(Expr),
    /// A literal (`GEOLOCATION(37.7, -122.4)`, `DISTANCE(Loc__c, ..., 'mi')`).
    Value(Value),
}

/// The aggregate functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// `COUNT()` or `COUNT(f)`.
    Count,
    /// `COUNT_DISTINCT(f)`.
    CountDistinct,
    /// `SUM(f)`.
    Sum,
    /// `AVG(f)`.
    Avg,
    /// `MIN(f)`.
    Min,
    /// `MAX(f)`.
    Max,
}

impl FunctionCall {
    /// Which aggregate this call is, if it is one (names compared case-insensitively).
    pub fn aggregate(&self) -> Option<Aggregate> {
        let n = self.name.as_str();
        [
            ("COUNT", Aggregate::Count),
            ("COUNT_DISTINCT", Aggregate::CountDistinct),
            ("SUM", Aggregate::Sum),
            ("AVG", Aggregate::Avg),
            ("MIN", Aggregate::Min),
            ("MAX", Aggregate::Max),
        ]
        .into_iter()
        .find(|(name, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, a)| a)
    }

    /// True when this call is an aggregate function.
    pub fn is_aggregate(&self) -> bool {
        self.aggregate().is_some()
    }

    /// True for `COUNT()` with no argument.
    pub fn is_count_star(&self) -> bool {
        self.aggregate() == Some(Aggregate::Count) && self.args.is_empty()
    }
}

/// A `WHERE` or `HAVING` condition.
///
/// `And`/`Or` hold two or more operands; a parenthesised group is not a node of its own, it only
/// shapes the tree (`(a AND b) AND c` is `And[And[a, b], c]`).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `lhs op value`, where `op` is one of `= != < <= > >=`.
    Compare {
        /// The field or call compared.
        lhs: Expr,
        /// The operator.
        op: CompareOp,
        /// The right-hand literal.
        value: Value,
    },
    /// `lhs LIKE 'pattern'`.
    Like {
        /// The field or call matched.
        lhs: Expr,
        /// The pattern (or an apex bind).
        pattern: LikeValue,
    },
    /// `lhs [NOT] IN (v1, v2, ...)`.
    InList {
        /// The field or call tested.
        lhs: Expr,
        /// True for `NOT IN`.
        negated: bool,
        /// The listed values.
        values: Vec<Value>,
    },
    /// `lhs [NOT] IN (SELECT f FROM ...)`: a semi-join (or anti-join when negated).
    InQuery {
        /// The field tested (usually an Id).
        lhs: Expr,
        /// True for `NOT IN`.
        negated: bool,
        /// The subquery selecting one id field.
        query: Box<Query>,
    },
    /// `lhs INCLUDES ('a;b', 'c')` or `lhs EXCLUDES (...)` on a multi-select picklist.
    Includes {
        /// The multi-select picklist field.
        lhs: Expr,
        /// True for `EXCLUDES`.
        excludes: bool,
        /// The values; each may hold several `;`-separated items that must all be present.
        values: Vec<Value>,
    },
    /// Two or more conditions that must all hold.
    And(Vec<Condition>),
    /// Two or more conditions of which one must hold.
    Or(Vec<Condition>),
    /// `NOT cond`.
    Not(Box<Condition>),
}

/// A comparison operator. `<>` is read as [`CompareOp::Ne`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=` (also written `<>`)
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// The operator's canonical text.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// The right side of a `LIKE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LikeValue {
    /// A pattern literal.
    Pattern(LikePattern),
    /// An apex bind (`:name`).
    Bind(String),
}

/// A `LIKE` pattern in escaped form: `%` matches any run, `_` one character, and a backslash
/// makes the next character (`%`, `_` or `\`) literal. Quote escapes (`\'`, `\n`...) are already
/// decoded. [`crate::like_match`] takes this form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LikePattern(String);

impl LikePattern {
    /// A pattern from its escaped form (`Ter\%%` = starts with `Ter%`).
    ///
    /// A backslash before anything but `%`, `_` or `\` matches that character literally.
    pub fn from_escaped(escaped: &str) -> Self {
        // Normalise so that a backslash is always followed by `%`, `_` or `\`: `\x` is `x`,
        // and a trailing lone backslash is a literal backslash.
        let mut out = String::with_capacity(escaped.len());
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some(n @ ('%' | '_' | '\\')) => {
                        out.push('\\');
                        out.push(n);
                    }
                    Some(n) => out.push(n),
                    None => out.push_str("\\\\"),
                }
            } else {
                out.push(c);
            }
        }
        LikePattern(out)
    }

    /// A pattern matching exactly `text` (its `%`, `_` and `\` escaped).
    pub fn exact(text: &str) -> Self {
        LikePattern(escape_like(text))
    }

    /// A pattern matching values that start with `text`.
    pub fn starts_with(text: &str) -> Self {
        LikePattern(format!("{}%", escape_like(text)))
    }

    /// A pattern matching values that end with `text`.
    pub fn ends_with(text: &str) -> Self {
        LikePattern(format!("%{}", escape_like(text)))
    }

    /// A pattern matching values that contain `text`.
    pub fn contains(text: &str) -> Self {
        LikePattern(format!("%{}%", escape_like(text)))
    }

    /// The escaped form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text this pattern matches if it has no wildcard (escapes removed), else `None`.
    pub fn literal_text(&self) -> Option<String> {
        let mut out = String::with_capacity(self.0.len());
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next().unwrap_or('\\')),
                '%' | '_' => return None,
                c => out.push(c),
            }
        }
        Some(out)
    }
}

/// Escapes `\`, `%` and `_` so that `text` is matched literally inside a LIKE pattern.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A literal value on the right side of a condition (or a function argument).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean(bool),
    /// An integer or decimal number, possibly negative.
    Number(Number),
    /// A currency amount: `USD5000`, `EUR10.5`.
    Currency {
        /// The ISO currency code as written (`USD`).
        code: String,
        /// The amount.
        amount: Number,
    },
    /// A string, with every escape decoded. (`\%` and `\_` keep their backslash here: they mean
    /// something only in a LIKE pattern.)
    String(String),
    /// A date: `2024-01-31`.
    Date(NaiveDate),
    /// A datetime with its offset: `2024-01-31T10:00:00Z`, `...+01:00`.
    DateTime(DateTime<FixedOffset>),
    /// A relative date literal: `TODAY`, `LAST_N_DAYS:30`.
    DateLiteral(DateLiteral),
    /// An apex bind variable, without its colon: `:acctId` is `Bind("acctId")`.
    Bind(String),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(Number::from(n))
    }
}

impl From<NaiveDate> for Value {
    fn from(d: NaiveDate) -> Self {
        Value::Date(d)
    }
}

impl From<DateTime<FixedOffset>> for Value {
    fn from(d: DateTime<FixedOffset>) -> Self {
        Value::DateTime(d)
    }
}

impl From<DateTime<chrono::Utc>> for Value {
    fn from(d: DateTime<chrono::Utc>) -> Self {
        Value::DateTime(d.fixed_offset())
    }
}

impl From<DateLiteral> for Value {
    fn from(d: DateLiteral) -> Self {
        Value::DateLiteral(d)
    }
}

/// A number kept as its exact text (`-12`, `3.50`), so no precision is lost.
///
/// The text always matches `-?[0-9]+(\.[0-9]+)?`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number(String);

impl Number {
    /// Parses `text` as a SOQL number (`-?digits[.digits]`), or `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (digits(int) && frac.is_none_or(digits)).then(|| Number(text.to_owned()))
    }

    /// A number from a finite float, or `None` for NaN and infinities.
    pub fn from_f64(f: f64) -> Option<Self> {
        if !f.is_finite() {
            return None;
        }
        Number::parse(&format!("{f}"))
    }

    /// The exact text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the text has no decimal point.
    pub fn is_integer(&self) -> bool {
        !self.0.contains('.')
    }

    /// The value as an integer, if it is one and fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// The value as a float (nearest).
    pub fn as_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Self {
        Number(n.to_string())
    }
}

/// A relative date literal. Its range for a given "now" comes from [`DateLiteral::range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateLiteral {
    /// `YESTERDAY`
    Yesterday,
    /// `TODAY`
    Today,
    /// `TOMORROW`
    Tomorrow,
    /// `LAST_90_DAYS`: today and the 90 days before it.
    Last90Days,
    /// `NEXT_90_DAYS`: the 90 days after today.
    Next90Days,
    /// `THIS_WEEK`, `THIS_MONTH`, `THIS_QUARTER`, `THIS_YEAR`, `THIS_FISCAL_QUARTER`, `THIS_FISCAL_YEAR`.
    This(Period),
    /// `LAST_WEEK` ... `LAST_FISCAL_YEAR`: the period before the current one.
    Last(Period),
    /// `NEXT_WEEK` ... `NEXT_FISCAL_YEAR`: the period after the current one.
    Next(Period),
    /// `LAST_N_DAYS:n`, `LAST_N_WEEKS:n` ...: the n units before now (days include today).
    LastN(Unit, u32),
    /// `NEXT_N_DAYS:n`, `NEXT_N_WEEKS:n` ...: the n units after the current one.
    NextN(Unit, u32),
    /// `N_DAYS_AGO:n`, `N_WEEKS_AGO:n` ...: the single unit n units before the current one.
    NAgo(Unit, u32),
}

/// A calendar period named by `THIS_`/`LAST_`/`NEXT_` date literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// A week (Sunday to Saturday).
    Week,
    /// A calendar month.
    Month,
    /// A calendar quarter.
    Quarter,
    /// A calendar year.
    Year,
    /// A fiscal quarter (here the same as a calendar quarter).
    FiscalQuarter,
    /// A fiscal year (here the same as a calendar year).
    FiscalYear,
}

/// The unit of an `_N_` date literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Days.
    Days,
    /// Weeks.
    Weeks,
    /// Months.
    Months,
    /// Quarters.
    Quarters,
    /// Years.
    Years,
    /// Fiscal quarters.
    FiscalQuarters,
    /// Fiscal years.
    FiscalYears,
}

/// The `WITH` clause of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithClause {
    /// `WITH SECURITY_ENFORCED`.
    SecurityEnforced,
    /// `WITH USER_MODE`.
    UserMode,
    /// `WITH SYSTEM_MODE`.
    SystemMode,
    /// `WITH DATA CATEGORY filter [AND filter ...]`.
    DataCategory(Vec<DataCategoryFilter>),
}

/// One filter of `WITH DATA CATEGORY`: `Geography__c AT (usa__c, uk__c)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataCategoryFilter {
    /// The category group.
    pub group: String,
    /// How the categories select.
    pub selector: CategorySelector,
    /// The categories (one or more).
    pub categories: Vec<String>,
}

/// The selector of a [`DataCategoryFilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CategorySelector {
    /// `AT`
    At,
    /// `ABOVE`
    Above,
    /// `BELOW`
    Below,
    /// `ABOVE_OR_BELOW`
    AboveOrBelow,
}

/// The `GROUP BY` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBy {
    /// Plain, `ROLLUP(...)` or `CUBE(...)`.
    pub kind: GroupKind,
    /// The grouped fields or calls.
    pub items: Vec<Expr>,
}

/// The kind of a [`GroupBy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// `GROUP BY a, b`.
    Plain,
    /// `GROUP BY ROLLUP(a, b)`.
    Rollup,
    /// `GROUP BY CUBE(a, b)`.
    Cube,
}

/// One `ORDER BY` item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    /// The field or call sorted on.
    pub expr: Expr,
    /// `ASC`/`DESC` if written (ascending when absent).
    pub direction: Option<Direction>,
    /// `NULLS FIRST`/`NULLS LAST` if written (first when ascending, last when descending, when absent).
    pub nulls: Option<Nulls>,
}

impl OrderItem {
    /// True when the order is descending.
    pub fn is_descending(&self) -> bool {
        self.direction == Some(Direction::Desc)
    }

    /// True when nulls sort first, with Salesforce's default (first when ascending).
    pub fn nulls_first(&self) -> bool {
        match self.nulls {
            Some(n) => n == Nulls::First,
            None => !self.is_descending(),
        }
    }
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `ASC`
    Asc,
    /// `DESC`
    Desc,
}

/// Where nulls sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    /// `NULLS FIRST`
    First,
    /// `NULLS LAST`
    Last,
}

/// `FOR VIEW | REFERENCE | UPDATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForClause {
    /// `FOR VIEW`
    View,
    /// `FOR REFERENCE`
    Reference,
    /// `FOR UPDATE`
    Update,
}

/// `UPDATE TRACKING | VIEWSTAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateClause {
    /// `UPDATE TRACKING`
    Tracking,
    /// `UPDATE VIEWSTAT`
    Viewstat,
}

/// A SOSL search: `FIND {term} [IN ... FIELDS] [RETURNING ...] [WITH ...] [LIMIT n]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// The parsed search term.
    pub term: SearchExpr,
    /// `IN ALL|NAME|EMAIL|PHONE|SIDEBAR FIELDS` (all fields when absent).
    pub in_fields: Option<SearchGroup>,
    /// The `RETURNING` objects, in order (empty when there is none).
    pub returning: Vec<Returning>,
    /// The `WITH` clauses, in order.
    pub with: Vec<SearchWith>,
    /// `LIMIT n` over all objects.
    pub limit: Option<u64>,
    /// `UPDATE TRACKING | VIEWSTAT`.
    pub update: Option<UpdateClause>,
}

/// Which fields a SOSL search looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchGroup {
    /// `IN ALL FIELDS`
    All,
    /// `IN NAME FIELDS`
    Name,
    /// `IN EMAIL FIELDS`
    Email,
    /// `IN PHONE FIELDS`
    Phone,
    /// `IN SIDEBAR FIELDS`
    Sidebar,
}

/// One object of `RETURNING`: `Contact(Id, Name WHERE ... ORDER BY ... LIMIT n OFFSET n)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Returning {
    /// The object name.
    pub object: String,
    /// The fields (empty: only `Id` is returned).
    pub fields: Vec<SelectItem>,
    /// The `WHERE` condition.
    pub filter: Option<Condition>,
    /// The `ORDER BY` items.
    pub order_by: Vec<OrderItem>,
    /// `LIMIT n` for this object.
    pub limit: Option<u64>,
    /// `OFFSET n` for this object.
    pub offset: Option<u64>,
}

impl Returning {
    /// An object returned with `fields` and no other clause.
    pub fn new(object: impl Into<String>, fields: Vec<SelectItem>) -> Self {
        Returning {
            object: object.into(),
            fields,
            filter: None,
            order_by: Vec::new(),
            limit: None,
            offset: None,
        }
    }
}

/// A SOSL `WITH` clause: `WITH DIVISION = 'x'`, `WITH HIGHLIGHT`, `WITH SNIPPET (target_length=120)`,
/// `WITH NETWORK IN ('a','b')`, `WITH DATA CATEGORY ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchWith {
    /// The clause name as written (`DIVISION`, `HIGHLIGHT`, `SPELL_CORRECTION`, `PricebookId`).
    pub name: String,
    /// What follows the name.
    pub arg: SearchWithArg,
}

/// The argument of a [`SearchWith`].
#[derive(Debug, Clone, PartialEq)]
pub enum SearchWithArg {
    /// Nothing: `WITH HIGHLIGHT`.
    None,
    /// `= value`.
    Eq(Value),
    /// `IN (values)`.
    In(Vec<Value>),
    /// `(name = value, ...)`, as in `WITH SNIPPET (target_length = 120)`.
    Params(Vec<(String, Value)>),
    /// The filters of `WITH DATA CATEGORY`.
    DataCategory(Vec<DataCategoryFilter>),
}

/// A parsed SOSL search term.
///
/// Operator precedence, tightest first: grouping, `AND NOT`, `AND` (also written as plain
/// juxtaposition), `OR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchExpr {
    /// A single word, possibly with `*`/`?` wildcards.
    Word(SearchWord),
    /// A quoted phrase: its words must appear together in order. Holds the decoded text.
    Phrase(String),
    /// Two or more terms that must all match.
    And(Vec<SearchExpr>),
    /// Two or more terms of which one must match.
    Or(Vec<SearchExpr>),
    /// `left AND NOT right`: `left` matches and `right` does not.
    AndNot(Box<SearchExpr>, Box<SearchExpr>),
}

/// A search word: literal text and wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchWord {
    /// The pieces, in order; adjacent text is always merged into one piece.
    pub pieces: Vec<WordPiece>,
}

/// A piece of a [`SearchWord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordPiece {
    /// Literal text (escapes decoded).
    Text(String),
    /// `*`: zero or more characters.
    Any,
    /// `?`: exactly one character.
    One,
}

impl SearchWord {
    /// A word matching exactly `text` (no wildcard).
    pub fn literal(text: impl Into<String>) -> Self {
        SearchWord {
            pieces: vec![WordPiece::Text(text.into())],
        }
    }

    /// True when the word has a `*` or `?`.
    pub fn has_wildcard(&self) -> bool {
        self.pieces.iter().any(|p| !matches!(p, WordPiece::Text(_)))
    }

    /// The word's text when it has no wildcard.
    pub fn text(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [WordPiece::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// True when `token` matches this word (case-insensitive, wildcards applied to the whole token).
    pub fn matches(&self, token: &str) -> bool {
        let pat: Vec<crate::like::PatChar> = self
            .pieces
            .iter()
            .flat_map(|p| match p {
                WordPiece::Text(t) => t.chars().map(crate::like::PatChar::Lit).collect(),
                WordPiece::Any => vec![crate::like::PatChar::Any],
                WordPiece::One => vec![crate::like::PatChar::One],
            })
            .collect();
        crate::like::glob_match(&pat, token)
    }
}
