//! The OpenAPI 3.1 description of every public endpoint, generated from the handlers'
//! `#[utoipa::path]` annotations and the wire types' schemas, then completed here with what is
//! the same for many operations: the two signing schemes, the error answers each operation can
//! give (by HTTP status, with the codes and their messages) and the `X-Request-Id` header.
//!
//! The committed `openapi.json` is this document; a test fails when they differ
//! (`kassa openapi > openapi.json` regenerates it).

use kassa_core::ErrorCode;
use kassa_wire::profile::{messages, ErrorEnvelope};
use kassa_wire::v1::ErrorBody;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi as _, PartialSchema, ToSchema};

use ErrorCode::*;

/// Every answer a request passes through before its handler runs: the signature checks, the
/// key, the customer, the address, the rate limit, the body size, and what any database call
/// can answer.
const SIGNED_V1: &[ErrorCode] = &[
    MissingAuthHeaders,
    InvalidTimestamp,
    TimestampOutOfRange,
    InvalidSignature,
    PayloadTooLarge,
    InvalidApiKey,
    CustomerNotFound,
    IpNotAllowed,
    RateLimited,
    AuthError,
    DatabaseUnavailable,
    InternalError,
];

/// The error codes each `/api/v1` operation answers beyond [`SIGNED_V1`].
const V1_OPERATIONS: &[(&str, &str, &[ErrorCode])] = &[
    ("get", "/api/v1/balance", &[]),
    ("get", "/api/v1/services", &[]),
    (
        "post",
        "/api/v1/orders",
        &[
            MissingIdempotencyKey,
            InvalidIdempotencyKey,
            InvalidContentType,
            InvalidJson,
            InvalidServiceOrQuantity,
            MissingLink,
            InvalidLink,
            InvalidClientOrderRef,
            InvalidCustomComments,
            ServiceNotFound,
            ServiceNotAllowed,
            QuantityBelowMinimum,
            QuantityAboveMaximum,
            DuplicateOrder,
            InsufficientWalletBalance,
            CustomerWalletLocked,
            OrderCreateFailed,
        ],
    ),
    ("get", "/api/v1/orders", &[InvalidPagination, InvalidStatusFilter]),
    ("get", "/api/v1/orders/{id}", &[OrderNotFound]),
    (
        "post",
        "/api/v1/orders/{id}/cancel",
        &[
            OrderNotFound,
            CancelNotSupported,
            OrderNotCancelable,
            OrderInProgress,
            CustomerWalletLocked,
            ProviderUnavailable,
        ],
    ),
    (
        "post",
        "/api/v1/orders/{id}/refill",
        &[
            InvalidIdempotencyKey,
            OrderNotFound,
            RefillNotSupported,
            OrderNotRefillable,
            CustomerWalletLocked,
            ProviderUnavailable,
        ],
    ),
    ("get", "/api/v1/webhooks", &[]),
    ("post", "/api/v1/webhooks", &[InvalidContentType, InvalidJson, InvalidWebhookUrl, TooManyWebhooks]),
    ("delete", "/api/v1/webhooks/{id}", &[WebhookNotFound]),
];

/// The profile dialect's error answers: HTTP status, what it means, the fixed messages it carries.
const PROFILE_ERRORS: &[(u16, &str, &[&str])] = &[
    (
        400,
        "The body is not JSON, or fields are missing or invalid (every problem is listed). \
         `profile/verify` names each field, e.g. `verify_type should have one of following value: passport, \
         driving_license, nid.`, `gender should have one of following value: 1, 2.`, `document1 allowed document \
         types: png,jpg,pdf.`; `profile/edit` answers `No user field listed` when no field is given.",
        &[messages::INVALID_BODY, messages::NO_USER_FIELD],
    ),
    (
        401,
        "A signing header is empty, the timestamp is malformed or outside the window (30 s), the key is unknown or \
         the signature does not match.",
        &[
            messages::EMPTY_KEY,
            messages::EMPTY_SIGN,
            messages::EMPTY_TIMESTAMP,
            messages::INVALID_TIMESTAMP,
            messages::TIMESTAMP_EXPIRED,
            messages::INVALID_API_KEY,
            messages::INVALID_SIGNATURE,
        ],
    ),
    (
        403,
        "The account is disabled or the address is not allowed for this key.",
        &[messages::ACCOUNT_DISABLED, messages::IP_NOT_ALLOWED],
    ),
    (
        409,
        "The request does not fit the current state: `Verification is already in process.`, `Verification is \
         cancelled before.`, `Verification is already completed.`; or an email or username another customer has \
         (`username is already taken`).",
        &[],
    ),
    (413, "The body is larger than this endpoint takes.", &[]),
    (415, "A body was sent with another content type than `application/json`.", &[messages::CONTENT_TYPE]),
    (429, "The key's per-minute request limit is used up; retry after `Retry-After` seconds.", &[]),
    (500, "An unexpected error; nothing was changed.", &[messages::INTERNAL]),
    (503, "The database is unavailable; retry after `Retry-After` seconds.", &[messages::UNAVAILABLE]),
];

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "kassa",
        description = include_str!("openapi.md"),
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::v1::balance::balance,
        super::v1::services::services,
        super::v1::orders::create,
        super::v1::orders::list,
        super::v1::orders::get,
        super::v1::actions::cancel,
        super::v1::actions::refill,
        super::v1::webhooks::create,
        super::v1::webhooks::list,
        super::v1::webhooks::remove,
        super::profile::me::me,
        super::profile::edit::edit,
        super::profile::verify::verify,
        super::health::time,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(ErrorBody, ErrorEnvelope)),
    modifiers(&Conventions),
    tags(
        (name = "BuyShazam", description = "The BuyShazam Developer API, as its documentation describes it."),
        (name = "kassa additions", description = "kassa's additions to the BuyShazam API: same signing, same envelope."),
        (name = "Profile", description = "The profile and identity-verification API."),
        (name = "Service", description = "Unsigned endpoints for load balancers and clock checks."),
    ),
)]
struct ApiDoc;

/// The whole description.
pub fn document() -> OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The description as committed in `openapi.json`: pretty-printed, with a final newline.
pub fn json() -> String {
    let mut text = document().to_pretty_json().expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

const V1_SCHEMES: [&str; 3] = ["X-API-Key", "X-Timestamp", "X-Signature"];
const PROFILE_SCHEMES: [&str; 3] = ["BB-ACCESS-KEY", "BB-ACCESS-SIGN", "BB-ACCESS-TIMESTAMP"];

/// What the handlers' annotations leave to one place.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let schemes = [
            ("X-API-Key", "The API key (`bs_live_...`)."),
            ("X-Timestamp", "Unix time in whole seconds; requests are valid for 5 minutes either side of the server clock."),
            (
                "X-Signature",
                "Hex HMAC-SHA256 with the secret's UTF-8 bytes as key over `METHOD\\npath\\ntimestamp\\nhex(sha256(body))`, \
                 optionally prefixed `sha256=`. `path` may include the query string or not.",
            ),
            ("BB-ACCESS-KEY", "The API key (the same key as for `/api/v1`)."),
            (
                "BB-ACCESS-SIGN",
                "Base64 HMAC-SHA256 with the base64-decoded secret as key over `timestamp + method + requestPath + body`; \
                 `requestPath` includes the query string, the method may be upper- or lower-case.",
            ),
            ("BB-ACCESS-TIMESTAMP", "Unix time in seconds, decimals allowed; valid for 30 seconds either side."),
        ];
        for (name, description) in schemes {
            components.add_security_scheme(
                name,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(name, description))),
            );
        }

        constrain_requests(components);

        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                if path.starts_with("/api/v1/") {
                    operation.security = Some(vec![SecurityRequirement::new::<_, _, &str>(V1_SCHEMES[0], [])
                        .add::<_, _, &str>(V1_SCHEMES[1], [])
                        .add::<_, _, &str>(V1_SCHEMES[2], [])]);
                    let extra = V1_OPERATIONS
                        .iter()
                        .find(|(m, p, _)| *m == method && p == path)
                        .unwrap_or_else(|| panic!("{method} {path} has no entry in V1_OPERATIONS"))
                        .2;
                    let codes: Vec<ErrorCode> = SIGNED_V1.iter().chain(extra).copied().collect();
                    for parameter in operation.parameters.iter_mut().flatten() {
                        if let RefOr::T(parameter) = parameter {
                            if parameter.name == "status" {
                                parameter.schema = Some(kassa_wire::schema::order_status());
                            }
                        }
                    }
                    add_v1_errors(operation, &codes);
                } else if path.starts_with("/profile/") {
                    operation.security = Some(vec![SecurityRequirement::new::<_, _, &str>(PROFILE_SCHEMES[0], [])
                        .add::<_, _, &str>(PROFILE_SCHEMES[1], [])
                        .add::<_, _, &str>(PROFILE_SCHEMES[2], [])]);
                    add_profile_errors(operation, method);
                } else {
                    // Unsigned: an empty requirement list overrides nothing global, said explicitly.
                    operation.security = Some(Vec::new());
                }
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.headers.insert(
                            "X-Request-Id".into(),
                            RefOr::T(
                                HeaderBuilder::new()
                                    .schema(Some(String::schema()))
                                    .description(Some(
                                        "The request's id (a client-sent one is echoed); quote it in support requests.",
                                    ))
                                    .build(),
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// The limits the server enforces on request bodies, written into their schemas from the
/// constants that enforce them, so clients and API fuzzers see the real bounds.
fn constrain_requests(components: &mut utoipa::openapi::Components) {
    use kassa_core::profile::{MAX_EMAIL_LEN, USERNAME_LEN};
    use kassa_core::validation::{MAX_CLIENT_ORDER_REF_LEN, MAX_CUSTOM_COMMENTS_LEN, MAX_LINK_LEN, MAX_QUANTITY};
    use kassa_core::verification::{VerifyType, MAX_FIRST_NAME_CHARS, MAX_ID_NUMBER_CHARS};
    use utoipa::Number;

    let mut field = |schema: &str, name: &str, edit: &dyn Fn(&mut utoipa::openapi::schema::Object)| {
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
            panic!("{schema} is not an object schema");
        };
        match object.properties.get_mut(name) {
            Some(RefOr::T(Schema::Object(property))) => edit(property),
            _ => panic!("{schema}.{name} is not a plain property"),
        }
    };
    let length = |min: usize, max: usize| {
        move |o: &mut utoipa::openapi::schema::Object| {
            o.min_length = Some(min);
            o.max_length = Some(max);
        }
    };
    field("CreateOrderRequest", "service_id", &|o| o.minimum = Some(Number::Int(1)));
    field("CreateOrderRequest", "quantity", &|o| {
        o.minimum = Some(Number::Int(1));
        o.maximum = Some(Number::UInt(MAX_QUANTITY as usize));
    });
    field("CreateOrderRequest", "link", &length(1, MAX_LINK_LEN));
    field("CreateOrderRequest", "client_order_ref", &length(1, MAX_CLIENT_ORDER_REF_LEN));
    field("CreateOrderRequest", "custom_comments", &length(0, MAX_CUSTOM_COMMENTS_LEN));
    field("CreateWebhookRequest", "url", &|o| {
        o.max_length = Some(crate::webhooks::MAX_URL_LEN);
        o.format = Some(utoipa::openapi::SchemaFormat::Custom("uri".into()));
    });
    field("VerifyRequest", "verify_type", &|o| {
        o.enum_values = Some(VerifyType::ALL.iter().map(|t| serde_json::json!(t.as_str())).collect());
    });
    field("VerifyRequest", "first_name", &length(1, MAX_FIRST_NAME_CHARS));
    field("VerifyRequest", "id_number", &length(1, MAX_ID_NUMBER_CHARS));
    field("ProfileEdit", "email", &length(3, MAX_EMAIL_LEN));
    if let Some(RefOr::T(Schema::Object(edit))) = components.schemas.get_mut("ProfileEdit") {
        // profile/edit names an unknown field as an error.
        edit.additional_properties = Some(Box::new(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)));
        edit.properties.insert("username".into(), clearable_text(USERNAME_LEN.0, USERNAME_LEN.1).into());
    }
}

/// A profile field a customer may clear: `null`, or a blank string (what an emptied form field
/// sends; values are trimmed, `check_field` in kassa-core), or text of `min` to `max` characters.
fn clearable_text(min: usize, max: usize) -> Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    // ECMAScript's `\s` lacks U+0085, which Rust's `trim` removes.
    let blank = ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[\\s\\u0085]*$"));
    let text = ObjectBuilder::new().schema_type(Type::String).min_length(Some(min)).max_length(Some(max));
    AnyOfBuilder::new()
        .item(blank)
        .item(text)
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some("`null` or a blank string clears the field."))
        .into()
}

/// Each operation of a path item with its lower-case method.
fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
    .collect()
}

/// Whether an answer with this code carries `Retry-After`.
fn retryable(code: ErrorCode) -> bool {
    matches!(code, RateLimited | CustomerWalletLocked | DatabaseUnavailable | OrderInProgress | ProviderUnavailable)
}

/// One response per HTTP status, its `error` limited to the codes this operation answers with it.
fn add_v1_errors(operation: &mut Operation, codes: &[ErrorCode]) {
    let mut statuses: Vec<u16> = codes.iter().map(|c| c.http_status()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let at_status: Vec<ErrorCode> = codes.iter().copied().filter(|c| c.http_status() == status).collect();
        let description =
            at_status.iter().map(|c| format!("`{}`: {}", c.as_str(), c.message())).collect::<Vec<_>>().join("<br>\n");
        let schema = AllOfBuilder::new()
            .item(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(ErrorBody::name())))
            .item(ObjectBuilder::new().property(
                "error",
                ObjectBuilder::new().schema_type(Type::String).enum_values(Some(at_status.iter().map(|c| c.as_str()))),
            ))
            .build();
        let mut content = ContentBuilder::new().schema(Some(Schema::AllOf(schema)));
        if let Some(code) = at_status.first() {
            content = content.example(Some(serde_json::json!({
                "success": false, "error": code.as_str(), "message": code.message()
            })));
        }
        let mut response = ResponseBuilder::new().description(description).content("application/json", content.build());
        if at_status.iter().any(|c| retryable(*c)) {
            response = response.header("Retry-After", retry_after_header());
        }
        insert_response(operation, status, response.build());
    }
}

fn add_profile_errors(operation: &mut Operation, method: &str) {
    for &(status, meaning, fixed) in PROFILE_ERRORS {
        let takes_fields = method != "get";
        if (status == 400 || status == 409) && !takes_fields {
            continue;
        }
        let mut description = meaning.to_string();
        if !fixed.is_empty() {
            let list = fixed.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
            description.push_str(&format!("<br>\nFixed messages: {list}."));
        }
        let mut content = ContentBuilder::new()
            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(ErrorEnvelope::name()))));
        if let Some(first) = fixed.first() {
            content = content.example(Some(serde_json::json!({"success": false, "errors": [first]})));
        }
        let mut response = ResponseBuilder::new().description(description).content("application/json", content.build());
        if matches!(status, 429 | 503) {
            response = response.header("Retry-After", retry_after_header());
        }
        insert_response(operation, status, response.build());
    }
}

fn retry_after_header() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(u64::schema()))
        .description(Some("Seconds to wait before sending the same request again (same idempotency key)."))
        .build()
}

fn insert_response(operation: &mut Operation, status: u16, response: Response) {
    let key = status.to_string();
    assert!(
        !operation.responses.responses.contains_key(&key),
        "status {status} of {:?} is described twice",
        operation.operation_id
    );
    operation.responses.responses.insert(key, RefOr::T(response));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_produced_code_is_in_the_description() {
        let json = json();
        for &code in ErrorCode::ALL {
            if code.origin() == kassa_core::error::CodeOrigin::Reserved || matches!(code, NotFound | MethodNotAllowed) {
                continue;
            }
            assert!(json.contains(&format!("\"{}\"", code.as_str())), "{code} is answered but not described");
        }
    }

    #[test]
    fn the_wire_lists_match_the_domain() {
        let statuses: Vec<&str> = kassa_core::OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(statuses, kassa_wire::v1::ORDER_STATUSES);
        let kinds = [
            kassa_core::catalog::ServiceKind::Default,
            kassa_core::catalog::ServiceKind::CustomComments,
            kassa_core::catalog::ServiceKind::Package,
        ];
        assert_eq!(kinds.map(|k| k.as_str()), kassa_wire::v1::SERVICE_TYPES);
    }

    #[test]
    fn every_v1_entry_names_a_real_operation() {
        let doc = document();
        for (method, path, _) in V1_OPERATIONS {
            let item = doc.paths.paths.get(*path).unwrap_or_else(|| panic!("{path} is not described"));
            let mut item = item.clone();
            assert!(operations(&mut item).iter().any(|(m, _)| m == method), "{method} {path} is not described");
        }
    }
}
