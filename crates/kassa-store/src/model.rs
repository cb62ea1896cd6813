//! The records the stores read and write. Plain data; the rules live in `kassa-core`.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use kassa_core::catalog::{ServiceKind, ServiceTerms};
pub use kassa_core::document::{DocumentSlot, DocumentType};
use kassa_core::validation::{OrderRequest, PageRequest};
pub use kassa_core::verification::{Gender, ReviewAction, VerificationStatus, VerifyType};
use kassa_core::{CustomerId, Minor, OrderId, OrderStatus, Price};

/// Milliseconds since the Unix epoch, UTC. Both stores keep times this way.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)*
                    other => Err(format!(
                        "{other:?} is not one of: {}",
                        [$($text),*].join(", ")
                    )),
                }
            }
        }
    };
}

text_enum!(
    /// Whether a customer may use the API. A disabled customer's keys answer `customer_not_found`.
    CustomerStatus { Active = "active", Disabled = "disabled" }
);

text_enum!(
    /// An API key's state. Only `active` keys authenticate; `revoked` is final.
    KeyStatus { Active = "active", Disabled = "disabled", Revoked = "revoked" }
);

text_enum!(
    /// How orders of a service reach their provider.
    ProviderKind { Manual = "manual", SmmV2 = "smm-v2" }
);

text_enum!(
    /// The upstream side of an order (see migration 0003 for the meaning of each state).
    Upstream {
        Manual = "manual",
        Queued = "queued",
        Submitting = "submitting",
        Submitted = "submitted",
        NeedsReview = "needs_review",
        Closed = "closed",
    }
);

text_enum!(
    /// Where a webhook delivery stands.
    DeliveryState { Pending = "pending", Delivered = "delivered", Failed = "failed" }
);

text_enum!(
    /// What moved money in a wallet.
    LedgerKind { Topup = "topup", Adjustment = "adjustment", OrderCharge = "order_charge", OrderRefund = "order_refund" }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    /// Public short id, `user_id` in `profile/me`.
    pub user_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub bio: Option<String>,
    pub verified: bool,
    pub moderator: Option<String>,
    pub chat_status: Option<String>,
    pub status: CustomerStatus,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    pub customer_id: CustomerId,
    pub balance: Minor,
}

/// A balance change an operator asks for. Credits always apply; a negative adjustment applies
/// only if the balance covers it.
#[derive(Debug, Clone)]
pub struct NewLedgerEntry {
    pub customer_id: CustomerId,
    pub kind: LedgerKind,
    /// Signed: positive adds to the wallet.
    pub amount: Minor,
    /// Unique across the ledger: the same reference again replays the entry (same customer,
    /// kind and amount) or is refused, so a retried top-up cannot credit twice.
    pub reference: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub id: i64,
    pub customer_id: CustomerId,
    pub kind: LedgerKind,
    pub amount: Minor,
    pub balance_after: Minor,
    pub reference: String,
    pub order_id: Option<String>,
    pub note: Option<String>,
    pub created_at: Millis,
}

/// What posting an operator's ledger entry did: wrote `entry`, or found it written before under
/// the same reference (`replayed`) and applied nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub entry: LedgerEntry,
    pub replayed: bool,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub customer_id: CustomerId,
    pub api_key: String,
    /// The secret sealed by the server's vault; the store never sees it in clear.
    pub secret_sealed: Vec<u8>,
    pub allowed_ips: Vec<IpNet>,
    pub allowed_services: Vec<i64>,
    pub rate_limit_per_minute: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub api_key: String,
    pub customer_id: CustomerId,
    pub status: KeyStatus,
    /// Empty means any address.
    pub allowed_ips: Vec<IpNet>,
    /// Empty means every service.
    pub allowed_services: Vec<i64>,
    pub rate_limit_per_minute: u32,
    pub created_at: Millis,
}

/// Everything authentication needs, in one read.
#[derive(Debug, Clone)]
pub struct AuthRecord {
    pub key: ApiKeyRecord,
    pub secret_sealed: Vec<u8>,
    /// `None` when the customer row is gone; `Some(Disabled)` when the operator disabled it.
    pub customer_status: Option<CustomerStatus>,
    /// The customer's wallet balance, read in the same snapshot as the key (so a balance request
    /// needs no second read); `None` when the wallet row is gone.
    pub wallet_balance: Option<Minor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub kind: ServiceKind,
    pub price_per_1000: Price,
    pub min: u64,
    pub max: u64,
    pub active: bool,
    /// The provider that fulfils it and its id there; `None` = fulfilled by hand.
    pub provider_id: Option<i64>,
    pub provider_service: Option<String>,
    pub provider_kind: Option<ProviderKind>,
    /// Whether customers may ask to cancel or refill its orders.
    pub cancel_allowed: bool,
    pub refill_allowed: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl ServiceRecord {
    /// Where a new order of this service starts upstream: queued for its provider, or manual.
    pub fn initial_upstream(&self) -> Upstream {
        match (self.provider_kind, &self.provider_service) {
            (Some(ProviderKind::SmmV2), Some(_)) => Upstream::Queued,
            _ => Upstream::Manual,
        }
    }

    pub fn terms(&self) -> ServiceTerms {
        ServiceTerms {
            id: self.id,
            active: self.active,
            kind: self.kind,
            price_per_1000: self.price_per_1000,
            min: self.min,
            max: self.max,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewService {
    pub name: String,
    pub category: String,
    pub kind: ServiceKind,
    pub price_per_1000: Price,
    pub min: u64,
    pub max: u64,
}

/// A change to a service; `None` leaves the field as it is. Orders already placed keep their
/// own price and name.
#[derive(Debug, Clone, Default)]
pub struct ServicePatch {
    pub name: Option<String>,
    pub category: Option<String>,
    pub kind: Option<ServiceKind>,
    pub price_per_1000: Option<Price>,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub active: Option<bool>,
    /// `Some(None)` takes the service off its provider (manual fulfilment).
    pub provider: Option<Option<(i64, String)>>,
    pub cancel_allowed: Option<bool>,
    pub refill_allowed: Option<bool>,
}

/// An order to write, already validated against everything that needs no database.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub customer_id: CustomerId,
    pub idempotency_key: String,
    pub request: OrderRequest,
    /// The key's allow-list; empty means every service.
    pub allowed_services: Vec<i64>,
    /// The request's signature: a signed request places at most one order, whatever
    /// idempotency key a replay of it carries. `None` for orders not placed over the API.
    pub signature: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// The per-store sequential number (`woo_order_number`).
    pub seq: i64,
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub service_id: i64,
    pub service_name: String,
    pub quantity: u64,
    pub link: String,
    pub custom_comments: Option<String>,
    pub client_order_ref: Option<String>,
    pub idempotency_key: String,
    /// The price in force when the order was placed.
    pub price_per_1000: Price,
    pub charge: Minor,
    pub refunded: Minor,
    pub status: OrderStatus,
    pub smm_status: Option<String>,
    pub remains: Option<u64>,
    pub start_count: Option<u64>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub provider_id: Option<i64>,
    pub provider_service: Option<String>,
    pub provider_order_id: Option<String>,
    pub upstream: Upstream,
    /// Submission attempts that never reached the provider.
    pub attempts: u32,
    pub next_attempt_at: Option<Millis>,
    pub last_error: Option<String>,
}

/// The orders one claim took, all leased until `until`; what is found out about them is recorded
/// under that lease, so that a worker that outlasted it cannot undo a newer decision.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub until: Millis,
    pub orders: Vec<OrderRecord>,
}

/// The status every order is created with; a replayed creation answer shows this status.
pub const INITIAL_ORDER_STATUS: OrderStatus = OrderStatus::Pending;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderPlaced {
    Created(OrderRecord),
    /// The idempotency key was used before with the same request: the original order.
    Replayed(OrderRecord),
}

impl OrderPlaced {
    pub fn order(&self) -> &OrderRecord {
        match self {
            OrderPlaced::Created(o) | OrderPlaced::Replayed(o) => o,
        }
    }
}

/// A status change from an operator or a provider sync.
#[derive(Debug, Clone, Default)]
pub struct StatusChange {
    /// `None` keeps the status and only updates the upstream fields.
    pub status: Option<OrderStatus>,
    pub smm_status: Option<String>,
    /// Required for `partial`: undelivered units, which decide the refund.
    pub remains: Option<u64>,
    pub start_count: Option<u64>,
    /// An operator's refund of an order a provider has or may have (`submitted`,
    /// `needs_review`): they confirm the provider will not deliver it. Without it such a refund
    /// is refused. Any change of an order being sent right now (`submitting`) always is.
    pub provider_will_not_deliver: bool,
}

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub customer_id: Option<CustomerId>,
    pub status: Option<OrderStatus>,
    /// Operators only: orders in this upstream state (e.g. `needs_review`).
    pub upstream: Option<Upstream>,
    pub page: u32,
    pub limit: u32,
}

impl OrderFilter {
    pub fn for_customer(customer_id: CustomerId, page: PageRequest) -> Self {
        Self { customer_id: Some(customer_id), status: page.status, upstream: None, page: page.page, limit: page.limit }
    }

    pub fn offset(&self) -> u64 {
        (self.page.max(1) as u64 - 1) * self.limit as u64
    }
}

#[derive(Debug, Clone)]
pub struct OrderPage {
    pub orders: Vec<OrderRecord>,
    pub total: u64,
}

/// The result of checking the books: every way money could have been lost or invented.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BooksReport {
    pub wallets: u64,
    pub orders: u64,
    pub ledger_entries: u64,
    /// Wallets whose balance differs from the sum of their ledger.
    pub balance_mismatches: Vec<i64>,
    /// Orders without their charge entry (`order:<id>`) of `-charge` from their customer.
    pub orders_without_one_charge: Vec<String>,
    /// Charge and refund entries (their references) that point at no order or carry another
    /// reference than their order's, and other entries under an order's reference. With the
    /// references unique, this is what keeps an order to one charge and one refund.
    pub entries_without_order: Vec<String>,
    /// Orders whose refund entry (`refund:<id>`) does not match `refunded`, that refunded more than
    /// the charge, or whose refund was paid to another customer than the order's.
    pub refund_mismatches: Vec<String>,
    pub negative_balances: Vec<i64>,
    /// Customers whose order counts (behind `total` of the order list) differ from their orders.
    pub order_count_mismatches: Vec<i64>,
}

impl BooksReport {
    pub fn is_balanced(&self) -> bool {
        self.balance_mismatches.is_empty()
            && self.orders_without_one_charge.is_empty()
            && self.entries_without_order.is_empty()
            && self.refund_mismatches.is_empty()
            && self.negative_balances.is_empty()
            && self.order_count_mismatches.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// Identity verification

/// A submission to write. The server seals the personal data (the id number and the documents)
/// before the store sees it, with associated data naming `reference` and the slot, so a sealed
/// value copied into another verification or slot does not open.
#[derive(Clone)]
pub struct NewVerification {
    pub customer_id: CustomerId,
    /// Random and unguessable, drawn by the server before sealing (the numeric id is only known
    /// after the insert, too late to bind the ciphertexts to it).
    pub reference: String,
    pub verify_type: VerifyType,
    pub first_name: String,
    pub gender: Gender,
    pub id_number_sealed: Vec<u8>,
    pub documents: Vec<NewDocument>,
    /// Who submitted, for the audit trail (`api_key:bs_live_...`).
    pub actor: String,
}

#[derive(Clone)]
pub struct NewDocument {
    pub slot: DocumentSlot,
    pub kind: DocumentType,
    /// Decoded size in bytes.
    pub size: u64,
    pub sealed: Vec<u8>,
}

/// What a verification record says about one of its documents (the bytes stay in the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentInfo {
    pub slot: DocumentSlot,
    pub kind: DocumentType,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRecord {
    pub id: i64,
    pub reference: String,
    pub customer_id: CustomerId,
    pub status: VerificationStatus,
    pub verify_type: VerifyType,
    pub first_name: String,
    pub gender: Gender,
    pub id_number_sealed: Vec<u8>,
    /// In slot order.
    pub documents: Vec<DocumentInfo>,
    pub submitted_at: Millis,
    pub reviewed_at: Option<Millis>,
    pub reviewed_by: Option<String>,
    pub review_reason: Option<String>,
}

/// One sealed document, with what is needed to open it.
#[derive(Clone)]
pub struct SealedDocument {
    pub verification_id: i64,
    pub reference: String,
    pub info: DocumentInfo,
    pub sealed: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct VerificationFilter {
    pub status: Option<VerificationStatus>,
    pub customer_id: Option<CustomerId>,
    /// Most records returned, oldest first (the review queue reads top-down).
    pub limit: u32,
}

/// An operator's decision about a verification in process.
#[derive(Debug, Clone)]
pub struct Review {
    pub verification_id: i64,
    pub action: ReviewAction,
    /// Who decided (the operator's name); required, every decision has an author.
    pub actor: String,
    pub reason: Option<String>,
}

text_enum!(
    /// What happened to a verification, as the audit trail records it.
    AuditAction { Submit = "submit", Approve = "approve", Reject = "reject", Cancel = "cancel" }
);

impl From<ReviewAction> for AuditAction {
    fn from(action: ReviewAction) -> Self {
        match action {
            ReviewAction::Approve => AuditAction::Approve,
            ReviewAction::Reject => AuditAction::Reject,
            ReviewAction::Cancel => AuditAction::Cancel,
        }
    }
}

/// One line of the append-only audit trail: who did what to which verification, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub verification_id: i64,
    pub customer_id: CustomerId,
    pub action: AuditAction,
    pub from_status: Option<VerificationStatus>,
    pub to_status: VerificationStatus,
    pub actor: String,
    pub reason: Option<String>,
    pub created_at: Millis,
}

// ---------------------------------------------------------------------------------------------
// Fulfilment

#[derive(Debug, Clone)]
pub struct NewProvider {
    pub name: String,
    pub kind: ProviderKind,
    pub url: Option<String>,
    /// The provider's API key, sealed by the server's vault.
    pub key_sealed: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRecord {
    pub id: i64,
    pub name: String,
    pub kind: ProviderKind,
    pub url: Option<String>,
    pub key_sealed: Option<Vec<u8>>,
    pub created_at: Millis,
}

/// What happened when a worker sent an order to its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// The provider took it under this id.
    Accepted { provider_order_id: String },
    /// The request never left (connection refused, DNS): safe to send again at `retry_at`.
    NotSent { error: String, retry_at: Millis },
    /// An operator must decide: it may have reached the provider (timeout, reset, 5xx,
    /// unreadable answer) — never resend, never refund automatically — or it could not be sent
    /// within the bounded retries.
    NeedsReview { reason: String },
    /// The provider answered that it will not take it: cancel and refund in full.
    Rejected { error: String },
}

/// An operator's decision on an order in `needs_review`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The provider has it under this id: poll it from now on.
    Attach { provider_order_id: String },
    /// The provider does not have it: send it again.
    Requeue,
    /// Settled (completed or refunded) and dealt with at the provider: close the upstream side
    /// and change nothing else.
    Dismiss,
}

/// What a customer's cancel request led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Not yet at a provider: canceled and refunded now.
    Canceled(OrderRecord),
    /// At a provider: the provider must be asked; the refund follows its answer.
    AskProvider(OrderRecord),
}

/// The status of a refill reserved under an idempotency key while its provider is asked.
pub const REFILL_REQUESTING: &str = "requesting";
/// A refill of a manual service, waiting for an operator.
pub const REFILL_PENDING: &str = "pending";
/// A refill its provider was asked for.
pub const REFILL_REQUESTED: &str = "requested";
/// The statuses an operator closes a refill with: done, or will not be.
pub const REFILL_CLOSED: [&str; 2] = ["completed", "rejected"];
/// Every status a refill can have.
pub const REFILL_STATUSES: [&str; 5] =
    [REFILL_REQUESTING, REFILL_PENDING, REFILL_REQUESTED, REFILL_CLOSED[0], REFILL_CLOSED[1]];

/// Refill requests an operator lists (see `Store::refills`), newest first.
#[derive(Debug, Clone, Default)]
pub struct RefillFilter {
    pub status: Option<String>,
    pub order_id: Option<String>,
    pub limit: u32,
}

/// What reserving a refill under an idempotency key found (see `Store::reserve_refill`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefillReservation {
    /// The key is this request's now: ask, then settle or release it ([`RefillRecord::hold`]).
    Reserved(RefillRecord),
    /// A refill was asked for under the key already: it is the answer.
    Earlier(RefillRecord),
    /// Another request is asking under the key right now.
    Busy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefillRecord {
    pub id: i64,
    pub order_id: String,
    pub provider_refill_id: Option<String>,
    pub status: String,
    pub created_at: Millis,
}

impl RefillRecord {
    /// The hold of the request that reserved this refill (see [`RefillHold`]).
    pub fn hold(&self) -> RefillHold {
        RefillHold { refill: self.id, taken_at: self.created_at }
    }
}

/// A refill key held by one request: its reservation's row and when the request took it.
/// Settling or giving back a reservation needs both. A takeover keeps the row and moves the time
/// (by at least the lease), so a request that stalled past its lease can neither settle nor give
/// back the reservation of the request that took it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefillHold {
    pub refill: i64,
    pub taken_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub customer_id: CustomerId,
    pub url: String,
    /// The signing secret (`whsec_...`), sealed by the server's vault.
    pub secret_sealed: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: i64,
    pub customer_id: CustomerId,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub active: bool,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub endpoint_id: i64,
    pub message_id: String,
    pub event_type: String,
    pub payload: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Option<Millis>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A delivery a dispatcher claimed, with where and how to send it.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub delivery: DeliveryRecord,
    pub customer_id: CustomerId,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    /// The claim's lease: the attempt is recorded only while the delivery is still leased until
    /// exactly this time (a later claim leases it later).
    pub claimed_until: Millis,
}

/// The result of one delivery attempt.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
    /// When to try again; `None` after a success or at the end of the schedule.
    pub retry_at: Option<Millis>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<i64>,
    pub customer_id: Option<CustomerId>,
    pub state: Option<DeliveryState>,
    pub limit: u32,
}

/// Why a customer's cancel or refill request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionRefusal {
    /// The service does not allow cancellation.
    CancelNotSupported,
    /// The order is past the point where it can be canceled.
    NotCancelable,
    /// The order is being sent to its provider right now; ask again shortly.
    InProgress,
    /// The service does not allow refills.
    RefillNotSupported,
    /// Only completed or partial orders can be refilled.
    NotRefillable,
}
