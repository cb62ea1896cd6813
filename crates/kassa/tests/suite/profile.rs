//! The profile dialect through real signed HTTP requests: signing, every basic error of the seed
//! with its status, `profile/me`'s exact shape and `profile/edit`.

use std::time::Duration;

use kassa_server::ServerConfig;
use kassa_store::{CustomerStatus, KeyStatus};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::support::process::KassaEnv;
use crate::support::profile::{assert_errors, assert_ok, decimal_now, profile_signature, ProfileSigner};
use crate::support::raw::now;
use crate::support::schema::Description;
use crate::support::{Backend, KeyOptions, ServerOptions, StoreOptions, TestDb, TestServer};

backend_tests!(
    profile_me_has_the_seeds_exact_shape,
    signatures_take_either_method_case_decimal_timestamps_and_the_query,
    each_empty_header_is_named,
    timestamps_outside_the_window_are_expired,
    timestamp_window_is_configurable,
    keys_and_signatures_are_checked,
    content_type_body_and_size_errors,
    methods_and_endpoints_outside_the_seed_are_refused,
    customer_ip_allow_list_and_rate_limit_apply_as_in_v1,
    edit_changes_only_the_listed_fields,
    edit_reports_every_invalid_field_and_changes_nothing,
    an_edit_the_description_refuses_is_refused,
    edit_keeps_email_and_username_unique_regardless_of_case,
    a_locked_or_slow_database_answers_503_in_the_profile_envelope,
    serve_takes_the_timestamp_window_from_flag_environment_and_file,
);

/// The seed's basic errors, copied here from the seed's text rather than imported from the
/// server's constants, so a typo in the server cannot pass as the seed's wording.
pub mod seed {
    pub const CONTENT_TYPE: &str = "The required content-type is application/json";
    pub const EMPTY_KEY: &str = "Empty BB-API-KEY header";
    pub const EMPTY_SIGN: &str = "Empty BB-ACCESS-SIGN header";
    pub const EMPTY_TIMESTAMP: &str = "Empty BB-ACCESS-TIMESTAMP header";
    pub const TIMESTAMP_EXPIRED: &str = "BB-ACCESS-TIMESTAMP expired";
    pub const UNRECOGNIZED_METHOD: &str = "Unrecognized method. Currently supported: GET,POST,PUT.";
    pub const INVALID_BODY: &str = "Invalid request body";
    pub const INVALID_API_KEY: &str = "Invalid Api Key";
    pub const INVALID_SIGNATURE: &str = "Invalid Signature";
    pub const NO_USER_FIELD: &str = "No user field listed";
}

/// kassa's own messages (documented in docs/profile.md).
mod kassa {
    pub const INVALID_TIMESTAMP: &str = "Invalid BB-ACCESS-TIMESTAMP header";
    pub const ACCOUNT_DISABLED: &str = "Account is disabled";
    pub const IP_NOT_ALLOWED: &str = "IP address is not allowed for this Api Key";
    pub const UNKNOWN_ENDPOINT: &str =
        "Unknown endpoint. Currently supported: profile/me, profile/edit, profile/verify.";
    pub const UNAVAILABLE: &str = "Service temporarily unavailable, retry shortly";
}

/// `now + offset` seconds, written with a fraction like the seed's clients do.
fn at(offset: i64) -> String {
    format!("{}.250", now() + offset)
}

/// The keys of the seed's `profile/me` example, in its order.
const SEED_KEYS: [&str; 16] = [
    "id",
    "user_id",
    "first_name",
    "last_name",
    "username",
    "email",
    "phone",
    "language",
    "country",
    "city",
    "address",
    "bio",
    "verified",
    "created",
    "moderator",
    "chat_status",
];

async fn profile_me_has_the_seeds_exact_shape(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let customer = server.store.customer(account.customer).await.unwrap().unwrap();
    let response = account.profile().me().send().await;
    let profile = assert_ok(&response);

    // Key order as in the seed's example, read from the raw text (a JSON map would sort it).
    let text = String::from_utf8(response.body.clone()).unwrap();
    let positions: Vec<usize> =
        SEED_KEYS.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} missing"))).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "keys out of the seed's order: {text}");
    assert_eq!(profile.as_object().unwrap().len(), SEED_KEYS.len(), "no extra keys: {text}");

    // Strings where the seed has strings, null where unset.
    assert_eq!(profile["id"], json!(customer.id.0.to_string()));
    assert_eq!(profile["user_id"], json!(customer.user_id));
    assert_eq!(profile["first_name"], json!(customer.first_name.unwrap()));
    assert_eq!(profile["email"], json!(customer.email));
    assert_eq!(profile["verified"], json!("0"));
    assert_eq!(profile["chat_status"], json!("1"));
    for unset in ["last_name", "username", "phone", "language", "country", "city", "address", "bio", "moderator"] {
        assert_eq!(profile[unset], Value::Null, "{unset}");
    }
    let created = profile["created"].as_str().unwrap();
    let shape = created.len() == 19
        && created.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            _ => c.is_ascii_digit(),
        });
    assert!(shape, "created is YYYY-mm-dd HH:MM:SS: {created}");
    let expected = kassa_store::present::profile_time(customer.created_at);
    assert_eq!(created, expected, "created is the customer's creation time, in UTC");
}

async fn signatures_take_either_method_case_decimal_timestamps_and_the_query(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let profile = account.profile();
    // The seed's text: upper-case method; its Python example: lower-case.
    for method in ["GET", "get"] {
        assert_ok(&profile.me().sign_method(method).send().await);
    }
    // Decimal timestamps (Python's str(time.time())) and whole seconds.
    for timestamp in [decimal_now(), format!("{}.1234567", now()), now().to_string()] {
        assert_ok(&profile.me().timestamp(&timestamp).send().await);
    }
    // requestPath includes the query string: signed with it passes, signed without it does not.
    assert_ok(&profile.request("GET", "/profile/me?lang=en&x=1").send().await);
    let bare = profile.request("GET", "/profile/me?lang=en").sign_path("/profile/me").send().await;
    assert_errors(&bare, 401, &[seed::INVALID_SIGNATURE]);
    // Padding is optional.
    let timestamp = decimal_now();
    let signature = profile_signature(&account.secret, &timestamp, "GET", "/profile/me", b"");
    let unpadded = profile.me().timestamp(&timestamp).signature(signature.trim_end_matches('=')).send().await;
    assert_ok(&unpadded);
    // A body is covered byte for byte, and a method case change on PUT passes too.
    let body = br#"{"bio":"covered"}"#;
    assert_ok(&profile.request("PUT", "/profile/edit").body(body.to_vec()).sign_method("put").send().await);
    let tampered = profile.request("PUT", "/profile/edit").body(body.to_vec()).sign_body(br#"{"bio":"other"}"#);
    assert_errors(&tampered.send().await, 401, &[seed::INVALID_SIGNATURE]);
}

async fn each_empty_header_is_named(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let profile = account.profile();
    let cases = [
        ("bb-access-key", seed::EMPTY_KEY),
        ("bb-access-sign", seed::EMPTY_SIGN),
        ("bb-access-timestamp", seed::EMPTY_TIMESTAMP),
    ];
    for (header, message) in cases {
        assert_errors(&profile.me().without(header).send().await, 401, &[message]);
        // Present but blank is empty too.
        assert_errors(&profile.me().without(header).header(header, "  ").send().await, 401, &[message]);
    }
    let none = profile.me().without("bb-access-key").without("bb-access-sign").without("bb-access-timestamp");
    assert_errors(&none.send().await, 401, &[seed::EMPTY_KEY, seed::EMPTY_SIGN, seed::EMPTY_TIMESTAMP]);
}

async fn timestamps_outside_the_window_are_expired(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let profile = account.profile();
    for offset in [-35, 35, -3600, 100_000] {
        let response = profile.me().timestamp(at(offset)).send().await;
        assert_errors(&response, 401, &[seed::TIMESTAMP_EXPIRED]);
    }
    for offset in [-25, 25] {
        assert_ok(&profile.me().timestamp(at(offset)).send().await);
    }
    for bad in ["abc", "1e9", "-5", "1.", ".5", "12:00"] {
        assert_errors(&profile.me().timestamp(bad).send().await, 401, &[kassa::INVALID_TIMESTAMP]);
    }
}

async fn timestamp_window_is_configurable(backend: Backend) {
    let config = ServerConfig { profile_timestamp_window: Duration::from_secs(120), ..ServerConfig::default() };
    let server = TestServer::start_with(backend, ServerOptions { config, ..Default::default() }).await;
    let account = server.customer("0").await;
    assert_ok(&account.profile().me().timestamp(at(-100)).send().await);
    assert_errors(&account.profile().me().timestamp(at(-130)).send().await, 401, &[seed::TIMESTAMP_EXPIRED]);
}

async fn keys_and_signatures_are_checked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let profile = account.profile();
    for key in ["bs_live_doesnotexist", "not a key"] {
        assert_errors(&profile.me().api_key(key).send().await, 401, &[seed::INVALID_API_KEY]);
    }
    // Another customer's key with this customer's secret: the key is found, the signature fails.
    let other = server.customer("0").await;
    assert_errors(&profile.me().api_key(&other.key.api_key).send().await, 401, &[seed::INVALID_SIGNATURE]);

    server.store.set_api_key_status(&account.key.api_key, KeyStatus::Disabled).await.unwrap();
    assert_errors(&profile.me().send().await, 401, &[seed::INVALID_API_KEY]);
    server.store.set_api_key_status(&account.key.api_key, KeyStatus::Active).await.unwrap();
    assert_ok(&profile.me().send().await);
    server.store.set_api_key_status(&account.key.api_key, KeyStatus::Revoked).await.unwrap();
    assert_errors(&profile.me().send().await, 401, &[seed::INVALID_API_KEY]);

    let profile = other.profile();
    let wrong_secret = kassa_core::ids::generate_api_secret();
    for spec in [
        profile.me().secret(&wrong_secret),
        profile.me().signature("not base64 at all!"),
        profile.me().signature(&"QUJD".repeat(8)), // valid base64, 24 bytes: not an HMAC
        profile.me().sign_path("/profile/edit"),
        profile.me().sign_method("POST"),
    ] {
        assert_errors(&spec.send().await, 401, &[seed::INVALID_SIGNATURE]);
    }
}

async fn content_type_body_and_size_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let profile = account.profile();
    let body = br#"{"bio":"x"}"#.to_vec();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let response =
            profile.request("PUT", "/profile/edit").body(body.clone()).content_type(content_type).send().await;
        assert_errors(&response, 415, &[seed::CONTENT_TYPE]);
    }
    // Parameters and case do not matter; a GET without a body needs no content type at all.
    let charset =
        profile.request("PUT", "/profile/edit").body(body).content_type(Some("Application/JSON; charset=utf-8"));
    assert_ok(&charset.send().await);
    assert_ok(&profile.me().content_type(None).send().await);

    for bad in [&b"{not json"[..], b"[1,2]", b"\"text\"", b"null", b"{\"bio\":\"x\"} trailing"] {
        let response = profile.request("PUT", "/profile/edit").body(bad.to_vec()).send().await;
        assert_errors(&response, 400, &[seed::INVALID_BODY]);
    }
    let huge = serde_json::to_vec(&json!({"bio": "x".repeat(70 * 1024)})).unwrap();
    let response = profile.request("PUT", "/profile/edit").body(huge).send().await;
    assert_errors(&response, 413, &["Request body is larger than 65536 bytes"]);
}

async fn methods_and_endpoints_outside_the_seed_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let profile = account.profile();
    for method in ["DELETE", "PATCH", "OPTIONS"] {
        for path in ["/profile/me", "/profile/edit", "/profile/verify"] {
            let response = profile.request(method, path).send().await;
            assert_errors(&response, 405, &[seed::UNRECOGNIZED_METHOD]);
        }
    }
    // HEAD has no body to carry the envelope; the status says it.
    assert_eq!(profile.request("HEAD", "/profile/me").send().await.status, 405);
    let response = profile.request("GET", "/profile/edit").send().await;
    assert_errors(&response, 405, &["Method GET is not supported by profile/edit; use PUT."]);
    assert_eq!(response.header("allow"), Some("PUT"));
    let response = profile.request("POST", "/profile/me").send().await;
    assert_errors(&response, 405, &["Method POST is not supported by profile/me; use GET."]);
    let response = profile.request("GET", "/profile/verify").send().await;
    assert_errors(&response, 405, &["Method GET is not supported by profile/verify; use POST."]);
    assert_errors(&profile.request("GET", "/profile/settings").send().await, 404, &[kassa::UNKNOWN_ENDPOINT]);
}

async fn customer_ip_allow_list_and_rate_limit_apply_as_in_v1(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    server.store.set_customer_status(account.customer, CustomerStatus::Disabled).await.unwrap();
    assert_errors(&account.profile().me().send().await, 403, &[kassa::ACCOUNT_DISABLED]);

    let fenced =
        server.customer_with("0", KeyOptions { allowed_ips: vec!["10.0.0.0/8"], ..KeyOptions::default() }).await;
    assert_errors(&fenced.profile().me().send().await, 403, &[kassa::IP_NOT_ALLOWED]);
    let local =
        server.customer_with("0", KeyOptions { allowed_ips: vec!["127.0.0.1/32"], ..KeyOptions::default() }).await;
    assert_ok(&local.profile().me().send().await);

    // One allowance per key across both dialects: a v1 call and a profile call use it up.
    let limited = server.customer_with("0", KeyOptions { rate_limit_per_minute: 2, ..KeyOptions::default() }).await;
    assert_eq!(limited.signer().get("/api/v1/balance").send().await.status, 200);
    assert_ok(&limited.profile().me().send().await);
    let response = limited.profile().me().send().await;
    assert_eq!(response.status, 429);
    let retry_after: u64 = response.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let errors = response.json().unwrap()["errors"].clone();
    assert_eq!(errors, json!([format!("Rate limit exceeded, retry in {retry_after} seconds")]));
    assert_eq!(limited.signer().get("/api/v1/balance").send().await.status, 429, "and v1 is limited too");
}

async fn edit_changes_only_the_listed_fields(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let profile = account.profile();
    let before = assert_ok(&profile.me().send().await);

    // The seed's example body, verbatim.
    let seed_body = br#"{"first_name":"Test First Name","last_name":"Test Last Name","username":"Test Username"}"#;
    let edited = assert_ok(&profile.request("PUT", "/profile/edit").body(seed_body.to_vec()).send().await);
    assert_eq!(
        (&edited["first_name"], &edited["last_name"], &edited["username"]),
        (&json!("Test First Name"), &json!("Test Last Name"), &json!("Test Username"))
    );
    for untouched in ["id", "user_id", "email", "phone", "bio", "verified", "created", "chat_status"] {
        assert_eq!(edited[untouched], before[untouched], "{untouched} must not change");
    }

    let second = json!({"phone": "+380 (63) 731-26-75", "language": "english", "country": "Ukraine",
                        "city": "Kyiv", "address": "1 Main St", "bio": "line one\nline two", "email": "New@Example.com"});
    let edited = assert_ok(&profile.edit(&second).send().await);
    assert_eq!(edited["phone"], json!("380637312675"), "phones are stored as digits, like the seed's");
    assert_eq!(edited["bio"], json!("line one\nline two"));
    assert_eq!(edited["email"], json!("New@Example.com"));
    assert_eq!(edited["username"], json!("Test Username"), "earlier edits stay");

    // null and "" clear a field; the answer is what profile/me now says.
    let cleared = assert_ok(&profile.edit(&json!({"bio": null, "city": ""})).send().await);
    assert_eq!((&cleared["bio"], &cleared["city"]), (&Value::Null, &Value::Null));
    assert_eq!(cleared, assert_ok(&profile.me().send().await));
    let stored = server.store.customer(account.customer).await.unwrap().unwrap();
    assert_eq!((stored.bio, stored.city, stored.country.as_deref()), (None, None, Some("Ukraine")));

    for empty in [&b"{}"[..], b"", b"  "] {
        let response = profile.request("PUT", "/profile/edit").body(empty.to_vec()).send().await;
        assert_errors(&response, 400, &[seed::NO_USER_FIELD]);
    }
}

async fn edit_reports_every_invalid_field_and_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let profile = account.profile();
    let before = assert_ok(&profile.me().send().await);
    let body = json!({
        "first_name": "Valid Name",
        "email": "not-an-email",
        "username": "x",
        "phone": "call me",
        "last_name": "y".repeat(101),
        "city": 42,
        "nickname": "n",
        "verified": "1",
    });
    let response = profile.edit(&body).send().await;
    assert_eq!(response.status, 400);
    let errors: Vec<String> = serde_json::from_value(response.json().unwrap()["errors"].clone()).unwrap();
    let editable = "first_name, last_name, username, email, phone, language, country, city, address, bio";
    assert_eq!(
        errors,
        vec![
            format!("Unknown field \"nickname\"; the fields that can be edited are {editable}"),
            format!("\"verified\" cannot be edited; the fields that can be edited are {editable}"),
            "last_name must be at most 100 characters".to_string(),
            "username must be 3 to 32 characters of letters, digits, spaces, '.', '_' or '-', starting and ending \
             with a letter or digit, without two spaces in a row"
                .to_string(),
            "email is not a valid email address".to_string(),
            "phone must be 7 to 15 digits, optionally starting with + and grouped with spaces, '-', '.' or parentheses"
                .to_string(),
            "city must be a string or null".to_string(),
        ]
    );
    assert_eq!(assert_ok(&profile.me().send().await), before, "a refused edit changes nothing, not even first_name");
    assert_errors(&profile.edit(&json!({"email": ""})).send().await, 400, &["email cannot be empty"]);
}

/// The description's `ProfileEdit` schema and the server agree at the edges of the length rules:
/// what the schema refuses, the server refuses (schemathesis once found a blank username that the
/// schema called too short and the server took as "clear the field"), and a blank username, which
/// the schema allows, clears it.
async fn an_edit_the_description_refuses_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let profile = account.profile();
    let schema = Description::get().component("ProfileEdit");
    let long = "a".repeat(33);
    let bodies = [
        json!({"username": ""}),
        json!({"username": "   "}),
        json!({"username": "\u{85}"}),
        json!({"username": null}),
        json!({"username": "ab"}),
        json!({"username": " a "}),
        json!({"username": long}),
        json!({"username": "abc"}),
        json!({"email": ""}),
        json!({"email": "a@"}),
        json!({"email": "a@b.co"}),
    ];
    for body in bodies {
        let response = profile.edit(&body).send().await;
        if !schema.is_valid(&body) {
            assert_eq!(response.status, 400, "the description refuses {body}, so must the server");
        }
    }
    for blank in ["", "  "] {
        assert_ok(&profile.edit(&json!({"username": "Someone"})).send().await);
        let body = json!({"username": blank});
        assert!(schema.is_valid(&body), "the description allows {body}");
        assert_eq!(assert_ok(&profile.edit(&body).send().await)["username"], Value::Null, "{body} clears it");
    }
}

async fn edit_keeps_email_and_username_unique_regardless_of_case(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.customer("0").await;
    let bob = server.customer("0").await;
    assert_ok(&alice.profile().edit(&json!({"username": "Alice"})).send().await);
    let alice_email = server.store.customer(alice.customer).await.unwrap().unwrap().email;

    let response = bob.profile().edit(&json!({"username": "ALICE"})).send().await;
    assert_errors(&response, 409, &["username is already taken"]);
    let response = bob.profile().edit(&json!({"email": alice_email.to_uppercase()})).send().await;
    assert_errors(&response, 409, &["email is already taken"]);
    let bob_now = server.store.customer(bob.customer).await.unwrap().unwrap();
    assert_eq!(bob_now.username, None, "the conflict changed nothing");

    // Changing the case of one's own name is not a conflict; a freed name can be taken.
    assert_eq!(assert_ok(&alice.profile().edit(&json!({"username": "ALICE"})).send().await)["username"], "ALICE");
    assert_ok(&alice.profile().edit(&json!({"username": null})).send().await);
    assert_eq!(assert_ok(&bob.profile().edit(&json!({"username": "alice"})).send().await)["username"], "alice");
}

async fn a_locked_or_slow_database_answers_503_in_the_profile_envelope(backend: Backend) {
    // The database refuses within its busy timeout: the store's answer.
    let store = StoreOptions { busy_timeout: Duration::from_millis(200), ..Default::default() };
    let server = TestServer::start_with(backend, ServerOptions { store, ..Default::default() }).await;
    let account = server.customer("0").await;
    let lock = server.db.hold_write_lock();
    let response = account.profile().edit(&json!({"bio": "x"})).send().await;
    assert_errors(&response, 503, &[kassa::UNAVAILABLE]);
    assert_eq!(response.header("retry-after"), Some("1"));
    drop(lock);
    assert_ok(&account.profile().edit(&json!({"bio": "x"})).send().await);

    // The request outlives the server's time limit: the same answer, in this dialect's envelope.
    let config = ServerConfig { request_timeout: Duration::from_millis(300), ..ServerConfig::default() };
    let server = TestServer::start_with(backend, ServerOptions { config, ..Default::default() }).await;
    let account = server.customer("0").await;
    let lock = server.db.hold_write_lock();
    let response = account.profile().edit(&json!({"bio": "x"})).send().await;
    assert_errors(&response, 503, &[kassa::UNAVAILABLE]);
    assert_eq!(response.header("retry-after"), Some("1"));
    drop(lock);
}

async fn serve_takes_the_timestamp_window_from_flag_environment_and_file(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    let customer = env.json(&["admin", "customer", "create", "--email", "window@example.com"])["id"].to_string();
    let key = env.json(&["admin", "key", "create", "--customer", &customer]);
    let (api_key, secret) = (key["api_key"].as_str().unwrap(), key["api_secret"].as_str().unwrap());
    let me_at = |env: &KassaEnv, args: &[&str], offset: i64| {
        let server = env.serve(args);
        let signer = ProfileSigner::new(&server.base_url, api_key, secret);
        async move {
            let response = signer.me().timestamp(at(offset)).send().await;
            drop(server);
            response
        }
    };

    assert_errors(&me_at(&env, &[], -100).await, 401, &[seed::TIMESTAMP_EXPIRED]);
    assert_ok(&me_at(&env, &["--profile-timestamp-window-secs", "120"], -100).await);
    let mut from_env = env.clone();
    from_env.extra_env.push(("KASSA_PROFILE_TIMESTAMP_WINDOW_SECS".into(), "120".into()));
    assert_ok(&me_at(&from_env, &[], -100).await);
    let file = db.dir.path().join("kassa.toml");
    std::fs::write(&file, "profile_timestamp_window_secs = 5\n").unwrap();
    let file = file.to_str().unwrap();
    assert_errors(&me_at(&env, &["--config", file], -10).await, 401, &[seed::TIMESTAMP_EXPIRED]);
    assert_ok(&me_at(&env, &["--config", file], -2).await);

    let refused = env.run(&["serve", "--listen", "127.0.0.1:0", "--profile-timestamp-window-secs", "0"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least 1"));
}
