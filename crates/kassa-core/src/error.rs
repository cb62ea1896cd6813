//! The error codes of the BuyShazam dialect, each with its HTTP status and default message.
//!
//! The first group is the seed's table, word for word. The second group is what kassa adds for
//! cases the seed leaves open (malformed JSON, pagination, order actions, ...). The third group are
//! codes of the seed that only a WooCommerce back end can produce: kassa never sends them, but
//! they are kept here, documented as reserved, so the SDK can still name them.

macro_rules! error_codes {
    ($( $variant:ident = $code:literal, $status:literal, $message:literal, $class:ident; )*) => {
        /// A wire error code (`"error"` field of every error body).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $variant, )* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// The HTTP status kassa answers with.
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$variant => $status, )* }
            }

            /// The default human message.
            pub fn message(self) -> &'static str {
                match self { $( ErrorCode::$variant => $message, )* }
            }

            /// Where the code comes from: the seed, a kassa addition, or reserved.
            pub fn origin(self) -> CodeOrigin {
                match self { $( ErrorCode::$variant => CodeOrigin::$class, )* }
            }

            pub fn parse(code: &str) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

/// Where an error code is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOrigin {
    /// In the seed's table and produced by kassa.
    Seed,
    /// Added by kassa; documented in `docs/api.md`.
    Kassa,
    /// In the seed's table, only meaningful for a WooCommerce back end; never produced.
    Reserved,
}

error_codes! {
    // The seed's table.
    MissingAuthHeaders = "missing_auth_headers", 401, "X-API-Key, X-Timestamp, or X-Signature is missing.", Seed;
    InvalidApiKey = "invalid_api_key", 401, "The API key is invalid, disabled, revoked, or not active.", Seed;
    InvalidTimestamp = "invalid_timestamp", 401, "X-Timestamp is not a valid Unix timestamp.", Seed;
    TimestampOutOfRange = "timestamp_out_of_range", 401, "The timestamp is older or newer than the allowed 5-minute window.", Seed;
    InvalidSignature = "invalid_signature", 401, "The HMAC signature is invalid for the method, path, timestamp, and body hash.", Seed;
    IpNotAllowed = "ip_not_allowed", 403, "The request IP is not in the API key's allowed IP list.", Seed;
    RateLimited = "rate_limited", 429, "The API key exceeded its per-minute request limit.", Seed;
    MissingIdempotencyKey = "missing_idempotency_key", 400, "Order creation requires X-Idempotency-Key.", Seed;
    InvalidServiceOrQuantity = "invalid_service_or_quantity", 400, "service_id or quantity is missing or invalid.", Seed;
    MissingLink = "missing_link", 400, "The order link is required.", Seed;
    ServiceNotFound = "service_not_found", 404, "The requested service ID does not exist or is not active.", Seed;
    ServiceNotAllowed = "service_not_allowed", 403, "The API account is not allowed to order this service.", Seed;
    QuantityBelowMinimum = "quantity_below_minimum", 400, "The requested quantity is below the service minimum.", Seed;
    QuantityAboveMaximum = "quantity_above_maximum", 400, "The requested quantity is above the service maximum.", Seed;
    DuplicateOrder = "duplicate_order", 409, "The idempotency key or client order reference conflicts with an existing order.", Seed;
    OrderNotFound = "order_not_found", 404, "The API order ID was not found for this API account.", Seed;
    InsufficientWalletBalance = "insufficient_wallet_balance", 402, "The BuyShazam Wallet does not have enough credit.", Seed;
    CustomerWalletLocked = "customer_wallet_locked", 409, "Another wallet-paid API order is being processed. Retry shortly with the same idempotency key.", Seed;
    CustomerNotFound = "customer_not_found", 404, "The customer linked to the API key could not be found.", Seed;
    DatabaseUnavailable = "database_unavailable", 503, "The API database is temporarily unavailable.", Seed;
    AuthError = "auth_error", 500, "An unexpected authentication error occurred.", Seed;
    OrderCreateFailed = "order_create_failed", 500, "The order could not be created.", Seed;

    // kassa's additions.
    InvalidJson = "invalid_json", 400, "The request body is not valid JSON.", Kassa;
    InvalidContentType = "invalid_content_type", 400, "The request body must be sent with Content-Type: application/json.", Kassa;
    InvalidLink = "invalid_link", 400, "The order link is too long or contains control characters.", Kassa;
    InvalidIdempotencyKey = "invalid_idempotency_key", 400, "X-Idempotency-Key must be 1 to 255 printable ASCII characters.", Kassa;
    InvalidClientOrderRef = "invalid_client_order_ref", 400, "client_order_ref must be a string of 1 to 128 printable characters.", Kassa;
    InvalidCustomComments = "invalid_custom_comments", 400, "custom_comments does not fit the service or the quantity.", Kassa;
    InvalidPagination = "invalid_pagination", 400, "page must be an integer from 1 and limit an integer from 1 to 100.", Kassa;
    InvalidStatusFilter = "invalid_status", 400, "status must be one of the order statuses.", Kassa;
    PayloadTooLarge = "payload_too_large", 413, "The request body is too large.", Kassa;
    NotFound = "not_found", 404, "No such endpoint.", Kassa;
    MethodNotAllowed = "method_not_allowed", 405, "The endpoint does not support this HTTP method.", Kassa;
    InternalError = "internal_error", 500, "An unexpected error occurred.", Kassa;
    CancelNotSupported = "cancel_not_supported", 409, "This service does not allow canceling orders.", Kassa;
    OrderNotCancelable = "order_not_cancelable", 409, "The order can no longer be canceled.", Kassa;
    OrderInProgress = "order_in_progress", 409, "The order is being sent to its provider right now. Retry shortly.", Kassa;
    RefillNotSupported = "refill_not_supported", 409, "This service does not offer refills.", Kassa;
    OrderNotRefillable = "order_not_refillable", 409, "Only completed or partial orders can be refilled.", Kassa;
    ProviderUnavailable = "provider_unavailable", 502, "The upstream provider did not answer. Retry later.", Kassa;
    InvalidWebhookUrl = "invalid_webhook_url", 400, "The webhook URL must be a public http(s) URL.", Kassa;
    WebhookNotFound = "webhook_not_found", 404, "No such webhook for this API account.", Kassa;
    TooManyWebhooks = "too_many_webhooks", 409, "This API account already has the most webhooks allowed.", Kassa;

    // Reserved: WooCommerce back-end codes kassa never produces.
    ProductNotFound = "product_not_found", 404, "The selected service is temporarily unavailable in the store.", Reserved;
    ProductNotAvailable = "product_not_available", 404, "The matched store product is not published or available.", Reserved;
    InvalidPrice = "invalid_price", 422, "The order price could not be calculated.", Reserved;
    TerawalletNotActive = "terawallet_not_active", 503, "The wallet payment service is temporarily unavailable.", Reserved;
    WalletDebitFailed = "wallet_debit_failed", 500, "The wallet debit failed while creating the order.", Reserved;
    WalletDebitException = "wallet_debit_exception", 500, "The wallet debit process raised an unexpected error.", Reserved;
    WalletDebitUnavailable = "wallet_debit_unavailable", 500, "No supported wallet debit method is available.", Reserved;
    ServicePricingUnavailable = "service_pricing_unavailable", 503, "Public service pricing could not be loaded from the store.", Reserved;
    WooNotConfigured = "woo_not_configured", 503, "The BuyShazam API server cannot connect to the Woo store configuration.", Reserved;
    WooNotActive = "woo_not_active", 503, "Woo is temporarily unavailable on the store.", Reserved;
    InternalApiNotConfigured = "internal_api_not_configured", 503, "The internal BuyShazam API connection is not configured.", Reserved;
    InvalidInternalSignature = "invalid_internal_signature", 401, "The internal BuyShazam API connection failed authentication. Contact support.", Reserved;
    InternalTimestampOutOfRange = "internal_timestamp_out_of_range", 401, "The internal BuyShazam API server clocks are out of sync. Contact support.", Reserved;
    RestForbidden = "rest_forbidden", 403, "The internal store endpoint rejected the API request. Contact support.", Reserved;
    InvalidWalletResponse = "invalid_wallet_response", 502, "The wallet balance endpoint returned an invalid response.", Reserved;
    WalletBalanceFailed = "wallet_balance_failed", 502, "The wallet balance check failed.", Reserved;
    InvalidOrderResponse = "invalid_order_response", 502, "The order creation backend returned an invalid response.", Reserved;
    OrderCreationFailed = "order_creation_failed", 502, "The order creation backend rejected the order without a more specific code.", Reserved;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert!((400..600).contains(&code.http_status()));
        }
    }
}
