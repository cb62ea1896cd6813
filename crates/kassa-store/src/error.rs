//! What can go wrong in a store, sorted by what the caller should do about it.

use kassa_core::catalog::OrderRefusal;
use kassa_core::profile::ProfileField;
use kassa_core::verification::VerificationRefusal;
use kassa_core::OrderStatus;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or cannot write right now (locked, disk full, down).
    /// Answer `503 database_unavailable`; retrying later is safe.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The order was refused by a business rule.
    #[error("order refused: {0:?}")]
    Refused(OrderRefusal),
    /// A customer's cancel or refill request that the order's state or service does not allow.
    #[error("not allowed: {0:?}")]
    NotAllowed(crate::model::ActionRefusal),
    #[error("{0} not found")]
    NotFound(String),
    /// Concurrent transactions kept colliding (serialization failures, deadlocks) after the
    /// bounded retries. Retrying a little later is safe; nothing was written.
    #[error("too much contention, retry shortly: {0}")]
    Contention(String),
    /// A uniqueness rule: an email, a username, a ledger reference already taken.
    #[error("{0}")]
    Conflict(String),
    /// An email or username that belongs to another customer (compared regardless of case).
    #[error("{field} is already taken")]
    Taken { field: ProfileField },
    /// A verification request that does not fit the verification's state.
    #[error("{0}")]
    Verification(VerificationRefusal),
    #[error("an order that is {from} cannot become {to}")]
    InvalidTransition { from: OrderStatus, to: OrderStatus },
    /// Input the store cannot accept (a partial status without `remains`, ...).
    #[error("{0}")]
    Invalid(String),
    /// The schema is missing, older or newer than this build.
    #[error("{0}")]
    Schema(String),
    /// A bug or a corrupted row. Logged in full, answered without details.
    #[error("internal store error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<VerificationRefusal> for StoreError {
    fn from(refusal: VerificationRefusal) -> Self {
        StoreError::Verification(refusal)
    }
}

impl From<OrderRefusal> for StoreError {
    fn from(refusal: OrderRefusal) -> Self {
        StoreError::Refused(refusal)
    }
}
