//! The rules of `profile/edit`: which fields a customer may change, how each value is checked and
//! normalized, and the messages an integrator gets back.
//!
//! Every problem of a body is reported at once (the profile envelope carries a list of errors),
//! so an integrator fixes a form in one round trip. Uniqueness of `email` and `username` needs the
//! database and is left to the store; everything else is decided here.

use std::fmt;

use serde_json::{Map, Value};

/// The seed's answer to an edit that names no field.
pub const NO_USER_FIELD: &str = "No user field listed";

/// A field of the profile that `profile/edit` may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileField {
    FirstName,
    LastName,
    Username,
    Email,
    Phone,
    Language,
    Country,
    City,
    Address,
    Bio,
}

/// Shortest and longest username, in characters.
pub const USERNAME_LEN: (usize, usize) = (3, 32);
/// Fewest and most digits of a phone number (E.164 allows 15).
pub const PHONE_DIGITS: (usize, usize) = (7, 15);
/// Longest email address (RFC 5321 path limit) and local part.
pub const MAX_EMAIL_LEN: usize = 254;
const MAX_EMAIL_LOCAL_LEN: usize = 64;

impl ProfileField {
    /// In the seed's order.
    pub const ALL: [ProfileField; 10] = [
        ProfileField::FirstName,
        ProfileField::LastName,
        ProfileField::Username,
        ProfileField::Email,
        ProfileField::Phone,
        ProfileField::Language,
        ProfileField::Country,
        ProfileField::City,
        ProfileField::Address,
        ProfileField::Bio,
    ];

    /// The JSON name, which is also the column name in every store.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileField::FirstName => "first_name",
            ProfileField::LastName => "last_name",
            ProfileField::Username => "username",
            ProfileField::Email => "email",
            ProfileField::Phone => "phone",
            ProfileField::Language => "language",
            ProfileField::Country => "country",
            ProfileField::City => "city",
            ProfileField::Address => "address",
            ProfileField::Bio => "bio",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Longest accepted value, in characters.
    pub fn max_chars(self) -> usize {
        match self {
            ProfileField::FirstName | ProfileField::LastName | ProfileField::City => 100,
            ProfileField::Username => USERNAME_LEN.1,
            ProfileField::Email => MAX_EMAIL_LEN,
            ProfileField::Phone => 32,
            ProfileField::Language => 32,
            ProfileField::Country => 64,
            ProfileField::Address => 255,
            ProfileField::Bio => 1000,
        }
    }

    /// Whether a customer may clear the field. The email identifies the customer to the operator
    /// and is unique, so it can be changed but not removed.
    pub fn clearable(self) -> bool {
        self != ProfileField::Email
    }
}

impl fmt::Display for ProfileField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fields of `profile/me` that exist but only kassa or the operator set.
const READ_ONLY_FIELDS: [&str; 6] = ["id", "user_id", "verified", "created", "moderator", "chat_status"];

/// A checked edit: exactly the fields the client listed, in the seed's order, each with its
/// normalized new value (`None` clears the field).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    changes: Vec<(ProfileField, Option<String>)>,
}

impl ProfileChanges {
    pub fn iter(&self) -> impl Iterator<Item = (ProfileField, Option<&str>)> {
        self.changes.iter().map(|(field, value)| (*field, value.as_deref()))
    }

    pub fn get(&self, field: ProfileField) -> Option<Option<&str>> {
        self.changes.iter().find(|(f, _)| *f == field).map(|(_, v)| v.as_deref())
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Builds changes without the HTTP checks (operator tools, tests); values are still checked.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (ProfileField, Option<&'a str>)>,
    ) -> Result<Self, Vec<String>> {
        let mut object = Map::new();
        for (field, value) in pairs {
            object.insert(field.as_str().to_string(), value.map_or(Value::Null, |v| Value::String(v.to_string())));
        }
        parse_edit(&object)
    }
}

/// Checks the body of `profile/edit` (already parsed as a JSON object). Unknown and read-only
/// fields are refused by name rather than ignored: a typo must not look like a successful edit.
pub fn parse_edit(body: &Map<String, Value>) -> Result<ProfileChanges, Vec<String>> {
    let mut errors = Vec::new();
    for name in body.keys() {
        if ProfileField::parse(name).is_some() {
            continue;
        }
        let editable = ProfileField::ALL.map(ProfileField::as_str).join(", ");
        if READ_ONLY_FIELDS.contains(&name.as_str()) {
            errors.push(format!("{} cannot be edited; the fields that can be edited are {editable}", printable(name)));
        } else {
            errors.push(format!("Unknown field {}; the fields that can be edited are {editable}", printable(name)));
        }
    }
    let mut changes = Vec::new();
    for field in ProfileField::ALL {
        let Some(value) = body.get(field.as_str()) else { continue };
        match check_field(field, value) {
            Ok(normalized) => changes.push((field, normalized)),
            Err(message) => errors.push(message),
        }
    }
    if errors.is_empty() && changes.is_empty() {
        errors.push(NO_USER_FIELD.to_string());
    }
    if errors.is_empty() {
        Ok(ProfileChanges { changes })
    } else {
        Err(errors)
    }
}

/// A client-chosen field name as it may appear in a message: short and without control
/// characters, so an error answer cannot be used to reflect arbitrary text.
fn printable(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    format!("{clean:?}")
}

/// Checks one value and returns what to store: trimmed, `None` for `null` or an empty string.
pub fn check_field(field: ProfileField, value: &Value) -> Result<Option<String>, String> {
    let text = match value {
        Value::Null => None,
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        // PHP forms and spreadsheet exports send phone numbers as numbers.
        Value::Number(n) if field == ProfileField::Phone && n.is_u64() => Some(n.to_string()),
        _ => return Err(format!("{field} must be a string or null")),
    };
    let Some(text) = text else {
        return if field.clearable() { Ok(None) } else { Err(format!("{field} cannot be empty")) };
    };
    if text.chars().count() > field.max_chars() {
        return Err(format!("{field} must be at most {} characters", field.max_chars()));
    }
    // A bio may span lines; nothing else may carry control characters.
    let allowed_control = |c: char| field == ProfileField::Bio && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed_control(c)) {
        return Err(format!("{field} must not contain control characters"));
    }
    match field {
        ProfileField::Email => email(&text).map(Some),
        ProfileField::Username => username(&text).map(Some),
        ProfileField::Phone => phone(&text).map(Some),
        ProfileField::Language => language(&text).map(Some),
        _ => Ok(Some(text)),
    }
}

/// A practical address check (RFC 5321 shape, no quoted local parts, no IP literals): what a
/// mail server will deliver to, not everything the grammar permits.
fn email(text: &str) -> Result<String, String> {
    let invalid = || "email is not a valid email address".to_string();
    let (local, domain) = text.rsplit_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local.len() <= MAX_EMAIL_LOCAL_LEN
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels.last().is_some_and(|tld| tld.len() >= 2 && !tld.bytes().all(|b| b.is_ascii_digit()));
    if local_ok && domain_ok {
        Ok(text.to_string())
    } else {
        Err(invalid())
    }
}

/// ASCII only, so that "unique regardless of case" means the same thing in every database
/// (SQLite's `lower()` folds ASCII only) and look-alike letters cannot impersonate a name.
/// Spaces are allowed because the seed's own example is `"Test Username"`.
fn username(text: &str) -> Result<String, String> {
    let (min, max) = USERNAME_LEN;
    let rule = || {
        format!(
            "username must be {min} to {max} characters of letters, digits, spaces, '.', '_' or '-', \
             starting and ending with a letter or digit, without two spaces in a row"
        )
    };
    let bytes = text.as_bytes();
    let ok = (min..=max).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b" ._-".contains(b))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && !text.contains("  ");
    if ok {
        Ok(text.to_string())
    } else {
        Err(rule())
    }
}

/// Digits, optionally written `+380 (63) 731-26-75`; stored as the digits alone, the seed's form
/// (`"380637312675"`).
fn phone(text: &str) -> Result<String, String> {
    let (min, max) = PHONE_DIGITS;
    let rule = || {
        format!("phone must be {min} to {max} digits, optionally starting with + and grouped with spaces, '-', '.' or parentheses")
    };
    let body = text.strip_prefix('+').unwrap_or(text);
    let starts_well = body.starts_with(|c: char| c.is_ascii_digit() || c == '(');
    if !starts_well || !body.ends_with(|c: char| c.is_ascii_digit()) {
        return Err(rule());
    }
    if !body.chars().all(|c| c.is_ascii_digit() || " -.()".contains(c)) {
        return Err(rule());
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if (min..=max).contains(&digits.len()) {
        Ok(digits)
    } else {
        Err(rule())
    }
}

/// A language name or tag: `english`, `pt-BR`, `Українська`.
fn language(text: &str) -> Result<String, String> {
    if text.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '_') {
        Ok(text.to_string())
    } else {
        Err("language must be letters, spaces, '-' or '_'".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn edit(body: Value) -> Result<ProfileChanges, Vec<String>> {
        parse_edit(body.as_object().expect("object"))
    }

    #[test]
    fn the_seeds_example_body_is_accepted() {
        let changes =
            edit(json!({"first_name":"Test First Name","last_name":"Test Last Name","username":"Test Username"}))
                .unwrap();
        let listed: Vec<_> = changes.iter().collect();
        assert_eq!(
            listed,
            vec![
                (ProfileField::FirstName, Some("Test First Name")),
                (ProfileField::LastName, Some("Test Last Name")),
                (ProfileField::Username, Some("Test Username")),
            ]
        );
    }

    #[test]
    fn an_empty_edit_lists_no_field() {
        assert_eq!(edit(json!({})).unwrap_err(), vec![NO_USER_FIELD]);
    }

    #[test]
    fn unknown_and_read_only_fields_are_named() {
        let errors = edit(json!({"first_name": "A", "nickname": "x", "verified": "1"})).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("Unknown field \"nickname\""), "{errors:?}");
        assert!(errors[1].starts_with("\"verified\" cannot be edited"), "{errors:?}");
        let errors = edit(json!({"a\u{0}b": 1})).unwrap_err();
        assert!(!errors[0].contains('\u{0}'));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = edit(json!({"email": "nope", "username": "a", "phone": "12ab", "bio": 5})).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn empty_and_null_clear_but_never_the_email() {
        let changes = edit(json!({"bio": "", "city": null, "address": "  "})).unwrap();
        assert!(changes.iter().all(|(_, v)| v.is_none()));
        assert_eq!(edit(json!({"email": ""})).unwrap_err(), vec!["email cannot be empty"]);
        assert_eq!(edit(json!({"email": null})).unwrap_err(), vec!["email cannot be empty"]);
    }

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@mail.example.com", "x_y-z@sub-domain.example.org"] {
            assert_eq!(check_field(ProfileField::Email, &json!(good)), Ok(Some(good.into())), "{good}");
        }
        for bad in ["a", "a@b", "@b.co", "a@.co", "a..b@c.co", "a b@c.co", "a@b.c", "a@-b.co", "a@b.123", "\"q\"@b.co"]
        {
            assert!(check_field(ProfileField::Email, &json!(bad)).is_err(), "{bad}");
        }
        assert!(check_field(ProfileField::Email, &json!(format!("{}@b.co", "a".repeat(65)))).is_err());
    }

    #[test]
    fn usernames() {
        for good in ["abc", "Test Username", "john.doe_1-x", &"a".repeat(32)] {
            assert!(check_field(ProfileField::Username, &json!(good)).is_ok(), "{good}");
        }
        for bad in ["ab", "_abc", "abc.", "a  b", "jöhn", "a/b", &"a".repeat(33)] {
            assert!(check_field(ProfileField::Username, &json!(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_are_stored_as_digits() {
        assert_eq!(check_field(ProfileField::Phone, &json!("+380 (63) 731-26-75")), Ok(Some("380637312675".into())));
        assert_eq!(check_field(ProfileField::Phone, &json!(380637312675u64)), Ok(Some("380637312675".into())));
        for bad in ["123", "1234567890123456", "12345x78", "++1234567", "-12345678"] {
            assert!(check_field(ProfileField::Phone, &json!(bad)).is_err(), "{bad}");
        }
        assert!(check_field(ProfileField::Phone, &json!(-5)).is_err());
    }

    #[test]
    fn lengths_and_control_characters() {
        assert!(check_field(ProfileField::FirstName, &json!("x".repeat(100))).is_ok());
        assert_eq!(
            check_field(ProfileField::FirstName, &json!("x".repeat(101))),
            Err("first_name must be at most 100 characters".into())
        );
        assert!(check_field(ProfileField::City, &json!("Kyi\u{7}v")).is_err());
        assert_eq!(check_field(ProfileField::Bio, &json!("line one\nline two")), Ok(Some("line one\nline two".into())));
        assert!(check_field(ProfileField::Language, &json!("english")).is_ok());
        assert!(check_field(ProfileField::Language, &json!("english1")).is_err());
    }
}
