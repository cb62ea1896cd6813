//! A money amount written as an exact JSON number (`0.675`, `12.50`), never through `f64`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// An exact decimal that serializes as a JSON number with its digits as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub Decimal);

impl Amount {
    pub fn decimal(&self) -> Decimal {
        self.0
    }
}

impl From<Decimal> for Amount {
    fn from(value: Decimal) -> Self {
        Amount(value)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A `RawValue` is written verbatim by serde_json, so `12.50` stays `12.50`.
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Read the number's text, not an f64, so no digit is lost; accept a string too.
        let raw: Box<RawValue> = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get().trim();
        let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
        Decimal::from_str(text)
            .or_else(|_| Decimal::from_scientific(text))
            .map(Amount)
            .map_err(|_| D::Error::custom(format!("{text:?} is not a decimal amount")))
    }
}

/// In the API description an amount is a JSON number; its digits are exact.
impl utoipa::PartialSchema for Amount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some(
                "An exact decimal amount, written as a JSON number with its digits as they are (`12.50`, `0.675`). \
                 Read it as a decimal, not a float, to keep every digit.",
            ))
            .examples([serde_json::json!(12.5)])
            .into()
    }
}

impl utoipa::ToSchema for Amount {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_exact_digits() {
        let amount = Amount(Decimal::new(675, 3));
        assert_eq!(serde_json::to_string(&amount).unwrap(), "0.675");
        let cents = Amount(Decimal::new(1250, 2));
        assert_eq!(serde_json::to_string(&serde_json::json!({"a": 1})).unwrap(), r#"{"a":1}"#);
        #[derive(Serialize, Deserialize)]
        struct Body {
            balance: Amount,
        }
        let text = serde_json::to_string(&Body { balance: cents }).unwrap();
        assert_eq!(text, r#"{"balance":12.50}"#);
        let back: Body = serde_json::from_str(&text).unwrap();
        assert_eq!(back.balance, cents);
        let from_string: Body = serde_json::from_str(r#"{"balance":"0.1"}"#).unwrap();
        assert_eq!(from_string.balance.0, Decimal::new(1, 1));
    }
}
