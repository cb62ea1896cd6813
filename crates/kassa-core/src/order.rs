//! The order state machine.
//!
//! ```text
//! pending ──► processing ──► in_progress ──► completed ──► refunded
//!    │            │               │
//!    └────────────┴───────────────┴──► partial | canceled
//! ```
//! `partial`, `canceled` and `refunded` are final and each carries exactly one refund:
//! `partial` refunds the undelivered share, the other two the whole charge.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Pending,
    Processing,
    InProgress,
    Completed,
    Partial,
    Canceled,
    Refunded,
}

/// What a final status gives back to the wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundRule {
    None,
    /// `charge * remains / quantity`, rounded down.
    Undelivered,
    Full,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Pending,
        OrderStatus::Processing,
        OrderStatus::InProgress,
        OrderStatus::Completed,
        OrderStatus::Partial,
        OrderStatus::Canceled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Processing => "processing",
            OrderStatus::InProgress => "in_progress",
            OrderStatus::Completed => "completed",
            OrderStatus::Partial => "partial",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Partial | OrderStatus::Canceled | OrderStatus::Refunded)
    }

    pub fn refund_rule(self) -> RefundRule {
        match self {
            OrderStatus::Partial => RefundRule::Undelivered,
            OrderStatus::Canceled | OrderStatus::Refunded => RefundRule::Full,
            _ => RefundRule::None,
        }
    }

    /// Whether an order may move from `self` to `next`. Staying put is not a transition.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        match self {
            Pending => matches!(next, Processing | InProgress | Completed | Partial | Canceled),
            Processing => matches!(next, InProgress | Completed | Partial | Canceled),
            InProgress => matches!(next, Processing | Completed | Partial | Canceled),
            Completed => matches!(next, Refunded),
            Partial | Canceled | Refunded => false,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for OrderStatus {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| UnknownStatus(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_are_dead_ends_and_refund() {
        for from in OrderStatus::ALL {
            if from.is_final() {
                assert!(OrderStatus::ALL.iter().all(|&to| !from.can_become(to)));
                assert_ne!(from.refund_rule(), RefundRule::None);
            }
            assert!(!from.can_become(from));
            assert_eq!(from.as_str().parse::<OrderStatus>(), Ok(from));
        }
        assert!(OrderStatus::Pending.can_become(OrderStatus::Canceled));
        assert!(!OrderStatus::Completed.can_become(OrderStatus::Canceled));
        assert!(!OrderStatus::Pending.can_become(OrderStatus::Refunded));
    }
}
