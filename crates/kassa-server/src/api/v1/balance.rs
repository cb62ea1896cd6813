use axum::extract::State;
use axum::Json;
use kassa_core::ErrorCode;
use kassa_wire::v1::BalanceResponse;

use crate::auth::v1::Signed;
use crate::error::ApiError;
use crate::state::AppState;
use kassa_store::present::money;

/// `GET /api/v1/balance`
#[utoipa::path(
    get,
    path = "/api/v1/balance",
    tag = "BuyShazam",
    operation_id = "balance",
    summary = "Wallet balance",
    description = "The wallet balance of the customer the API key belongs to. `woo_customer_id` is the customer's numeric id.",
    responses((status = 200, description = "The wallet", body = BalanceResponse)),
)]
pub async fn balance(State(state): State<AppState>, signed: Signed) -> Result<Json<BalanceResponse>, ApiError> {
    let customer = signed.key.customer_id;
    // Read together with the key: one read per request, and the balance of the very snapshot in
    // which the key and its customer were found active.
    let balance = signed.wallet_balance.ok_or_else(|| ApiError::new(ErrorCode::CustomerNotFound))?;
    let currency = state.store.currency();
    Ok(Json(BalanceResponse {
        success: true,
        balance: money(currency, balance),
        currency: currency.code().to_string(),
        woo_customer_id: customer.0,
    }))
}
