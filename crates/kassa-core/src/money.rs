//! Exact money. Wallet amounts are integers of the currency's minor unit ([`Minor`]); service
//! prices are decimals with up to [`Price::MAX_SCALE`] places ([`Price`]). No `f64` anywhere.
//!
//! The two rounding rules of the brief live here and only here:
//! * a charge is rounded **up** to the minor unit, so no order of a priced service is free;
//! * a refund is rounded **down**, so the refunds of an order never exceed its charge.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

/// The largest number of decimals a wallet currency may have.
pub const MAX_CURRENCY_DECIMALS: u8 = 6;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency code must be three upper-case letters, got {0:?}")]
    BadCurrencyCode(String),
    #[error("currency decimals must be between 0 and {MAX_CURRENCY_DECIMALS}, got {0}")]
    BadDecimals(u8),
    #[error("{0:?} is not a decimal amount")]
    NotANumber(String),
    #[error("{value:?} has more than {decimals} decimal places")]
    TooPrecise { value: String, decimals: u32 },
    #[error("amount must not be negative")]
    Negative,
    #[error("amount is too large")]
    Overflow,
    #[error("price must be greater than zero")]
    ZeroPrice,
}

/// An amount of wallet money in minor units of the store currency (cents for USD).
///
/// Signed because ledger entries are signed (debits are negative); balances never go below zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Minor(pub i64);

impl Minor {
    pub const ZERO: Minor = Minor(0);

    pub fn checked_add(self, other: Minor) -> Option<Minor> {
        self.0.checked_add(other.0).map(Minor)
    }

    pub fn checked_sub(self, other: Minor) -> Option<Minor> {
        self.0.checked_sub(other.0).map(Minor)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

/// The wallet currency of a store: an ISO-4217-like code and how many decimals its minor unit has.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency {
    code: String,
    decimals: u8,
}

impl Currency {
    pub fn new(code: &str, decimals: u8) -> Result<Self, MoneyError> {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(MoneyError::BadCurrencyCode(code.to_string()));
        }
        if decimals > MAX_CURRENCY_DECIMALS {
            return Err(MoneyError::BadDecimals(decimals));
        }
        Ok(Self { code: code.to_string(), decimals })
    }

    pub fn usd() -> Self {
        Self { code: "USD".into(), decimals: 2 }
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn decimals(&self) -> u8 {
        self.decimals
    }

    /// The decimal value of an amount, e.g. `Minor(1250)` → `12.50` for USD.
    pub fn to_decimal(&self, amount: Minor) -> Decimal {
        Decimal::new(amount.0, self.decimals as u32)
    }

    /// Writes an amount with exactly the currency's decimals: `12.50`, `-0.05`, `0.675`.
    /// The result is also a valid JSON number.
    pub fn format(&self, amount: Minor) -> String {
        self.to_decimal(amount).to_string()
    }

    /// Parses an operator-entered amount such as `100`, `100.5` or `100.00`. More decimals than
    /// the currency has are refused rather than rounded: money typed by a person must be exact.
    pub fn parse(&self, text: &str) -> Result<Minor, MoneyError> {
        let value = parse_decimal(text)?;
        self.exact_minor(value, text)
    }

    fn exact_minor(&self, value: Decimal, text: &str) -> Result<Minor, MoneyError> {
        let scaled = value.round_dp_with_strategy(self.decimals as u32, RoundingStrategy::ToZero);
        if scaled != value {
            return Err(MoneyError::TooPrecise { value: text.to_string(), decimals: self.decimals as u32 });
        }
        self.minor_from_rounded(scaled)
    }

    /// Converts a decimal that already has at most `decimals` places into minor units.
    fn minor_from_rounded(&self, value: Decimal) -> Result<Minor, MoneyError> {
        let mut mantissa = value;
        mantissa.rescale(self.decimals as u32);
        if mantissa.scale() != self.decimals as u32 {
            return Err(MoneyError::Overflow);
        }
        i64::try_from(mantissa.mantissa()).map(Minor).map_err(|_| MoneyError::Overflow)
    }

    /// The charge for `quantity` units at `price_per_1000`, rounded **up** to the minor unit.
    pub fn charge(&self, price_per_1000: Price, quantity: u64) -> Result<Minor, MoneyError> {
        let quantity = Decimal::from(quantity);
        let exact = price_per_1000
            .0
            .checked_mul(quantity)
            .and_then(|v| v.checked_div(Decimal::ONE_THOUSAND))
            .ok_or(MoneyError::Overflow)?;
        let rounded = exact.round_dp_with_strategy(self.decimals as u32, RoundingStrategy::AwayFromZero);
        self.minor_from_rounded(rounded)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

/// The refund for the undelivered part of an order: `charge * remains / quantity`, rounded
/// **down**. `remains` above `quantity` is refused: a provider claiming more undelivered units
/// than were ordered is wrong, and guessing would pay out money.
pub fn partial_refund(charge: Minor, remains: u64, quantity: u64) -> Option<Minor> {
    if quantity == 0 || remains > quantity || charge.is_negative() {
        return None;
    }
    let refund = (charge.0 as i128) * (remains as i128) / (quantity as i128);
    i64::try_from(refund).ok().map(Minor)
}

/// A service price per 1,000 units: a positive decimal with at most [`Price::MAX_SCALE`] places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(Decimal);

impl Price {
    pub const MAX_SCALE: u32 = 8;
    /// No single price above a billion per thousand; keeps every charge far inside `i64`.
    pub const MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

    pub fn new(value: Decimal) -> Result<Self, MoneyError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MoneyError::Negative);
        }
        if value.is_zero() {
            return Err(MoneyError::ZeroPrice);
        }
        if value > Self::MAX {
            return Err(MoneyError::Overflow);
        }
        let normalized = value.normalize();
        if normalized.scale() > Self::MAX_SCALE {
            return Err(MoneyError::TooPrecise { value: value.to_string(), decimals: Self::MAX_SCALE });
        }
        Ok(Self(normalized))
    }

    pub fn decimal(&self) -> Decimal {
        self.0
    }

    /// The price of one unit (`price_per_1000 / 1000`), exact.
    pub fn per_unit(&self) -> Decimal {
        (self.0 / Decimal::ONE_THOUSAND).normalize()
    }
}

impl FromStr for Price {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Price::new(parse_decimal(text)?)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Parses a plain decimal (`12`, `12.5`, `-3.25`); no exponents, no thousands separators.
fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let t = text.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    let well_formed = !digits.is_empty()
        && !digits.starts_with('.')
        && !digits.ends_with('.')
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1;
    if !well_formed {
        return Err(MoneyError::NotANumber(text.to_string()));
    }
    Decimal::from_str_exact(t).map_err(|_| MoneyError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::usd()
    }

    #[test]
    fn formats_with_exact_decimals() {
        assert_eq!(usd().format(Minor(1250)), "12.50");
        assert_eq!(usd().format(Minor(-5)), "-0.05");
        assert_eq!(usd().format(Minor(0)), "0.00");
        assert_eq!(Currency::new("KWD", 3).unwrap().format(Minor(675)), "0.675");
        assert_eq!(Currency::new("JPY", 0).unwrap().format(Minor(675)), "675");
    }

    #[test]
    fn parses_exact_amounts_only() {
        assert_eq!(usd().parse("100"), Ok(Minor(10000)));
        assert_eq!(usd().parse("100.5"), Ok(Minor(10050)));
        assert_eq!(usd().parse("0.01"), Ok(Minor(1)));
        assert!(matches!(usd().parse("0.005"), Err(MoneyError::TooPrecise { .. })));
        for bad in ["", ".", "1.", ".5", "1e3", "1,000", "abc", "--1", "1.2.3"] {
            assert!(usd().parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(usd().parse("99999999999999999999").is_err());
    }

    #[test]
    fn charge_rounds_up_to_the_minor_unit() {
        let price: Price = "0.45".parse().unwrap();
        // 0.45 * 1000 / 1000 = 0.45 exactly
        assert_eq!(usd().charge(price, 1000), Ok(Minor(45)));
        // 0.45 * 15 / 1000 = 0.00675 → 0.01
        assert_eq!(usd().charge(price, 15), Ok(Minor(1)));
        // 1.5 * 450 / 1000 = 0.675 → 0.68 in USD, 0.675 in a 3-decimal currency
        let price: Price = "1.5".parse().unwrap();
        assert_eq!(usd().charge(price, 450), Ok(Minor(68)));
        assert_eq!(Currency::new("KWD", 3).unwrap().charge(price, 450), Ok(Minor(675)));
    }

    #[test]
    fn prices_are_positive_and_bounded() {
        assert_eq!("0".parse::<Price>(), Err(MoneyError::ZeroPrice));
        assert_eq!("-1".parse::<Price>(), Err(MoneyError::Negative));
        assert!("0.000000001".parse::<Price>().is_err());
        assert!("1000000001".parse::<Price>().is_err());
        let price: Price = "0.4500".parse().unwrap();
        assert_eq!(price.to_string(), "0.45");
        assert_eq!(price.per_unit().to_string(), "0.00045");
    }

    #[test]
    fn partial_refund_rounds_down_and_refuses_nonsense() {
        assert_eq!(partial_refund(Minor(68), 157, 450), Some(Minor(23))); // 23.72 → 23
        assert_eq!(partial_refund(Minor(68), 450, 450), Some(Minor(68)));
        assert_eq!(partial_refund(Minor(68), 0, 450), Some(Minor(0)));
        assert_eq!(partial_refund(Minor(68), 451, 450), None);
        assert_eq!(partial_refund(Minor(68), 1, 0), None);
    }

    fn price_strategy() -> impl Strategy<Value = Price> {
        (1i64..=10_000_000_000i64, 0u32..=8)
            .prop_filter_map("valid price", |(m, s)| Price::new(Decimal::new(m, s)).ok())
    }

    proptest! {
        #[test]
        fn charge_is_never_below_the_exact_price_nor_a_unit_above(price in price_strategy(), quantity in 1u64..=10_000_000, decimals in 0u8..=6) {
            let currency = Currency::new("XTS", decimals).unwrap();
            let charge = currency.charge(price, quantity).unwrap();
            let exact = price.decimal() * Decimal::from(quantity) / Decimal::ONE_THOUSAND;
            let charged = currency.to_decimal(charge);
            prop_assert!(charged >= exact, "charge {charged} below exact {exact}");
            prop_assert!(charged - exact < currency.to_decimal(Minor(1)), "charge {charged} a unit or more above {exact}");
            prop_assert!(charge.0 > 0, "an order of a priced service is never free");
        }

        #[test]
        fn refunds_never_exceed_the_charge(charge in 0i64..=1_000_000_000_000, quantity in 1u64..=10_000_000, remains_frac in 0.0f64..=1.0) {
            let remains = ((quantity as f64) * remains_frac).floor() as u64;
            let refund = partial_refund(Minor(charge), remains.min(quantity), quantity).unwrap();
            prop_assert!(refund.0 >= 0 && refund.0 <= charge);
            // the delivered part is paid for: charge - refund covers the delivered share
            let delivered = quantity - remains.min(quantity);
            prop_assert!((charge - refund.0) as i128 * quantity as i128 >= charge as i128 * delivered as i128);
        }

        #[test]
        fn format_and_parse_round_trip(amount in 0i64..=i64::MAX / 10, decimals in 0u8..=6) {
            let currency = Currency::new("XTS", decimals).unwrap();
            prop_assert_eq!(currency.parse(&currency.format(Minor(amount))), Ok(Minor(amount)));
        }
    }
}
