//! The math filters (`plus`, `minus`, `times`, `divided_by`, `modulo`, `abs`, `round`, `ceil`,
//! `floor`) and `slice`, registered under the standard names in place of the standard
//! library's, which panic or wrap on `i64` overflow (`divided_by: -1` of the smallest integer,
//! `abs` of it, `plus` past the largest) and turn huge or non-finite floats into wrong
//! integers. Here every integer operation is checked and every float result must be finite
//! and, where it becomes an integer, in range: anything else is a template error naming the
//! filter, which a model can read and fix.

use std::fmt;

use liquid_core::parser::{FilterArguments, ParameterReflection};
use liquid_core::{
    Error, Expression, Filter, FilterReflection, ParseFilter, Result, Runtime, Value, ValueView,
};

/// One checked filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Plus,
    Minus,
    Times,
    DividedBy,
    Modulo,
    Abs,
    Round,
    Ceil,
    Floor,
    Slice,
}

impl Op {
    /// Every checked filter, for registering.
    pub(crate) const ALL: [Op; 10] = [
        Op::Plus,
        Op::Minus,
        Op::Times,
        Op::DividedBy,
        Op::Modulo,
        Op::Abs,
        Op::Round,
        Op::Ceil,
        Op::Floor,
        Op::Slice,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::Plus => "plus",
            Op::Minus => "minus",
            Op::Times => "times",
            Op::DividedBy => "divided_by",
            Op::Modulo => "modulo",
            Op::Abs => "abs",
            Op::Round => "round",
            Op::Ceil => "ceil",
            Op::Floor => "floor",
            Op::Slice => "slice",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Op::Plus => "Adds a number; an error when the result is out of range.",
            Op::Minus => "Subtracts a number; an error when the result is out of range.",
            Op::Times => "Multiplies by a number; an error when the result is out of range.",
            Op::DividedBy => "Divides by a number (whole numbers give a whole number).",
            Op::Modulo => "The remainder of a division.",
            Op::Abs => "The absolute value.",
            Op::Round => "Rounds to the nearest whole number, or to a number of decimal places.",
            Op::Ceil => "Rounds up to a whole number.",
            Op::Floor => "Rounds down to a whole number.",
            Op::Slice => "The characters (or items) from an offset, one by default.",
        }
    }

    /// (required, optional) positional parameters.
    fn arity(self) -> (usize, usize) {
        match self {
            Op::Plus | Op::Minus | Op::Times | Op::DividedBy | Op::Modulo => (1, 0),
            Op::Abs | Op::Ceil | Op::Floor => (0, 0),
            Op::Round => (0, 1),
            Op::Slice => (1, 1),
        }
    }

    fn parameters(self) -> &'static [ParameterReflection] {
        const OPERAND: &[ParameterReflection] = &[ParameterReflection {
            name: "operand",
            description: "A number.",
            is_optional: false,
        }];
        const PLACES: &[ParameterReflection] = &[ParameterReflection {
            name: "decimal_places",
            description: "Decimal places (0 by default).",
            is_optional: true,
        }];
        const SLICE: &[ParameterReflection] = &[
            ParameterReflection {
                name: "offset",
                description: "Where to start; negative counts from the end.",
                is_optional: false,
            },
            ParameterReflection {
                name: "length",
                description: "How many (1 by default).",
                is_optional: true,
            },
        ];
        match self.arity() {
            (1, 0) => OPERAND,
            (0, 1) => PLACES,
            (1, 1) => SLICE,
            _ => &[],
        }
    }
}

/// The parser side of a checked filter: registered under its standard name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked(pub(crate) Op);

impl FilterReflection for Checked {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn description(&self) -> &str {
        self.0.description()
    }

    fn positional_parameters(&self) -> &'static [ParameterReflection] {
        self.0.parameters()
    }

    fn keyword_parameters(&self) -> &'static [ParameterReflection] {
        &[]
    }
}

impl ParseFilter for Checked {
    fn parse(&self, mut arguments: FilterArguments) -> Result<Box<dyn Filter>> {
        let op = self.0;
        let args: Vec<Expression> = arguments.positional.by_ref().collect();
        let (required, optional) = op.arity();
        if arguments.keyword.next().is_some() {
            return Err(Error::with_msg(format!(
                "{} takes no named arguments",
                op.name()
            )));
        }
        if args.len() < required || args.len() > required + optional {
            return Err(Error::with_msg(match (required, optional) {
                (0, 0) => format!("{} takes no argument", op.name()),
                (1, 0) => format!("{} takes one number (e.g. {}: 2)", op.name(), op.name()),
                _ => format!("{}: wrong number of arguments", op.name()),
            }));
        }
        Ok(Box::new(MathFilter { op, args }))
    }

    fn reflection(&self) -> &dyn FilterReflection {
        self
    }
}

#[derive(Debug)]
struct MathFilter {
    op: Op,
    args: Vec<Expression>,
}

impl fmt::Display for MathFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.name())?;
        for (i, a) in self.args.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { ", " })?;
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

/// A number a filter reads: whole when it can be read as one.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

fn number(op: Op, what: &str, v: &dyn ValueView) -> Result<Num> {
    let s = v
        .as_scalar()
        .ok_or_else(|| Error::with_msg(format!("{}: the {what} is not a number", op.name())))?;
    if let Some(i) = s.to_integer() {
        return Ok(Num::Int(i));
    }
    match s.to_float() {
        Some(f) if f.is_finite() => Ok(Num::Float(f)),
        _ => Err(Error::with_msg(format!(
            "{}: the {what} is not a number",
            op.name()
        ))),
    }
}

fn float(n: Num) -> f64 {
    match n {
        // NB: may round a large integer to the nearest float, as Liquid does.
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

fn out_of_range(op: Op) -> Error {
    Error::with_msg(format!(
        "{}: the result is out of range (whole numbers go from {} to {})",
        op.name(),
        i64::MIN,
        i64::MAX
    ))
}

/// A finite float result.
fn finite(op: Op, f: f64) -> Result<Value> {
    if f.is_finite() {
        Ok(Value::scalar(f))
    } else {
        Err(out_of_range(op))
    }
}

/// A float rounded to a whole number, when it is one in range.
fn whole(op: Op, f: f64) -> Result<Value> {
    // NB: i64::MAX as f64 rounds up to 2^63, which is out of range; -2^63 is in range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_finite() && (-LIMIT..LIMIT).contains(&f) {
        Ok(Value::scalar(f as i64))
    } else {
        Err(out_of_range(op))
    }
}

impl Filter for MathFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let op = self.op;
        let mut args = Vec::with_capacity(self.args.len());
        for a in &self.args {
            args.push(a.evaluate(runtime)?.into_owned());
        }
        if op == Op::Slice {
            return slice(input, &args);
        }
        let x = number(op, "input", input)?;
        match op {
            Op::Abs => match x {
                Num::Int(i) => i
                    .checked_abs()
                    .map(Value::scalar)
                    .ok_or_else(|| out_of_range(op)),
                Num::Float(f) => finite(op, f.abs()),
            },
            Op::Ceil => whole(op, float(x).ceil()),
            Op::Floor => whole(op, float(x).floor()),
            Op::Round => {
                let places = match args.first() {
                    None => 0,
                    Some(p) => match number(op, "number of decimal places", p)? {
                        Num::Int(i) => i,
                        Num::Float(_) => {
                            return Err(Error::with_msg(
                                "round: the number of decimal places must be a whole number",
                            ));
                        }
                    },
                };
                if places <= 0 {
                    return whole(op, float(x).round());
                }
                let f = float(x);
                let m = 10f64.powi(i32::try_from(places.min(400)).unwrap_or(400));
                // NB: when 10^places (or f times it) is too large for an f64, f has no digits
                // that far after the point: it is its own rounding.
                if !m.is_finite() || !(f * m).is_finite() {
                    return finite(op, f);
                }
                finite(op, (f * m).round() / m)
            }
            Op::Plus | Op::Minus | Op::Times | Op::DividedBy | Op::Modulo => {
                let Some(arg) = args.first() else {
                    return Err(Error::with_msg(format!("{} takes one number", op.name())));
                };
                let y = number(op, "operand", arg)?;
                binary(op, x, y)
            }
            Op::Slice => slice(input, &args),
        }
    }
}

fn binary(op: Op, x: Num, y: Num) -> Result<Value> {
    let zero = match y {
        Num::Int(i) => i == 0,
        Num::Float(f) => f == 0.0,
    };
    if zero && matches!(op, Op::DividedBy | Op::Modulo) {
        return Err(Error::with_msg(format!(
            "{}: cannot divide by zero",
            op.name()
        )));
    }
    if let (Num::Int(a), Num::Int(b)) = (x, y) {
        let r = match op {
            Op::Plus => a.checked_add(b),
            Op::Minus => a.checked_sub(b),
            Op::Times => a.checked_mul(b),
            Op::DividedBy => a.checked_div(b),
            Op::Modulo => a.checked_rem(b),
            _ => None,
        };
        return r.map(Value::scalar).ok_or_else(|| out_of_range(op));
    }
    let (a, b) = (float(x), float(y));
    let r = match op {
        Op::Plus => a + b,
        Op::Minus => a - b,
        Op::Times => a * b,
        Op::DividedBy => a / b,
        Op::Modulo => a % b,
        _ => f64::NAN,
    };
    finite(op, r)
}

/// `slice: offset[, length]` of a string (by characters) or an array, with no arithmetic that
/// can overflow.
fn slice(input: &dyn ValueView, args: &[Value]) -> Result<Value> {
    let int = |v: Option<&Value>, default: i64, what: &str| -> Result<i64> {
        match v {
            None => Ok(default),
            Some(v) => v.as_scalar().and_then(|s| s.to_integer()).ok_or_else(|| {
                Error::with_msg(format!("slice: the {what} must be a whole number"))
            }),
        }
    };
    let offset = int(args.first(), 0, "offset")?;
    let length = int(args.get(1), 1, "length")?;
    if length < 1 {
        return Err(Error::with_msg("slice: the length must be 1 or more"));
    }
    let window = |len: usize| -> (usize, usize) {
        let len_i = i64::try_from(len).unwrap_or(i64::MAX);
        let start = if offset < 0 {
            len_i.saturating_add(offset).max(0)
        } else {
            offset.min(len_i)
        };
        let start = usize::try_from(start).unwrap_or(len);
        let take = usize::try_from(length).unwrap_or(usize::MAX);
        (start, take)
    };
    if let Some(a) = input.as_array() {
        let (start, take) = window(usize::try_from(a.size()).unwrap_or(0));
        return Ok(Value::array(
            a.values().skip(start).take(take).map(ValueView::to_value),
        ));
    }
    let s = input.to_kstr();
    let (start, take) = window(s.chars().count());
    Ok(Value::scalar(
        s.chars().skip(start).take(take).collect::<String>(),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value as Json, json};

    use crate::template::Templating;

    fn eval(expr: &str) -> Result<String, String> {
        let ctx: Map<String, Json> = serde_json::from_value(json!({
            "caller_phone": "15551234567",
            "n": 7,
            "big": i64::MAX,
            "small": i64::MIN,
            "name": "Jöhnsön",
            "list": [1, 2, 3]
        }))
        .expect("ctx");
        Templating::new()
            .eval(expr, &ctx)
            .map(|v| match v {
                Some(Json::String(s)) => s,
                other => format!("{other:?}"),
            })
            .map_err(|e| e.message.to_string())
    }

    #[test]
    fn math_filters_compute_or_say_which_filter_overflowed() {
        #[rustfmt::skip]
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("n | plus: 2", Ok("9")),
            ("n | minus: 10", Ok("-3")),
            ("n | times: 3", Ok("21")),
            ("n | divided_by: 2", Ok("3")),
            ("n | divided_by: 2.0", Ok("3.5")),
            ("n | modulo: 4", Ok("3")),
            ("n | plus: 0.5 | round", Ok("8")),
            ("n | divided_by: 3.0 | round: 2", Ok("2.33")),
            ("n | divided_by: 3.0 | round: 400", Ok("2.3333333333333335")),
            ("n | divided_by: 3.0 | round: 9223372036854775807", Ok("2.3333333333333335")),
            ("n | divided_by: 2.0 | ceil", Ok("4")),
            ("n | divided_by: 2.0 | floor", Ok("3")),
            ("n | minus: 9 | abs", Ok("2")),
            ("name | slice: 1, 3", Ok("öhn")),
            ("name | slice: -2", Ok("ö")),
            ("name | slice: 9223372036854775807, 9223372036854775807", Ok("None")),
            ("name | slice: -9223372036854775808, 9223372036854775807", Ok("Jöhnsön")),
            ("caller_phone | minus: 15551234567 | minus: 9223372036854775807 | minus: 1 | divided_by: -1", Err("divided_by: the result is out of range")),
            ("small | divided_by: -1", Err("divided_by: the result is out of range")),
            ("small | modulo: -1", Err("modulo: the result is out of range")),
            ("small | abs", Err("abs: the result is out of range")),
            ("big | plus: 1", Err("plus: the result is out of range")),
            ("small | minus: 1", Err("minus: the result is out of range")),
            ("big | times: 2", Err("times: the result is out of range")),
            ("n | divided_by: 0", Err("divided_by: cannot divide by zero")),
            ("n | modulo: 0.0", Err("modulo: cannot divide by zero")),
            ("big | times: 10.0 | round", Err("round: the result is out of range")),
            ("big | times: 10.0 | ceil", Err("ceil: the result is out of range")),
            ("big | times: 10.0 | floor", Err("floor: the result is out of range")),
            ("name | plus: 1", Err("plus: the input is not a number")),
            ("n | plus: name", Err("plus: the operand is not a number")),
            ("n | plus", Err("plus takes one number")),
            ("name | slice: 1, 0", Err("slice: the length must be 1 or more")),
        ];
        let huge = format!("big{}", " | times: 9223372036854775807.0".repeat(20));
        assert!(
            eval(&huge).is_err_and(|e| e.contains("times: the result is out of range")),
            "an infinite float is refused"
        );
        for (expr, want) in cases {
            let got = eval(expr);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{expr}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{expr}: {g}"),
                _ => panic!("{expr}: want {want:?}, got {got:?}"),
            }
        }
    }

    /// A number or text a filter may be given.
    fn operand() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("9223372036854775807".to_owned()),
            Just("-9223372036854775808".to_owned()),
            Just("-1".to_owned()),
            Just("0".to_owned()),
            Just("0.0".to_owned()),
            Just("1".to_owned()),
            Just(format!("{}.0", "9".repeat(40))),
            Just("\"abc\"".to_owned()),
            Just("n".to_owned()),
            Just("big".to_owned()),
            Just("small".to_owned()),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| format!("{f:.3}")),
        ]
    }

    /// A filter, with its arguments.
    fn filter() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let names = prop_oneof![
            Just("plus"),
            Just("minus"),
            Just("times"),
            Just("divided_by"),
            Just("modulo"),
            Just("abs"),
            Just("round"),
            Just("ceil"),
            Just("floor"),
            Just("slice"),
            Just("at_least"),
            Just("at_most"),
            Just("truncate"),
            Just("truncatewords"),
            Just("size"),
            Just("default"),
            Just("append"),
            Just("url_decode"),
            Just("date"),
            Just("split"),
            Just("first"),
            Just("last"),
        ];
        (names, proptest::collection::vec(operand(), 0..3)).prop_map(|(f, args)| {
            if args.is_empty() {
                f.to_owned()
            } else {
                format!("{f}: {}", args.join(", "))
            }
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// Any chain of filters a model writes is a value or a template error, never a panic.
        #[test]
        fn any_filter_chain_is_a_value_or_an_error(
            root in proptest::prop_oneof![
                proptest::strategy::Just("caller_phone"),
                proptest::strategy::Just("n"),
                proptest::strategy::Just("big"),
                proptest::strategy::Just("small"),
                proptest::strategy::Just("name"),
                proptest::strategy::Just("list"),
            ],
            chain in proptest::collection::vec(filter(), 0..5),
        ) {
            let mut expr = root.to_owned();
            for f in &chain {
                expr.push_str(" | ");
                expr.push_str(f);
            }
            let _ = eval(&expr);
        }
    }
}
