//! Reading the members of one JSON object, each check failing with the member's JSON path and
//! a sentence a client can act on.
//!
//! The body is walked as a `serde_json::Value` rather than deserialized with serde derive,
//! because serde's messages ("invalid type: integer `-5`, expected u64 at line 1 column 40")
//! neither name the field by its path nor say what the API expects, and they change between
//! serde versions. Here every message is written once, in this file, and is part of the API.
//!
//! Nothing here depends on the order in which `serde_json` iterates an object: members are
//! looked up by name, and of several unknown members the alphabetically first is reported.

use serde_json::{Map, Value};

use super::catalog::CodeRule;

/// The most characters an ID (an aggregate ID, or a field naming another aggregate) may have.
pub const MAX_ID_CHARS: usize = 200;

/// How many characters of a client's value a message repeats before cutting it short.
const MAX_ECHO_CHARS: usize = 60;

/// One problem of a well-formed body: the JSON path of the member and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Dotted JSON path, e.g. `command.amount`.
    pub field: String,
    /// What is wrong, without the path, e.g. `missing`.
    pub problem: String,
}

/// What a check of one value returns: the value in its typed form, or the problem without the
/// path (the caller knows the path).
type Check<T> = Result<T, String>;

/// The members of one JSON object, read under a path prefix (`""` for the body itself,
/// `"command"` for the command object).
pub struct Fields<'a> {
    prefix: &'static str,
    object: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// Reads `object`, whose members' paths start with `prefix`.
    pub fn new(prefix: &'static str, object: &'a Map<String, Value>) -> Self {
        Self { prefix, object }
    }

    /// The JSON path of member `name`.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// A problem with member `name`.
    pub fn invalid(&self, name: &str, problem: impl Into<String>) -> Invalid {
        Invalid {
            field: self.path(name),
            problem: problem.into(),
        }
    }

    /// Refuses the first member (alphabetically) that is not in `known`; `owner` completes the
    /// message with what the object does have, e.g. `Deposit has amount, reference`.
    pub fn reject_unknown(&self, known: &[&str], owner: &str) -> Result<(), Invalid> {
        let unknown = self
            .object
            .keys()
            .filter(|key| !known.contains(&key.as_str()))
            .min();
        match unknown {
            None => Ok(()),
            Some(key) => Err(self.invalid(&echo(key), format!("unknown field; {owner}"))),
        }
    }

    /// Member `name`, or `None` when it is absent or `null`.
    pub fn optional(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|value| !value.is_null())
    }

    /// Member `name`, refused when absent (a `null` is returned, for the type check to refuse).
    pub fn required(&self, name: &str) -> Result<&'a Value, Invalid> {
        self.object
            .get(name)
            .ok_or_else(|| self.invalid(name, "missing"))
    }

    /// Runs `check` on required member `name`, adding the path to its problem.
    fn check<T>(
        &self,
        name: &str,
        check: impl FnOnce(&'a Value) -> Check<T>,
    ) -> Result<T, Invalid> {
        check(self.required(name)?).map_err(|problem| self.invalid(name, problem))
    }

    /// A required ID naming an aggregate: a non-blank string of at most [`MAX_ID_CHARS`].
    pub fn id(&self, name: &str) -> Result<String, Invalid> {
        self.check(name, |value| {
            let id = string(value)?;
            check_id(id)?;
            Ok(id.to_owned())
        })
    }

    /// A required string with no rule of its own (a reason, a name): the domain judges it.
    pub fn text(&self, name: &str) -> Result<String, Invalid> {
        self.check(name, |value| string(value).map(str::to_owned))
    }

    /// An optional string: absent and `null` are both `None`.
    pub fn optional_text(&self, name: &str) -> Result<Option<String>, Invalid> {
        match self.optional(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(self.invalid(
                name,
                format!("expected a string or null, got {}", describe(other)),
            )),
        }
    }

    /// A required amount or quantity: a positive whole number that fits in 64 bits.
    pub fn amount(&self, name: &str) -> Result<i64, Invalid> {
        self.check(name, amount)
    }

    /// A required code of `rule.letters` upper-case ASCII letters (a currency, a country).
    pub fn code(&self, name: &str, rule: &CodeRule) -> Result<String, Invalid> {
        self.check(name, |value| {
            let is_code = |code: &&str| {
                code.len() == rule.letters && code.bytes().all(|byte| byte.is_ascii_uppercase())
            };
            let code = string(value).ok().filter(is_code);
            code.map(str::to_owned).ok_or_else(|| {
                format!(
                    "expected {} such as {:?}, got {}",
                    rule.what,
                    rule.example,
                    describe(value)
                )
            })
        })
    }

    /// A required e-mail address, as sent: an ID that has the shape of an address.
    pub fn email(&self, name: &str) -> Result<String, Invalid> {
        self.check(name, |value| {
            let email = string(value)?;
            check_id(email)?;
            check_email(email)?;
            Ok(email.to_owned())
        })
    }

    /// A required string that is one of `symbols` (an Avro enum's, say), returned as the
    /// symbol.
    pub fn one_of(
        &self,
        name: &str,
        symbols: &'static [&'static str],
    ) -> Result<&'static str, Invalid> {
        self.check(name, |value| {
            let found = value
                .as_str()
                .and_then(|text| symbols.iter().find(|symbol| **symbol == text));
            found.copied().ok_or_else(|| {
                format!(
                    "expected {}, got {}",
                    alternatives(symbols),
                    describe(value)
                )
            })
        })
    }

    /// A required boolean.
    pub fn flag(&self, name: &str) -> Result<bool, Invalid> {
        self.check(name, |value| {
            value
                .as_bool()
                .ok_or_else(|| format!("expected true or false, got {}", describe(value)))
        })
    }
}

/// The value as a string, or the problem of a value that is not one.
pub(super) fn string(value: &Value) -> Check<&str> {
    value
        .as_str()
        .ok_or_else(|| format!("expected a string, got {}", describe(value)))
}

/// Refuses a blank ID and one longer than [`MAX_ID_CHARS`].
pub(super) fn check_id(id: &str) -> Check<()> {
    let chars = id.chars().count();
    if id.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else if chars > MAX_ID_CHARS {
        Err(format!(
            "is {chars} characters long; the most is {MAX_ID_CHARS}"
        ))
    } else {
        Ok(())
    }
}

/// Refuses text that does not have the shape of an e-mail address: exactly one `@`, with
/// text on both sides. Whether the mailbox exists is nobody's business here.
pub(super) fn check_email(email: &str) -> Check<()> {
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{} is not an e-mail address; expected exactly one '@' with text on both sides",
            describe(&Value::String(email.to_owned()))
        )),
    }
}

/// The amount in `value`, or why it is not one.
fn amount(value: &Value) -> Check<i64> {
    match (value.as_i64(), value.as_u64()) {
        (Some(amount), _) if amount > 0 => Ok(amount),
        // A whole number beyond i64: positive, so say what is wrong with it.
        (None, Some(_)) => Err(format!(
            "{} is too large; the most is {}",
            describe(value),
            i64::MAX
        )),
        _ => Err(format!(
            "expected a positive whole number, got {}",
            describe(value)
        )),
    }
}

/// `"A"`, `"A" or "B"`, `"A", "B" or "C"`: the symbols a value may take, for messages.
fn alternatives(symbols: &[&str]) -> String {
    let quoted: Vec<String> = symbols.iter().map(|symbol| format!("{symbol:?}")).collect();
    match quoted.split_last() {
        None => "nothing".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The client's value as compact JSON, cut short if long, for repeating it in a message.
pub(super) fn describe(value: &Value) -> String {
    echo(&value.to_string())
}

/// `text`, cut to [`MAX_ECHO_CHARS`] characters with an ellipsis when longer.
pub(super) fn echo(text: &str) -> String {
    if text.chars().count() <= MAX_ECHO_CHARS {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX_ECHO_CHARS).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(object) => object,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn paths_are_dotted_under_a_prefix_and_bare_at_the_top() {
        let empty = Map::new();
        assert_eq!(Fields::new("", &empty).path("id"), "id");
        assert_eq!(
            Fields::new("command", &empty).path("amount"),
            "command.amount"
        );
    }

    #[test]
    fn amounts_must_be_positive_whole_numbers_within_64_bits() {
        let members = object(json!({
            "ok": 5, "zero": 0, "negative": -5, "fraction": 1.5, "text": "5",
            "huge": 18_446_744_073_709_551_615_u64, "max": i64::MAX,
        }));
        let fields = Fields::new("command", &members);
        assert_eq!(fields.amount("ok"), Ok(5));
        assert_eq!(fields.amount("max"), Ok(i64::MAX));
        let problem = |name: &str| fields.amount(name).unwrap_err().problem;
        assert_eq!(problem("zero"), "expected a positive whole number, got 0");
        assert_eq!(
            problem("fraction"),
            "expected a positive whole number, got 1.5"
        );
        assert_eq!(
            problem("text"),
            "expected a positive whole number, got \"5\""
        );
        assert_eq!(
            problem("huge"),
            "18446744073709551615 is too large; the most is 9223372036854775807"
        );
        assert_eq!(problem("absent"), "missing");
    }

    #[test]
    fn ids_are_non_blank_and_at_most_200_characters() {
        let long = "é".repeat(MAX_ID_CHARS);
        let too_long = "x".repeat(MAX_ID_CHARS + 1);
        let members = object(json!({"long": long, "too_long": too_long, "blank": "  "}));
        let fields = Fields::new("", &members);
        assert_eq!(fields.id("long"), Ok(long));
        assert_eq!(
            fields.id("too_long").unwrap_err().problem,
            "is 201 characters long; the most is 200"
        );
        assert_eq!(fields.id("blank").unwrap_err().problem, "must not be empty");
    }

    #[test]
    fn e_mail_addresses_need_exactly_one_at_sign_with_text_on_both_sides() {
        assert_eq!(check_email("ann@example.org"), Ok(()));
        for bad in ["ann.example.org", "@example.org", "ann@", "ann@b@c", "@"] {
            assert!(check_email(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            check_email("ann@b@c").unwrap_err(),
            "\"ann@b@c\" is not an e-mail address; expected exactly one '@' with text on both sides"
        );
    }

    #[test]
    fn null_is_absent_for_optional_members_and_a_wrong_type_for_required_ones() {
        let members = object(json!({"reference": null, "reason": null}));
        let fields = Fields::new("command", &members);
        assert_eq!(fields.optional_text("reference"), Ok(None));
        assert_eq!(fields.optional_text("absent"), Ok(None));
        assert_eq!(
            fields.text("reason").unwrap_err().problem,
            "expected a string, got null"
        );
    }

    #[test]
    fn the_alphabetically_first_unknown_member_is_reported() {
        let members = object(json!({"zeta": 1, "by": 1, "beta": 2}));
        let error = Fields::new("command", &members)
            .reject_unknown(&["by"], "Take has by")
            .unwrap_err();
        assert_eq!(error.field, "command.beta");
        assert_eq!(error.problem, "unknown field; Take has by");
    }

    #[test]
    fn codes_have_the_rules_number_of_upper_case_letters() {
        const RULE: CodeRule = CodeRule {
            letters: 2,
            what: "a two-letter country code",
            example: "NL",
        };
        let members = object(json!({"ok": "DE", "lower": "de", "long": "DEU", "number": 12}));
        let fields = Fields::new("command", &members);
        assert_eq!(fields.code("ok", &RULE), Ok("DE".to_owned()));
        for bad in ["lower", "long", "number"] {
            let problem = fields.code(bad, &RULE).unwrap_err().problem;
            assert!(
                problem.starts_with("expected a two-letter country code such as \"NL\", got "),
                "{bad}: {problem}"
            );
        }
    }

    #[test]
    fn a_symbol_must_be_one_of_the_listed_ones() {
        const SYMBOLS: &[&str] = &["RED", "GREEN", "BLUE"];
        let members = object(json!({"ok": "GREEN", "bad": "green"}));
        let fields = Fields::new("command", &members);
        assert_eq!(fields.one_of("ok", SYMBOLS), Ok("GREEN"));
        assert_eq!(
            fields.one_of("bad", SYMBOLS).unwrap_err().problem,
            "expected \"RED\", \"GREEN\" or \"BLUE\", got \"green\""
        );
        assert_eq!(alternatives(&["A", "B"]), "\"A\" or \"B\"");
    }

    #[test]
    fn long_values_are_cut_short_when_repeated() {
        let long = "a".repeat(100);
        let described = describe(&Value::String(long));
        assert_eq!(described.chars().count(), MAX_ECHO_CHARS + 1);
        assert!(described.starts_with("\"aaa") && described.ends_with('…'));
    }
}
