//! Small readers the providers share: a field's text when it says something, the JSON kind of a
//! value for error messages, an optional field whose wrong type names the field, and a value
//! taken from a body made safe as one URL path or query component.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The text unless it is absent, empty or blank.
pub(super) fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|text| !text.trim().is_empty())
}

/// The JSON kind of `value`, as error messages name it (`a JSON array, expected ...`).
pub(super) fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
        Value::Number(_) => "number",
        Value::Object(_) => "object",
    }
}

/// Reads an optional field through `convert`; `null` is absent, and a value `convert` refuses is
/// an error that names the field.
pub(super) fn named<'de, D, T>(
    deserializer: D,
    name: &str,
    expected: &str,
    convert: impl FnOnce(&Value) -> Option<T>,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => convert(&value).map(Some).ok_or_else(|| {
            D::Error::custom(format!(
                "field `{name}` is a JSON {}, expected {expected}",
                value_kind(&value)
            ))
        }),
    }
}

/// `text` (from a request body) as one URL component: anything that could end it or change the
/// URL's meaning is percent-encoded, while ids (hex digits, dashes) pass unchanged.
pub(super) fn url_component(text: &str) -> impl fmt::Display + '_ {
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(text, UNRESERVED)
}
