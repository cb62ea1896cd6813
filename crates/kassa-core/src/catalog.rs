//! Services and the rules an order must meet to be accepted: the service exists and is active,
//! the key may order it, the quantity fits, custom comments match the quantity, the price gives
//! a charge. The stores call [`ServiceTerms::quote`] inside the order transaction, so the price
//! charged is the one in force when the order was written.

use std::fmt;
use std::str::FromStr;

use crate::error::ErrorCode;
use crate::money::{Currency, Minor, Price};
use crate::validation::OrderRequest;

/// How a service takes its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    Default,
    /// One comment per line in `custom_comments`; quantity = number of comments.
    CustomComments,
    /// A fixed bundle; ordered like `Default`.
    Package,
}

impl ServiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Default => "default",
            ServiceKind::CustomComments => "custom_comments",
            ServiceKind::Package => "package",
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service type must be default, custom_comments or package, got {0:?}")]
pub struct UnknownServiceKind(pub String);

impl FromStr for ServiceKind {
    type Err = UnknownServiceKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "default" => Ok(ServiceKind::Default),
            "custom_comments" => Ok(ServiceKind::CustomComments),
            "package" => Ok(ServiceKind::Package),
            other => Err(UnknownServiceKind(other.to_string())),
        }
    }
}

/// What an order needs to know about its service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTerms {
    pub id: i64,
    pub active: bool,
    pub kind: ServiceKind,
    pub price_per_1000: Price,
    pub min: u64,
    pub max: u64,
}

/// Why the store refused an order. Each maps to one wire code; some carry the extra fields the
/// seed documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRefusal {
    ServiceNotFound,
    ServiceNotAllowed,
    QuantityBelowMinimum {
        min: u64,
    },
    QuantityAboveMaximum {
        max: u64,
    },
    InvalidCustomComments(String),
    /// Same idempotency key, different request.
    IdempotencyKeyReused,
    /// `client_order_ref` already used by this customer.
    ClientOrderRefReused,
    /// The same signed request was used for another order (a replay with another idempotency
    /// key, which the signature does not cover).
    SignatureReused,
    InsufficientBalance {
        balance: Minor,
        required: Minor,
    },
    CustomerNotFound,
    /// The same idempotency key is being processed right now.
    InFlight,
}

impl OrderRefusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            OrderRefusal::ServiceNotFound => ErrorCode::ServiceNotFound,
            OrderRefusal::ServiceNotAllowed => ErrorCode::ServiceNotAllowed,
            OrderRefusal::QuantityBelowMinimum { .. } => ErrorCode::QuantityBelowMinimum,
            OrderRefusal::QuantityAboveMaximum { .. } => ErrorCode::QuantityAboveMaximum,
            OrderRefusal::InvalidCustomComments(_) => ErrorCode::InvalidCustomComments,
            OrderRefusal::IdempotencyKeyReused | OrderRefusal::ClientOrderRefReused | OrderRefusal::SignatureReused => {
                ErrorCode::DuplicateOrder
            }
            OrderRefusal::InsufficientBalance { .. } => ErrorCode::InsufficientWalletBalance,
            OrderRefusal::CustomerNotFound => ErrorCode::CustomerNotFound,
            OrderRefusal::InFlight => ErrorCode::CustomerWalletLocked,
        }
    }
}

impl ServiceTerms {
    /// Checks `request` against this service and the key's allow-list and returns the charge.
    /// `allowed_services` empty means every service.
    pub fn quote(
        &self,
        request: &OrderRequest,
        allowed_services: &[i64],
        currency: &Currency,
    ) -> Result<Minor, OrderRefusal> {
        if !self.active {
            return Err(OrderRefusal::ServiceNotFound);
        }
        if !allowed_services.is_empty() && !allowed_services.contains(&self.id) {
            return Err(OrderRefusal::ServiceNotAllowed);
        }
        if request.quantity < self.min {
            return Err(OrderRefusal::QuantityBelowMinimum { min: self.min });
        }
        if request.quantity > self.max {
            return Err(OrderRefusal::QuantityAboveMaximum { max: self.max });
        }
        match (self.kind, &request.custom_comments) {
            (ServiceKind::CustomComments, None) => {
                return Err(OrderRefusal::InvalidCustomComments(
                    "this service needs custom_comments, one comment per line".into(),
                ))
            }
            (ServiceKind::CustomComments, Some(comments)) if comments.len() as u64 != request.quantity => {
                return Err(OrderRefusal::InvalidCustomComments(format!(
                    "{} comments given but quantity is {}; they must be equal",
                    comments.len(),
                    request.quantity
                )))
            }
            (ServiceKind::Default | ServiceKind::Package, Some(_)) => {
                return Err(OrderRefusal::InvalidCustomComments("this service does not take custom_comments".into()))
            }
            _ => {}
        }
        // A price and quantity inside their bounds cannot overflow i64 minor units; if a
        // misconfigured service ever did, refusing is the only safe answer.
        currency
            .charge(self.price_per_1000, request.quantity)
            .map_err(|_| OrderRefusal::QuantityAboveMaximum { max: self.max })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(kind: ServiceKind) -> ServiceTerms {
        ServiceTerms { id: 7, active: true, kind, price_per_1000: "0.45".parse().unwrap(), min: 10, max: 1000 }
    }

    fn request(quantity: u64, comments: Option<Vec<&str>>) -> OrderRequest {
        OrderRequest {
            service_id: 7,
            quantity,
            link: "x".into(),
            client_order_ref: None,
            custom_comments: comments.map(|c| c.into_iter().map(String::from).collect()),
        }
    }

    #[test]
    fn quotes_and_refuses_in_the_documented_order() {
        let usd = Currency::usd();
        assert_eq!(terms(ServiceKind::Default).quote(&request(1000, None), &[], &usd), Ok(Minor(45)));
        assert_eq!(
            terms(ServiceKind::Default).quote(&request(1000, None), &[8], &usd),
            Err(OrderRefusal::ServiceNotAllowed)
        );
        assert_eq!(
            terms(ServiceKind::Default).quote(&request(9, None), &[7], &usd),
            Err(OrderRefusal::QuantityBelowMinimum { min: 10 })
        );
        assert_eq!(
            terms(ServiceKind::Default).quote(&request(1001, None), &[], &usd),
            Err(OrderRefusal::QuantityAboveMaximum { max: 1000 })
        );
        let inactive = ServiceTerms { active: false, ..terms(ServiceKind::Default) };
        assert_eq!(inactive.quote(&request(100, None), &[], &usd), Err(OrderRefusal::ServiceNotFound));
    }

    #[test]
    fn custom_comments_must_match_the_quantity() {
        let usd = Currency::usd();
        let custom = ServiceTerms { min: 1, ..terms(ServiceKind::CustomComments) };
        assert!(custom.quote(&request(2, Some(vec!["a", "b"])), &[], &usd).is_ok());
        assert!(matches!(
            custom.quote(&request(3, Some(vec!["a", "b"])), &[], &usd),
            Err(OrderRefusal::InvalidCustomComments(_))
        ));
        assert!(matches!(custom.quote(&request(2, None), &[], &usd), Err(OrderRefusal::InvalidCustomComments(_))));
        assert!(matches!(
            terms(ServiceKind::Default).quote(&request(20, Some(vec!["a"])), &[], &usd),
            Err(OrderRefusal::InvalidCustomComments(_))
        ));
    }
}
