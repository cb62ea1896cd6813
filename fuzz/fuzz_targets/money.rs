//! Money parsing and rounding: nothing panics; a charge is never below the exact price nor a
//! minor unit above it; a refund never exceeds its charge.
#![no_main]

use arbitrary::Arbitrary;
use kassa_core::money::{partial_refund, Currency, Minor, Price};
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    amount: &'a str,
    price: &'a str,
    decimals: u8,
    quantity: u64,
    charge: i64,
    remains: u64,
}

fuzz_target!(|input: Input| {
    let Ok(currency) = Currency::new("XTS", input.decimals % 7) else { return };
    if let Ok(minor) = currency.parse(input.amount) {
        assert_eq!(currency.parse(&currency.format(minor)), Ok(minor), "format and parse round-trip");
    }
    if let Ok(price) = input.price.parse::<Price>() {
        if let Ok(charge) = currency.charge(price, input.quantity) {
            let exact = price.decimal() * Decimal::from(input.quantity) / Decimal::ONE_THOUSAND;
            let charged = currency.to_decimal(charge);
            assert!(charged >= exact);
            assert!(charged - exact < currency.to_decimal(Minor(1)));
        }
    }
    if let Some(refund) = partial_refund(Minor(input.charge), input.remains, input.quantity) {
        assert!(refund.0 >= 0 && refund.0 <= input.charge);
    }
});
