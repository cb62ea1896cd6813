//! Model-based property test of the money paths: random sequences of top-ups, adjustments,
//! orders and status changes run against the real store and against a tiny model of the rules.
//! After every step the balance matches the model and never goes below zero; at the end every
//! balance equals the sum of its ledger and every order has exactly one charge and at most one
//! refund, never above its charge.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use kassa_core::catalog::ServiceKind;
use kassa_core::money::partial_refund;
use kassa_core::validation::OrderRequest;
use kassa_core::{Minor, OrderId, OrderStatus};
use kassa_store::{LedgerKind, NewLedgerEntry, NewOrder, StatusChange, StoreError};

use crate::support::{Backend, TestServer};

crate::backend_tests!(random_money_operations_keep_the_books);

#[derive(Debug, Clone)]
enum Op {
    Credit(i64),
    Debit(i64),
    Order { service: usize, quantity: u64 },
    Complete(usize),
    Partial { order: usize, remains_permille: u64 },
    Cancel(usize),
    Refund(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..=5_000).prop_map(Op::Credit),
        (1i64..=3_000).prop_map(Op::Debit),
        (0usize..3, 1u64..=5_000).prop_map(|(service, quantity)| Op::Order { service, quantity }),
        (0usize..64).prop_map(Op::Complete),
        (0usize..64, 0u64..=1000).prop_map(|(order, remains_permille)| Op::Partial { order, remains_permille }),
        (0usize..64).prop_map(Op::Cancel),
        (0usize..64).prop_map(Op::Refund),
    ]
}

struct ModelOrder {
    id: OrderId,
    quantity: u64,
    charge: i64,
    status: OrderStatus,
}

async fn random_money_operations_keep_the_books(backend: Backend) {
    let mut runner = TestRunner::new(Config { cases: 12, ..Config::default() });
    let strategy = proptest::collection::vec(op(), 1..60);
    for case in 0..12 {
        let ops = strategy.new_tree(&mut runner).expect("generate").current();
        run_case(backend, case, &ops).await;
    }
}

async fn run_case(backend: Backend, case: usize, ops: &[Op]) {
    let server = TestServer::start(backend).await;
    let store = server.store.clone();
    let currency = store.currency().clone();
    let prices = ["0.45", "1.50", "7.77"];
    let mut services = Vec::new();
    for price in prices {
        services.push(server.service(ServiceKind::Default, price, 1, 1_000_000).await);
    }
    let account = server.customer("0").await;
    let customer = account.customer;
    let mut balance = 0i64;
    let mut orders: Vec<ModelOrder> = Vec::new();
    let context = |step: usize| format!("case {case}, step {step} of {ops:?}");

    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Credit(amount) | Op::Debit(amount) => {
                let (kind, delta) = match op {
                    Op::Credit(_) => (LedgerKind::Topup, *amount),
                    _ => (LedgerKind::Adjustment, -*amount),
                };
                let result = store
                    .post_ledger_entry(NewLedgerEntry {
                        customer_id: customer,
                        kind,
                        amount: Minor(delta),
                        reference: format!("op-{step}"),
                        note: None,
                    })
                    .await;
                if balance + delta >= 0 {
                    assert_eq!(
                        result.unwrap_or_else(|_| panic!("{}", context(step))).entry.balance_after.0,
                        balance + delta,
                        "{}",
                        context(step)
                    );
                    balance += delta;
                } else {
                    assert!(matches!(result, Err(StoreError::Invalid(_))), "{}: {result:?}", context(step));
                }
            }
            Op::Order { service, quantity } => {
                let service = &services[*service];
                let charge = currency.charge(service.price_per_1000, *quantity).unwrap().0;
                let request = OrderRequest {
                    service_id: service.id,
                    quantity: *quantity,
                    link: "x".into(),
                    client_order_ref: None,
                    custom_comments: None,
                };
                let result = store
                    .create_order(NewOrder {
                        customer_id: customer,
                        idempotency_key: format!("k{step}"),
                        request,
                        allowed_services: vec![],
                        signature: None,
                    })
                    .await;
                if charge <= balance {
                    let placed = result.unwrap_or_else(|_| panic!("{}", context(step)));
                    assert_eq!(placed.order().charge.0, charge);
                    balance -= charge;
                    orders.push(ModelOrder {
                        id: placed.order().id.clone(),
                        quantity: *quantity,
                        charge,
                        status: OrderStatus::Pending,
                    });
                } else {
                    assert!(matches!(result, Err(StoreError::Refused(_))), "{}: {result:?}", context(step));
                }
            }
            Op::Complete(i) | Op::Cancel(i) | Op::Refund(i) | Op::Partial { order: i, .. } => {
                if orders.is_empty() {
                    continue;
                }
                let index = i % orders.len();
                let order = &mut orders[index];
                let (next, remains) = match op {
                    Op::Complete(_) => (OrderStatus::Completed, None),
                    Op::Cancel(_) => (OrderStatus::Canceled, None),
                    Op::Refund(_) => (OrderStatus::Refunded, None),
                    Op::Partial { remains_permille, .. } => {
                        (OrderStatus::Partial, Some(order.quantity * remains_permille / 1000))
                    }
                    _ => unreachable!(),
                };
                let result = store
                    .change_order(&order.id, StatusChange { status: Some(next), remains, ..Default::default() })
                    .await;
                if order.status == next {
                    assert!(result.is_ok(), "{}: repeating a status is a no-op", context(step));
                } else if order.status.can_become(next) {
                    let refund = match next {
                        OrderStatus::Partial => {
                            partial_refund(Minor(order.charge), remains.unwrap(), order.quantity).unwrap().0
                        }
                        OrderStatus::Canceled | OrderStatus::Refunded => order.charge,
                        _ => 0,
                    };
                    assert_eq!(
                        result.unwrap_or_else(|_| panic!("{}", context(step))).refunded.0,
                        refund,
                        "{}",
                        context(step)
                    );
                    balance += refund;
                    order.status = next;
                } else {
                    assert!(
                        matches!(result, Err(StoreError::InvalidTransition { .. })),
                        "{}: {result:?}",
                        context(step)
                    );
                }
            }
        }
        let stored = store.wallet(customer).await.unwrap().balance.0;
        assert_eq!(stored, balance, "{}", context(step));
        assert!(stored >= 0);
    }
    let books = store.audit_books().await.unwrap();
    assert!(books.is_balanced(), "case {case}: {books:?}");
    assert_eq!(books.orders as usize, orders.len());
}
