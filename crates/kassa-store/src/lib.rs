//! Storage for kassa: one [`Store`] trait with the transactions the domain needs, and one
//! implementation per database, each with its own `migrations/`.
//!
//! Every method that moves money is one database transaction inside the store: the caller
//! cannot split a debit from its ledger entry or its order.
#![forbid(unsafe_code)]

pub mod error;
mod migrate;
pub mod model;
pub mod postgres;
pub mod present;
pub mod rules;
pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use kassa_core::profile::ProfileChanges;
use kassa_core::{Currency, CustomerId, OrderId};

pub use error::StoreError;
pub use model::*;

pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn kind(&self) -> StoreKind;
    /// Where the data lives, safe to print (passwords redacted).
    fn describe(&self) -> String;
    /// The wallet currency, fixed when the database was created.
    fn currency(&self) -> &Currency;
    /// A cheap round trip to the database.
    async fn ping(&self) -> StoreResult<()>;

    // Customers
    async fn create_customer(&self, new: NewCustomer) -> StoreResult<Customer>;
    async fn customer(&self, id: CustomerId) -> StoreResult<Option<Customer>>;
    async fn list_customers(&self) -> StoreResult<Vec<Customer>>;
    async fn set_customer_status(&self, id: CustomerId, status: CustomerStatus) -> StoreResult<Customer>;
    /// Applies a checked `profile/edit`: exactly the listed fields change. An email or username
    /// another customer has (regardless of case) is [`StoreError::Taken`].
    async fn update_profile(&self, id: CustomerId, changes: ProfileChanges) -> StoreResult<Customer>;

    // Wallets and the ledger
    async fn wallet(&self, id: CustomerId) -> StoreResult<Wallet>;
    /// Applies one operator entry (top-up or adjustment) and returns it with the new balance.
    async fn post_ledger_entry(&self, entry: NewLedgerEntry) -> StoreResult<Posted>;
    /// The latest entries of a wallet, newest first.
    async fn ledger(&self, id: CustomerId, limit: u32) -> StoreResult<Vec<LedgerEntry>>;
    /// Checks every invariant of the books over the whole database.
    async fn audit_books(&self) -> StoreResult<BooksReport>;

    // API keys
    async fn create_api_key(&self, new: NewApiKey) -> StoreResult<ApiKeyRecord>;
    async fn auth_record(&self, api_key: &str) -> StoreResult<Option<AuthRecord>>;
    async fn set_api_key_status(&self, api_key: &str, status: KeyStatus) -> StoreResult<ApiKeyRecord>;
    async fn list_api_keys(&self, customer: Option<CustomerId>) -> StoreResult<Vec<ApiKeyRecord>>;

    // Services
    async fn create_service(&self, new: NewService) -> StoreResult<ServiceRecord>;
    async fn update_service(&self, id: i64, patch: ServicePatch) -> StoreResult<ServiceRecord>;
    async fn services(&self, active_only: bool) -> StoreResult<Vec<ServiceRecord>>;

    // Orders
    /// Idempotency check, quote, conditional debit, ledger entry and order row: one transaction.
    async fn create_order(&self, new: NewOrder) -> StoreResult<OrderPlaced>;
    /// One order; with `customer`, only if it belongs to that customer.
    async fn order(&self, customer: Option<CustomerId>, id: &OrderId) -> StoreResult<Option<OrderRecord>>;
    /// The customer's order placed under `idempotency_key`, if there is one.
    async fn order_by_idempotency_key(
        &self,
        customer: CustomerId,
        idempotency_key: &str,
    ) -> StoreResult<Option<OrderRecord>>;
    async fn list_orders(&self, filter: OrderFilter) -> StoreResult<OrderPage>;
    /// Moves an order to a new status and pays its refund, exactly once, in one transaction.
    async fn change_order(&self, id: &OrderId, change: StatusChange) -> StoreResult<OrderRecord>;

    /// A customer's (or, without `customer`, an operator's) cancel request.
    async fn cancel_order(&self, customer: Option<CustomerId>, id: &OrderId) -> StoreResult<CancelOutcome>;
    /// Records a refill request made without an idempotency key.
    async fn create_refill(
        &self,
        id: &OrderId,
        provider_refill_id: Option<String>,
        status: &str,
    ) -> StoreResult<RefillRecord>;
    /// Takes this order's idempotency key for a refill before the provider is asked, so that one
    /// request under the key asks, on whichever node it arrives. A reservation older than
    /// `stale_after` (its request died before recording the answer) is taken over.
    async fn reserve_refill(
        &self,
        id: &OrderId,
        idempotency_key: &str,
        stale_after: Duration,
    ) -> StoreResult<RefillReservation>;
    /// Records the answer to a reserved refill. [`StoreError::NotFound`] when the hold is no
    /// longer this request's (taken over once stale, or given back): the caller records its
    /// refill without the key.
    async fn settle_refill(
        &self,
        hold: RefillHold,
        provider_refill_id: Option<String>,
        status: &str,
    ) -> StoreResult<RefillRecord>;
    /// Gives a reserved refill's key back: the refill was not asked for (refused, or never sent),
    /// so a retry under the key asks again. A hold taken over meanwhile is left alone.
    async fn release_refill(&self, hold: RefillHold) -> StoreResult<()>;
    /// Refill requests, newest first.
    async fn refills(&self, filter: RefillFilter) -> StoreResult<Vec<RefillRecord>>;
    /// An operator closes a refill as `completed` or `rejected` ([`rules::may_close_refill`]).
    async fn close_refill(&self, refill: i64, status: &str) -> StoreResult<RefillRecord>;

    // Identity verification
    /// The state check ([`kassa_core::verification::may_submit`]), the verification, its
    /// documents and its `submit` audit entry: one transaction. A customer has at most one
    /// verification that is not rejected, whatever the concurrency.
    async fn submit_verification(&self, new: NewVerification) -> StoreResult<VerificationRecord>;
    /// The customer's most recent verification, which decides what they may do next.
    async fn latest_verification(&self, customer: CustomerId) -> StoreResult<Option<VerificationRecord>>;
    async fn verification(&self, id: i64) -> StoreResult<Option<VerificationRecord>>;
    async fn list_verifications(&self, filter: VerificationFilter) -> StoreResult<Vec<VerificationRecord>>;
    async fn verification_document(&self, id: i64, slot: DocumentSlot) -> StoreResult<Option<SealedDocument>>;
    /// Moves a verification in process to the review's outcome, records who, when and why in the
    /// audit trail and, on approval, marks the customer verified: one transaction.
    async fn review_verification(&self, review: Review) -> StoreResult<VerificationRecord>;
    /// The audit trail of one verification, oldest first.
    async fn verification_audit(&self, id: i64) -> StoreResult<Vec<AuditEntry>>;
    // Providers and fulfilment
    async fn create_provider(&self, new: NewProvider) -> StoreResult<ProviderRecord>;
    async fn providers(&self) -> StoreResult<Vec<ProviderRecord>>;
    /// Turns submissions whose worker vanished into `needs_review`, then claims up to `limit` due
    /// queued orders as `submitting` for `lease`.
    async fn claim_submissions(&self, limit: u32, lease: Duration) -> StoreResult<Claimed>;
    /// Records what the provider said to a submission made under the claim leased until
    /// `claimed_until`; an accepted order is polled from `poll_at`. A claim that is gone only leaves
    /// a note (and an accepting provider's id), see [`rules::SubmissionFate`].
    async fn record_submission(
        &self,
        id: &OrderId,
        claimed_until: Millis,
        submission: Submission,
        poll_at: Millis,
    ) -> StoreResult<OrderRecord>;
    /// Claims up to `limit` submitted orders due for a status check within `ahead` (checking a
    /// little early lets one provider call cover more orders; at most half the lease), pushing
    /// their next check past `lease`.
    async fn claim_polls(&self, limit: u32, ahead: Duration, lease: Duration) -> StoreResult<Claimed>;
    /// Applies a provider's status report made under the claim leased until `claimed_until`
    /// (refunding once if it is final) and schedules the next check; a report under a claim that
    /// is gone changes nothing.
    async fn record_poll(
        &self,
        id: &OrderId,
        claimed_until: Millis,
        change: StatusChange,
        next_poll_at: Millis,
    ) -> StoreResult<OrderRecord>;
    async fn resolve_review(&self, id: &OrderId, resolution: Resolution) -> StoreResult<OrderRecord>;

    // Webhooks
    async fn create_webhook(&self, new: NewWebhook) -> StoreResult<WebhookRecord>;
    async fn webhooks(&self, customer: Option<CustomerId>) -> StoreResult<Vec<WebhookRecord>>;
    async fn delete_webhook(&self, customer: Option<CustomerId>, id: i64) -> StoreResult<()>;
    async fn claim_deliveries(&self, limit: u32, lease: Duration) -> StoreResult<Vec<DeliveryJob>>;
    /// Records an attempt made under the claim in [`DeliveryJob::claimed_until`]; `None` when that
    /// claim ran out and another attempt (or an operator's replay) has the delivery now.
    async fn record_delivery(
        &self,
        id: i64,
        claimed_until: Millis,
        attempt: DeliveryAttempt,
    ) -> StoreResult<Option<DeliveryRecord>>;
    async fn deliveries(&self, filter: DeliveryFilter) -> StoreResult<Vec<DeliveryRecord>>;
    async fn replay_delivery(&self, id: i64) -> StoreResult<DeliveryRecord>;
}
