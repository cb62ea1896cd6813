//! Decisions both stores make the same way, kept in one place: each store only applies them with
//! its own SQL inside its own transaction.

use std::time::Duration;

use kassa_core::money::partial_refund;
use kassa_core::order::RefundRule;
use kassa_core::validation::MAX_QUANTITY;
use kassa_core::{Minor, OrderStatus};

use crate::model::{
    ActionRefusal, DeliveryAttempt, DeliveryState, LedgerEntry, LedgerKind, Millis, NewLedgerEntry, NewProvider,
    OrderRecord, Posted, ProviderKind, RefillRecord, ServiceRecord, StatusChange, Submission, Upstream, REFILL_CLOSED,
    REFILL_PENDING, REFILL_REQUESTED,
};
use crate::{StoreError, StoreResult};

/// What a status change does to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePlan {
    pub status: OrderStatus,
    /// Paid back to the wallet by this change (zero if none).
    pub refund: Minor,
    pub refunded_total: Minor,
    pub remains: Option<u64>,
}

/// The answer to enabling or disabling a revoked key.
pub fn revoked_stays_revoked() -> StoreError {
    StoreError::Invalid("a revoked key stays revoked; create a new key".into())
}

/// Whether an order's money is settled: delivered, or refunded in whole or in part. The provider
/// has nothing more to do for such an order, so nothing is sent for it and status checks cannot
/// change it (see [`refused_report`]).
pub fn is_settled(status: OrderStatus) -> bool {
    status.is_final() || status == OrderStatus::Completed
}

/// Whether an operator may tie an order to `provider_order_id`: not if another order of the same
/// provider is tied to it (`holder`), or both would follow one provider order, and one
/// cancellation there would refund both.
pub fn may_attach(provider_order_id: &str, holder: Option<&str>) -> StoreResult<()> {
    match holder {
        Some(holder) => Err(StoreError::Invalid(format!(
            "provider order {provider_order_id} already belongs to order {holder}; check the id with the provider"
        ))),
        None => Ok(()),
    }
}

/// Whether an order in review may be sent to its provider again: not if the provider's answer
/// that it accepted the order came in after the order went to review (its id is kept then), or
/// the provider would get it twice; and not once it is settled, or the provider would deliver an
/// order that was delivered or refunded already.
pub fn may_requeue(current: &OrderRecord) -> StoreResult<()> {
    if let Some(provider_order_id) = &current.provider_order_id {
        return Err(StoreError::Invalid(format!(
            "the provider accepted order {} as {provider_order_id}; attach it with that id instead of sending it again",
            current.id
        )));
    }
    if is_settled(current.status) {
        return Err(StoreError::Invalid(format!(
            "order {} is {}: sending it again would deliver an order that is settled. If a provider holds it, cancel \
             it there, then dismiss the review",
            current.id, current.status
        )));
    }
    Ok(())
}

/// The note kept when a provider's answer to a submission comes after its claim ended. It is
/// appended to the order's note, so the reason the order went to review is not lost.
pub fn late_note(submission: &Submission) -> String {
    format!("submission outcome after its claim ended: {submission:?}")
}

/// Whether an operator may close an order's review without sending or attaching it: only once its
/// money is settled (the operator has dealt with the provider). An order the customer paid for
/// and did not get is attached, requeued or canceled (which refunds it) instead.
pub fn may_dismiss(current: &OrderRecord) -> StoreResult<()> {
    if is_settled(current.status) {
        return Ok(());
    }
    Err(StoreError::Invalid(format!(
        "order {} is {} and paid for: attach it to the provider order that holds it, requeue it, or cancel it \
         (which refunds it); a review is dismissed only for a completed or refunded order",
        current.id, current.status
    )))
}

/// Where an order goes when its provider reports a status our state machine does not allow, and
/// the note kept for the operator. A settled order cannot change any more, so checking it again
/// learns nothing: it goes to review (the provider delivered an order we refunded, say), where an
/// operator settles it with the provider and dismisses the review. Any other order stays
/// `submitted` and is checked again (a partial report without usable remains may be followed by
/// a usable one).
pub fn refused_report(current: &OrderRecord, change: &StatusChange) -> (Upstream, String) {
    let reported = change.smm_status.as_deref().or(change.status.map(OrderStatus::as_str)).unwrap_or("nothing usable");
    let note = format!("provider reported {reported:?} while the order is {}", current.status);
    if is_settled(current.status) {
        (Upstream::NeedsReview, format!("{note}; settle it with the provider, then dismiss the review"))
    } else {
        (current.upstream, note)
    }
}

/// Whether an operator's change may be made where the order's provider stands now (read in the
/// changing transaction, so a worker claiming the order meanwhile is seen). While the order is
/// being sent, the sending worker's answer decides it, so nothing else may. A refund for an
/// order a provider will still deliver is a ghost order the operator pays for.
pub fn operator_change_allowed(current: &OrderRecord, change: &StatusChange) -> Result<(), StoreError> {
    if current.upstream == Upstream::Submitting {
        return Err(StoreError::Invalid(format!(
            "order {} is being sent to its provider right now; wait for the answer (if none comes it goes to \
             needs_review)",
            current.id
        )));
    }
    let refunds = change.status.is_some_and(|next| next != current.status && next.refund_rule() != RefundRule::None);
    if !refunds {
        return Ok(());
    }
    let holder = match (&current.provider_id, &current.provider_order_id) {
        (Some(p), Some(o)) => format!("provider {p} holds it as order {o}"),
        (Some(p), None) => format!("provider {p} may hold it"),
        _ => "its provider may hold it".to_string(),
    };
    match current.upstream {
        Upstream::Submitted | Upstream::NeedsReview if !change.provider_will_not_deliver => {
            Err(StoreError::Invalid(format!(
                "order {} is not only ours: {holder}. Cancel it there first (a provider cancellation is synced and \
                 refunded by itself), or, if the provider surely will not deliver it, run again with --confirm",
                current.id
            )))
        }
        _ => Ok(()),
    }
}

/// Decides a status change: whether the transition is allowed and what it refunds. Repeating the
/// current status is not a transition and refunds nothing; a final order keeps the `remains` its
/// refund was computed from.
pub fn plan_change(current: &OrderRecord, change: &StatusChange) -> Result<ChangePlan, StoreError> {
    // The databases store unit counts as signed 64-bit integers: a larger one is refused here,
    // not wrapped into a negative number the order could then not be read back with.
    for (field, value) in [("remains", change.remains), ("start_count", change.start_count)] {
        if let Some(value) = value.filter(|&v| i64::try_from(v).is_err()) {
            return Err(StoreError::Invalid(format!("{field} {value} is too large")));
        }
    }
    let mut plan = ChangePlan {
        status: current.status,
        refund: Minor::ZERO,
        refunded_total: current.refunded,
        remains: if current.status.is_final() { current.remains } else { change.remains.or(current.remains) },
    };
    let Some(next) = change.status.filter(|&next| next != current.status) else {
        return Ok(plan);
    };
    if !current.status.can_become(next) {
        return Err(StoreError::InvalidTransition { from: current.status, to: next });
    }
    plan.refund = match next.refund_rule() {
        RefundRule::None => Minor::ZERO,
        RefundRule::Full => {
            plan.remains = Some(change.remains.unwrap_or(current.quantity));
            Minor(current.charge.0 - current.refunded.0)
        }
        RefundRule::Undelivered => {
            let undelivered = change
                .remains
                .ok_or_else(|| StoreError::Invalid("a partial order needs remains (undelivered units)".into()))?;
            partial_refund(current.charge, undelivered, current.quantity).ok_or_else(|| {
                StoreError::Invalid(format!("remains {undelivered} exceeds the order quantity {}", current.quantity))
            })?
        }
    };
    plan.refunded_total = Minor(current.refunded.0 + plan.refund.0);
    plan.status = next;
    Ok(plan)
}

/// The upstream state and error note an order has after `plan`: what the caller says, else
/// `closed` once the order is final, else unchanged.
pub fn upstream_after(
    current: &OrderRecord,
    plan: &ChangePlan,
    explicit: Option<(Upstream, Option<&str>)>,
) -> (Upstream, Option<String>) {
    match explicit {
        Some((upstream, error)) => (upstream, error.map(str::to_string)),
        // Completed is not final (an operator may still refund it) but the provider is done with it.
        None if is_settled(plan.status) => (Upstream::Closed, current.last_error.clone()),
        None => (current.upstream, current.last_error.clone()),
    }
}

/// What a customer's cancel request can do with an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelDecision {
    /// Nothing reached a provider: cancel and refund now.
    Local,
    /// The provider has it: ask the provider; its answer decides.
    AskProvider,
    /// Canceled already (a retried cancel whose answer was lost, or the provider's report): the
    /// order as it stands is the answer, and nothing is refunded again.
    AlreadyCanceled,
}

pub fn cancel_decision(order: &OrderRecord, service: Option<&ServiceRecord>) -> Result<CancelDecision, StoreError> {
    if order.status == OrderStatus::Canceled {
        return Ok(CancelDecision::AlreadyCanceled);
    }
    if !service.is_some_and(|s| s.cancel_allowed) {
        return Err(StoreError::NotAllowed(ActionRefusal::CancelNotSupported));
    }
    if order.status.is_final() {
        return Err(StoreError::NotAllowed(ActionRefusal::NotCancelable));
    }
    match order.upstream {
        Upstream::Manual | Upstream::Queued if order.status == kassa_core::OrderStatus::Pending => {
            Ok(CancelDecision::Local)
        }
        Upstream::Submitted => Ok(CancelDecision::AskProvider),
        Upstream::Submitting => Err(StoreError::NotAllowed(ActionRefusal::InProgress)),
        _ => Err(StoreError::NotAllowed(ActionRefusal::NotCancelable)),
    }
}

/// Whether an operator may close a refill as `status`: `completed` or `rejected`, and only one
/// that waits for an operator (`pending`, of a manual service) or was asked of its provider
/// (`requested`). One being asked for right now (`requesting`) is left to its request, and a
/// closed one stays as it was closed.
pub fn may_close_refill(current: &RefillRecord, status: &str) -> StoreResult<()> {
    if !REFILL_CLOSED.contains(&status) {
        return Err(StoreError::Invalid(format!("a refill is closed as completed or rejected, not {status:?}")));
    }
    if current.status != REFILL_PENDING && current.status != REFILL_REQUESTED {
        return Err(StoreError::Invalid(format!(
            "refill {} is {}: only a pending or requested refill is closed",
            current.id, current.status
        )));
    }
    Ok(())
}

/// Whether an order may be refilled, and through its provider or by hand.
pub fn check_refill(order: &OrderRecord, service: Option<&ServiceRecord>) -> Result<(), StoreError> {
    if !service.is_some_and(|s| s.refill_allowed) {
        return Err(StoreError::NotAllowed(ActionRefusal::RefillNotSupported));
    }
    if !matches!(order.status, kassa_core::OrderStatus::Completed | kassa_core::OrderStatus::Partial) {
        return Err(StoreError::NotAllowed(ActionRefusal::NotRefillable));
    }
    Ok(())
}

/// A provider needs a name, and an `smm-v2` one a URL and a key.
pub fn check_provider(new: &NewProvider) -> Result<(), StoreError> {
    if new.name.trim().is_empty() || new.name.len() > 64 {
        return Err(StoreError::Invalid("a provider name is 1 to 64 characters".into()));
    }
    if new.kind == ProviderKind::SmmV2 && (new.url.is_none() || new.key_sealed.is_none()) {
        return Err(StoreError::Invalid("an smm-v2 provider needs --url and --key".into()));
    }
    Ok(())
}

/// The provider's order id of an accepted submission.
pub fn accepted_id(submission: &Submission) -> Option<&str> {
    match submission {
        Submission::Accepted { provider_order_id } => Some(provider_order_id),
        _ => None,
    }
}

/// The status checks a claim at `now` takes, as (due by, leased until). Looking ahead is capped
/// at half the lease: an order checked early must not be due again while its lease runs, or every
/// round would check it again (a poll interval set well above the lease made that happen).
pub fn poll_window(now: Millis, ahead: Duration, lease: Duration) -> (Millis, Millis) {
    let ahead = ahead.min(lease / 2);
    (now + ahead.as_millis() as Millis, now + lease.as_millis() as Millis)
}

/// How a submission's outcome is recorded, given the claim it was made under.
#[derive(Debug, PartialEq, Eq)]
pub enum SubmissionFate {
    /// The order is still `submitting` under this very claim: the outcome decides its state.
    Apply,
    /// The claim is gone (it ran out and the order went to review, or was sent again under a
    /// newer claim, or an operator decided): the outcome is only noted, and an accepting
    /// provider's id kept, so that the order is not sent again. A late "not sent" or "unclear"
    /// says no more than the review the lapsed claim led to, where an operator already decided.
    Late,
    /// The claim is gone and the order waits in the queue to be sent again (an operator requeued
    /// it after review), but the provider says it took the earlier attempt: the order is attached
    /// to that provider order, as an operator's attach would, instead of being sent twice.
    Attach(String),
    /// Under this claim, but a late answer of an earlier attempt says the provider already took
    /// the order: an operator must decide, whatever this attempt says (the provider may hold it
    /// twice). Also a late acceptance of an order sent again and accepted under another id, or
    /// closed meanwhile.
    Review(String),
    /// The claim is gone and the order already carries this acceptance (a retry whose first
    /// attempt committed unseen): nothing to note.
    Known,
}

pub fn submission_fate(
    current: &OrderRecord,
    current_claim: Option<Millis>,
    made_under: Millis,
    submission: &Submission,
) -> SubmissionFate {
    if current.upstream != Upstream::Submitting || current_claim != Some(made_under) {
        return match accepted_id(submission) {
            Some(accepted) if current.provider_order_id.as_deref() == Some(accepted) => SubmissionFate::Known,
            Some(accepted) if current.upstream == Upstream::Queued && current.provider_order_id.is_none() => {
                SubmissionFate::Attach(format!(
                    "the provider accepted an earlier attempt as {accepted} after its claim ran out; attached to it \
                     instead of sending the order again"
                ))
            }
            // Review or the new attempt's answer decides (see `Review`).
            Some(_) if matches!(current.upstream, Upstream::Submitting | Upstream::NeedsReview) => SubmissionFate::Late,
            // Sent again and accepted under another id, or closed (and perhaps refunded) meanwhile:
            // the provider holds an order we do not count on, so an operator must look.
            Some(accepted) => SubmissionFate::Review(format!(
                "the provider accepted an earlier attempt as {accepted} after its claim ran out, while the order is \
                 {} ({}{}). Cancel any duplicate at the provider, then attach the order to the one that stays",
                current.status,
                current.upstream,
                current.provider_order_id.as_deref().map(|id| format!(", provider order {id}")).unwrap_or_default(),
            )),
            None => SubmissionFate::Late,
        };
    }
    match (&current.provider_order_id, accepted_id(submission)) {
        (Some(earlier), now) if now != Some(earlier.as_str()) => SubmissionFate::Review(format!(
            "the provider accepted an earlier attempt as {earlier} after its claim ran out; this attempt: {submission:?}. \
             Cancel any duplicate at the provider, then attach the order to the one that stays"
        )),
        _ => SubmissionFate::Apply,
    }
}

/// Prefixes of the ledger references orders write; operators' entries may not use them.
const CHARGE_PREFIX: &str = "order:";
const REFUND_PREFIX: &str = "refund:";

/// The ledger reference of an order's charge and of its (only) refund.
pub fn charge_reference(order_id: &str) -> String {
    format!("{CHARGE_PREFIX}{order_id}")
}

pub fn refund_reference(order_id: &str) -> String {
    format!("{REFUND_PREFIX}{order_id}")
}

/// Checks an operator's ledger entry before it is applied.
pub fn check_operator_entry(entry: &NewLedgerEntry) -> Result<(), StoreError> {
    if entry.amount.0 == 0 {
        return Err(StoreError::Invalid("a ledger entry must move money".into()));
    }
    if matches!(entry.kind, LedgerKind::OrderCharge | LedgerKind::OrderRefund) {
        return Err(StoreError::Invalid("order charges and refunds are written by orders only".into()));
    }
    // An entry named like an order's refund would take that reference, and the order's own
    // refund (cancel, partial delivery) would then fail on it every time.
    if let Some(prefix) = [CHARGE_PREFIX, REFUND_PREFIX].into_iter().find(|p| entry.reference.starts_with(p)) {
        return Err(StoreError::Invalid(format!(
            "references starting with {prefix:?} belong to orders' charges and refunds; choose another"
        )));
    }
    if entry.kind == LedgerKind::Topup && entry.amount.is_negative() {
        return Err(StoreError::Invalid("a top-up must be positive; use an adjustment to take money out".into()));
    }
    Ok(())
}

/// An operator's entry whose reference is in the ledger already: the same entry again (a retry
/// after a lost answer) gets the original back, so it is applied once and the retry learns so;
/// anything else under that reference is refused.
pub fn replayed_entry(existing: LedgerEntry, asked: &NewLedgerEntry) -> Result<Posted, StoreError> {
    if (existing.customer_id, existing.kind, existing.amount) == (asked.customer_id, asked.kind, asked.amount) {
        Ok(Posted { entry: existing, replayed: true })
    } else {
        Err(StoreError::Conflict(format!(
            "ledger reference {:?} was already used for another entry ({} {} minor units for customer {})",
            existing.reference, existing.kind, existing.amount.0, existing.customer_id
        )))
    }
}

pub fn uncovered_adjustment(balance: Minor, amount: Minor) -> StoreError {
    StoreError::Invalid(format!(
        "the wallet holds {} minor units, less than the {} the adjustment takes",
        balance.0, -amount.0
    ))
}

/// Service quantity bounds: `1 <= min <= max <= MAX_QUANTITY`.
pub fn check_quantity_bounds(min: u64, max: u64) -> Result<(), StoreError> {
    if min == 0 || max < min || max > MAX_QUANTITY {
        return Err(StoreError::Invalid(format!("need 1 <= min <= max <= {MAX_QUANTITY}, got min {min} max {max}")));
    }
    Ok(())
}

/// Reads the `slot:type:size,...` list both stores aggregate from `verification_documents`.
pub fn parse_document_list(text: &str) -> Result<Vec<crate::model::DocumentInfo>, String> {
    let mut infos = text
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut fields = part.splitn(3, ':');
            let (Some(slot), Some(kind), Some(size)) = (fields.next(), fields.next(), fields.next()) else {
                return Err(format!("malformed document list {part:?}"));
            };
            Ok(crate::model::DocumentInfo {
                slot: slot
                    .parse::<i64>()
                    .ok()
                    .and_then(crate::model::DocumentSlot::from_number)
                    .ok_or_else(|| format!("bad slot {slot:?}"))?,
                kind: kind.parse().map_err(|e: String| e)?,
                size: size.parse().map_err(|e| format!("{e}"))?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    infos.sort_by_key(|info| info.slot);
    Ok(infos)
}

/// Most active webhook endpoints per customer.
pub const MAX_WEBHOOKS_PER_CUSTOMER: usize = 10;

pub fn check_webhook_count(active: usize) -> Result<(), StoreError> {
    if active >= MAX_WEBHOOKS_PER_CUSTOMER {
        return Err(StoreError::Invalid(format!("at most {MAX_WEBHOOKS_PER_CUSTOMER} webhook endpoints per customer")));
    }
    Ok(())
}

/// A Standard Webhooks message id: `msg_` and 24 random characters.
pub fn message_id() -> String {
    format!(
        "msg_{}",
        kassa_core::ids::random_token(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 24)
    )
}

/// Where a delivery stands after an attempt.
pub fn delivery_state_after(attempt: &DeliveryAttempt) -> DeliveryState {
    match (attempt.delivered, attempt.retry_at) {
        (true, _) => DeliveryState::Delivered,
        (false, Some(_)) => DeliveryState::Pending,
        (false, None) => DeliveryState::Failed,
    }
}

/// Comma-separated list columns (allowed IPs, allowed services).
pub fn join_list<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// The books checks: plain SQL both databases run as is. Each query lists offenders.
pub mod audit {
    pub const COUNT_WALLETS: &str = "SELECT COUNT(*) FROM wallets";
    pub const COUNT_ORDERS: &str = "SELECT COUNT(*) FROM orders";
    pub const COUNT_LEDGER: &str = "SELECT COUNT(*) FROM ledger_entries";
    pub const BALANCE_MISMATCHES: &str = "SELECT w.customer_id FROM wallets w
         LEFT JOIN (SELECT customer_id, SUM(amount) AS total FROM ledger_entries GROUP BY customer_id) l
           ON l.customer_id = w.customer_id
         WHERE w.balance <> COALESCE(l.total, 0) ORDER BY w.customer_id LIMIT 100";
    // An order's entries are found by their references (unique): `ENTRIES_WITHOUT_ORDER` checks
    // that every charge and refund carries its order's, so none can hide under another.
    pub const ORDERS_WITHOUT_ONE_CHARGE: &str = "SELECT o.id FROM orders o
         WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e
                           WHERE e.reference = 'order:' || o.id AND e.kind = 'order_charge'
                             AND e.order_id = o.id AND e.amount = -o.charge AND e.customer_id = o.customer_id)
         ORDER BY o.seq LIMIT 100";
    /// Order charges and refunds whose order does not exist or whose reference is not their
    /// order's (`order:<id>`, `refund:<id>`), and other entries under such a reference.
    pub const ENTRIES_WITHOUT_ORDER: &str = "SELECT e.reference FROM ledger_entries e
         WHERE (e.kind IN ('order_charge', 'order_refund')
                AND (NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = e.order_id)
                     OR e.reference <> CASE e.kind WHEN 'order_charge' THEN 'order:' ELSE 'refund:' END || e.order_id))
            OR (e.kind NOT IN ('order_charge', 'order_refund')
                AND (substr(e.reference, 1, 6) = 'order:' OR substr(e.reference, 1, 7) = 'refund:'))
         ORDER BY e.id LIMIT 100";
    pub const REFUND_MISMATCHES: &str = "SELECT o.id FROM orders o
         WHERE o.refunded <> COALESCE((SELECT e.amount FROM ledger_entries e
                                       WHERE e.reference = 'refund:' || o.id AND e.kind = 'order_refund'), 0)
            OR o.refunded > o.charge
            OR EXISTS (SELECT 1 FROM ledger_entries e
                       WHERE e.reference = 'refund:' || o.id AND e.customer_id <> o.customer_id)
         ORDER BY o.seq LIMIT 100";
    pub const NEGATIVE_BALANCES: &str = "SELECT customer_id FROM wallets WHERE balance < 0 LIMIT 100";
    /// Customers whose kept order counts (`order_counts`) differ from their orders.
    pub const ORDER_COUNT_MISMATCHES: &str = "SELECT customer_id FROM (
             SELECT customer_id, status, COUNT(*) AS n FROM orders GROUP BY customer_id, status
             EXCEPT SELECT customer_id, status, count FROM order_counts WHERE count > 0) AS missing
         UNION
         SELECT customer_id FROM (
             SELECT customer_id, status, count FROM order_counts WHERE count > 0
             EXCEPT SELECT customer_id, status, COUNT(*) FROM orders GROUP BY customer_id, status) AS extra
         ORDER BY customer_id LIMIT 100";
}

#[cfg(test)]
mod tests {
    use kassa_core::CustomerId;

    use super::*;

    #[test]
    fn operator_entries_keep_off_the_references_of_orders() {
        let entry = |reference: &str| NewLedgerEntry {
            customer_id: CustomerId(1),
            kind: LedgerKind::Adjustment,
            amount: Minor(500),
            reference: reference.into(),
            note: None,
        };
        assert!(check_operator_entry(&entry("goodwill-BSAPI-ABC123DEF456")).is_ok());
        for taken in [refund_reference("BSAPI-ABC123DEF456"), charge_reference("BSAPI-ABC123DEF456")] {
            let refused = check_operator_entry(&entry(&taken));
            assert!(
                matches!(&refused, Err(StoreError::Invalid(m)) if m.contains("belong to orders")),
                "{taken}: {refused:?}"
            );
        }
    }
}
