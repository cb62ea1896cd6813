//! `profile/verify` through real signed HTTP requests: every error of the seed word for word, the
//! state machine, documents typed by their bytes, the size limits (with the server's memory
//! measured), and concurrent submissions.

use kassa_core::verification::{document_context, id_number_context, ReviewAction};
use kassa_store::{DocumentSlot, DocumentType, Review, VerificationStatus};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backend_tests;
use crate::support::profile::{assert_errors, assert_ok, b64, decimal_now, jpeg, pdf, png, profile_signature};
use crate::support::{Account, Backend, TestServer};

backend_tests!(
    a_submission_is_filed_in_process_with_its_documents_sealed,
    every_verify_error_word_for_word,
    submissions_follow_the_state_machine,
    concurrent_submissions_file_exactly_one,
    documents_are_typed_by_their_bytes_not_their_names,
    oversized_documents_and_bodies_are_refused_with_bounded_memory,
    a_key_revoked_while_its_upload_arrives_is_refused,
    one_customer_cannot_take_the_whole_upload_budget,
);

fn submission(extra: Value) -> Value {
    let mut body = json!({"verify_type": "passport", "first_name": "Ada", "gender": 2, "id_number": "AB1234567"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

async fn review(server: &TestServer, id: i64, action: ReviewAction) {
    let review = Review { verification_id: id, action, actor: "test".into(), reason: None };
    server.store.review_verification(review).await.unwrap();
}

async fn a_submission_is_filed_in_process_with_its_documents_sealed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let cover = png(b"passport cover");
    let inner = pdf(b"passport inner page");
    let body = submission(json!({"document1": b64(&cover), "document2": b64(&inner)}));
    let filed = assert_ok(&account.profile().verify(&body).send().await);
    let id: i64 = filed["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        (&filed["status"], &filed["verify_type"], &filed["document1"], &filed["document2"]),
        (&json!("in_process"), &json!("passport"), &json!("png"), &json!("pdf"))
    );
    assert_eq!(filed["submitted"].as_str().map(str::len), Some(19), "YYYY-mm-dd HH:MM:SS");

    let record = server.store.verification(id).await.unwrap().unwrap();
    assert_eq!((record.customer_id, record.status), (account.customer, VerificationStatus::InProcess));
    assert_eq!((record.first_name.as_str(), record.gender.code()), ("Ada", 2));
    let opened = server.vault.open(&record.id_number_sealed, &id_number_context(&record.reference)).unwrap();
    assert_eq!(opened, b"AB1234567");
    for (slot, bytes) in [(DocumentSlot::One, &cover), (DocumentSlot::Two, &inner)] {
        let sealed = server.store.verification_document(id, slot).await.unwrap().unwrap();
        assert_ne!(&sealed.sealed, bytes);
        assert_eq!(&server.vault.open(&sealed.sealed, &document_context(&record.reference, slot)).unwrap(), bytes);
        // Bound to its slot: document 1's ciphertext does not open as document 2.
        let other = if slot == DocumentSlot::One { DocumentSlot::Two } else { DocumentSlot::One };
        assert!(server.vault.open(&sealed.sealed, &document_context(&record.reference, other)).is_err());
    }
    let audit = server.store.verification_audit(id).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.clone()),
        ("submit", format!("api_key:{}", account.key.api_key))
    );

    // Documents are optional; gender may be a string; the other types are accepted.
    let other = server.customer("0").await;
    let filed = assert_ok(
        &other
            .profile()
            .verify(&json!({"verify_type": "nid", "first_name": "B", "gender": "1", "id_number": 123456}))
            .send()
            .await,
    );
    assert_eq!((&filed["document1"], &filed["document2"]), (&Value::Null, &Value::Null));
    let third = server.customer("0").await;
    let body = json!({"verify_type": "driving_license", "first_name": "C", "gender": 1, "id_number": "D-1",
                      "document1": b64(&jpeg(b"licence"))});
    assert_eq!(assert_ok(&third.profile().verify(&body).send().await)["document1"], "jpg");
}

async fn every_verify_error_word_for_word(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let profile = account.profile();
    let exe = b64(b"MZ\x90\x00\x03\x00\x00\x00this program cannot be run in DOS mode");
    // The seed's validation messages, each alone.
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            submission(json!({"verify_type": "visa"})),
            vec!["verify_type should have one of following value: passport, driving_license, nid."],
        ),
        (
            submission(json!({"verify_type": "PASSPORT"})),
            vec!["verify_type should have one of following value: passport, driving_license, nid."],
        ),
        (submission(json!({"gender": 3})), vec!["gender should have one of following value: 1, 2."]),
        (submission(json!({"gender": "male"})), vec!["gender should have one of following value: 1, 2."]),
        (submission(json!({"gender": 1.5})), vec!["gender should have one of following value: 1, 2."]),
        (submission(json!({"document1": exe})), vec!["document1 allowed document types: png,jpg,pdf."]),
        (submission(json!({"document2": exe})), vec!["document2 allowed document types: png,jpg,pdf."]),
        // kassa's messages for what the seed leaves open.
        (json!({}), vec!["verify_type is required", "first_name is required", "gender is required", "id_number is required"]),
        (submission(json!({"first_name": "  ", "id_number": null})), vec!["first_name is required", "id_number is required"]),
        (submission(json!({"id_number": "AB<script>"})), vec!["id_number must be 1 to 64 letters, digits, spaces, '-', '/' or '.'"]),
        (submission(json!({"first_name": "x".repeat(101)})), vec!["first_name must be at most 100 characters"]),
        (submission(json!({"document1": "%%% not base64 %%%"})), vec!["document1 is not valid base64"]),
        (submission(json!({"document1": 12})), vec!["document1 must be a base64 string"]),
        (
            submission(json!({"verify_type": "nid", "document2": b64(&png(b"back"))})),
            vec!["document2 is accepted for verify_type passport only"],
        ),
        (
            submission(json!({"document_1": "x"})),
            vec!["Unknown field \"document_1\"; the fields of profile/verify are verify_type, first_name, gender, id_number, document1, document2"],
        ),
        // Several at once, in field order.
        (
            json!({"verify_type": "visa", "first_name": "A", "gender": 0, "id_number": "1", "document1": exe, "document2": exe}),
            vec![
                "verify_type should have one of following value: passport, driving_license, nid.",
                "gender should have one of following value: 1, 2.",
                "document1 allowed document types: png,jpg,pdf.",
                "document2 allowed document types: png,jpg,pdf.",
            ],
        ),
    ];
    for (body, errors) in cases {
        let response = profile.verify(&body).send().await;
        assert_errors(&response, 400, &errors);
    }
    // The basic errors apply to this route too.
    let response = profile.request("POST", "/profile/verify").body(b"{\"verify_type\":".to_vec()).send().await;
    assert_errors(&response, 400, &["Invalid request body"]);
    let response = profile.verify(&submission(json!({}))).content_type(Some("multipart/form-data")).send().await;
    assert_errors(&response, 415, &["The required content-type is application/json"]);
    assert!(server.store.latest_verification(account.customer).await.unwrap().is_none(), "nothing was filed");
}

async fn submissions_follow_the_state_machine(backend: Backend) {
    let server = TestServer::start(backend).await;
    let submit = |account: &Account| {
        let profile = account.profile();
        async move { profile.verify(&submission(json!({}))).send().await }
    };
    let id_of = |filed: Value| filed["id"].as_str().unwrap().parse::<i64>().unwrap();

    // in_process → "already in process", even with an invalid body (the state is told first).
    let account = server.customer("0").await;
    let first = id_of(assert_ok(&submit(&account).await));
    assert_errors(&submit(&account).await, 409, &["Verification is already in process."]);
    let invalid = account.profile().verify(&json!({"verify_type": "visa"})).send().await;
    assert_errors(&invalid, 409, &["Verification is already in process."]);

    // rejected → may submit again; completed → "already completed" and verified "1".
    review(&server, first, ReviewAction::Reject).await;
    let second = id_of(assert_ok(&submit(&account).await));
    assert_ne!(first, second);
    review(&server, second, ReviewAction::Approve).await;
    assert_errors(&submit(&account).await, 409, &["Verification is already completed."]);
    assert_eq!(assert_ok(&account.profile().me().send().await)["verified"], "1");

    // cancelled → "cancelled before", and the customer stays unverified.
    let other = server.customer("0").await;
    let filed = id_of(assert_ok(&submit(&other).await));
    review(&server, filed, ReviewAction::Cancel).await;
    assert_errors(&submit(&other).await, 409, &["Verification is cancelled before."]);
    assert_eq!(assert_ok(&other.profile().me().send().await)["verified"], "0");

    // A decided verification cannot be decided again.
    let again = Review { verification_id: filed, action: ReviewAction::Approve, actor: "test".into(), reason: None };
    let refused = server.store.review_verification(again).await.unwrap_err();
    assert!(refused.to_string().contains("only a verification in process"), "{refused}");
}

async fn concurrent_submissions_file_exactly_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let profile = account.profile();
            tokio::spawn(async move { profile.verify(&submission(json!({"document1": b64(&png(b"x"))}))).send().await })
        })
        .collect();
    let mut filed = 0;
    for attempt in attempts {
        let response = attempt.await.unwrap();
        if response.status == 200 {
            filed += 1;
        } else {
            assert_errors(&response, 409, &["Verification is already in process."]);
        }
    }
    assert_eq!(filed, 1);
    let all = server.store.list_verifications(kassa_store::VerificationFilter { limit: 100, ..Default::default() });
    assert_eq!(all.await.unwrap().len(), 1);
}

async fn documents_are_typed_by_their_bytes_not_their_names(backend: Backend) {
    let server = TestServer::start(backend).await;
    // A PNG labelled as a PDF (data URL) and as a JPEG: stored as what it is.
    let bytes = png(b"really a png");
    let account = server.customer("0").await;
    let labelled = submission(json!({
        "document1": format!("data:application/pdf;base64,{}", b64(&bytes)),
        "document2": format!("data:image/jpeg;name=photo.jpg;base64,{}", b64(&bytes)),
    }));
    let filed = assert_ok(&account.profile().verify(&labelled).send().await);
    assert_eq!((&filed["document1"], &filed["document2"]), (&json!("png"), &json!("png")));
    let id: i64 = filed["id"].as_str().unwrap().parse().unwrap();
    let record = server.store.verification(id).await.unwrap().unwrap();
    assert!(record.documents.iter().all(|d| d.kind == DocumentType::Png && d.size == bytes.len() as u64));

    // Base64 with line breaks (Python's base64.encodebytes, the seed's .encode('base64')) is fine.
    let wrapped: String =
        b64(&jpeg(&[7; 300])).as_bytes().chunks(76).map(|l| format!("{}\n", String::from_utf8_lossy(l))).collect();
    let other = server.customer("0").await;
    assert_eq!(
        assert_ok(&other.profile().verify(&submission(json!({"document1": wrapped}))).send().await)["document1"],
        "jpg"
    );

    // An EXE and text named or labelled as a PDF are refused, whatever they claim.
    let refused = server.customer("0").await;
    for impostor in [
        format!("data:application/pdf;base64,{}", b64(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00")),
        format!("data:application/pdf;name=scan.pdf;base64,{}", b64(b"This is a plain text file, not a PDF.\n")),
        b64(b"PDF-1.7 but without the percent sign"),
        b64(b"GIF89a\x01\x00\x01\x00"),
        b64(b"\x89PNG but not the full signature"),
    ] {
        let response = refused.profile().verify(&submission(json!({"document1": impostor}))).send().await;
        assert_errors(&response, 400, &["document1 allowed document types: png,jpg,pdf."]);
    }
    assert!(server.store.latest_verification(refused.customer).await.unwrap().is_none());
}

/// The process's peak resident memory, in bytes (`VmHWM`). nextest runs each test in its own
/// process, so the peak is this test's: the server under test runs in it.
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Sends a verify request head with `framing` headers, then streams `stream_bytes` of body
/// chunked (0 = send nothing after the head), and returns the status and body of the answer. The
/// answer is read while the body is still being sent, as a server that refuses early sends it.
async fn raw_verify(server: &TestServer, account: &Account, framing: &str, stream_bytes: usize) -> (u16, String) {
    let timestamp = decimal_now();
    // The limit applies before the signature is checked (a signature needs the whole body), so
    // any well-formed signature with a real key reaches it.
    let signature = profile_signature(&account.secret, &timestamp, "POST", "/profile/verify", b"{}");
    let head = format!(
        "POST /profile/verify HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nBB-ACCESS-KEY: {}\r\n\
         BB-ACCESS-SIGN: {signature}\r\nBB-ACCESS-TIMESTAMP: {timestamp}\r\n{framing}\r\n",
        server.addr, account.key.api_key
    );
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let sender = tokio::spawn(async move {
        let chunk = vec![b'A'; 1024 * 1024];
        let mut sent = 0;
        while sent < stream_bytes {
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if writer.write_all(&framed).await.is_err() {
                break; // the server answered and closed: expected
            }
            sent += chunk.len();
        }
        // A complete body, so a server that buffers it all does answer (and fails the check).
        if stream_bytes > 0 {
            let _ = writer.write_all(b"0\r\n\r\n").await;
        }
        // Keep the connection open until the answer is read (a half-close makes hyper drop the
        // request); the task is aborted then.
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        drop(writer);
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let n = reader.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
            if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if answer.len() >= end + 4 + length {
                    break;
                }
            }
        }
    })
    .await;
    sender.abort();
    assert!(read.is_ok(), "the server answered within 30 s");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The upload budget is reserved when an upload's head arrives, but the signature can only be
/// checked once its body has: uploads that never arrive, under one key, hold one upload's share at
/// most (the customer's others wait their turn), so other customers' uploads still go through.
async fn one_customer_cannot_take_the_whole_upload_budget(backend: Backend) {
    let mut options = crate::support::ServerOptions::default();
    options.config.profile_verify_body_limit = 1024 * 1024;
    options.config.profile_verify_inflight = 2 * 1024 * 1024;
    let server = TestServer::start_with(backend, options).await;
    let stalling = server.customer("0").await;
    let other = server.customer("0").await;
    // Two uploads that declare the whole limit and never send it; a well-formed signature is
    // enough to be read (the signature covers the body that never comes).
    let mut held = Vec::new();
    for _ in 0..2 {
        let timestamp = decimal_now();
        let signature = profile_signature(&stalling.secret, &timestamp, "POST", "/profile/verify", b"{}");
        let head = format!(
            "POST /profile/verify HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nBB-ACCESS-KEY: {}\r\n\
             BB-ACCESS-SIGN: {signature}\r\nBB-ACCESS-TIMESTAMP: {timestamp}\r\nContent-Length: {}\r\n\r\n{{",
            server.addr,
            stalling.key.api_key,
            1024 * 1024
        );
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let filed = other.profile().verify(&submission(json!({"document1": b64(&png(b"x"))}))).send().await;
    assert_ok(&filed);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "filed after {:?}", started.elapsed());
    drop(held);
}

/// The key of an upload is looked up when its head arrives, and again once its body has: an upload
/// may take minutes, and a key revoked meanwhile must not file it.
async fn a_key_revoked_while_its_upload_arrives_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let body = serde_json::to_vec(&submission(json!({}))).unwrap();
    let timestamp = decimal_now();
    let signature = profile_signature(&account.secret, &timestamp, "POST", "/profile/verify", &body);
    let head = format!(
        "POST /profile/verify HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nBB-ACCESS-KEY: {}\r\n\
         BB-ACCESS-SIGN: {signature}\r\nBB-ACCESS-TIMESTAMP: {timestamp}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        server.addr,
        account.key.api_key,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(&[head.as_bytes(), first].concat()).await.unwrap();
    // The server has the head, has looked the key up, and waits for the rest of the body.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.store.set_api_key_status(&account.key.api_key, kassa_store::KeyStatus::Revoked).await.unwrap();
    stream.write_all(rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 401") && text.contains("Invalid Api Key"), "{text}");
    let mine = kassa_store::VerificationFilter { customer_id: Some(account.customer), limit: 10, ..Default::default() };
    assert!(server.store.list_verifications(mine).await.unwrap().is_empty(), "a revoked key filed a submission");
}

async fn oversized_documents_and_bodies_are_refused_with_bounded_memory(backend: Backend) {
    let server = TestServer::start(backend).await;
    let account = server.customer("0").await;
    let limit = server_limit();
    let too_large = json!({"success": false, "errors": [format!("Request body is larger than {limit} bytes")]});
    let before = peak_memory();

    // A declared length over the limit is refused from the head alone: nothing is read.
    let (status, body) = raw_verify(&server, &account, "Content-Length: 1073741824\r\n", 0).await;
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()), (413, too_large.clone()));
    // Chunked, with no length to refuse early: the server reads up to the limit, then refuses,
    // while the client keeps sending (up to 512 MiB if the server kept reading).
    let (status, body) = raw_verify(&server, &account, "Transfer-Encoding: chunked\r\n", 512 * 1024 * 1024).await;
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()), (413, too_large));
    let grown = peak_memory().saturating_sub(before);
    assert!(
        grown < 3 * limit as u64,
        "the server buffered {} MiB for a {} MiB limit",
        grown / (1024 * 1024),
        limit / (1024 * 1024)
    );

    // An 11 MiB document fits the body limit but not the document cap.
    let mut eleven = vec![0u8; 11 * 1024 * 1024];
    eleven[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    let response = account.profile().verify(&submission(json!({"document1": b64(&eleven)}))).send().await;
    assert_errors(&response, 400, &["document1 is larger than 10 MiB (10485760 bytes)"]);
    drop(eleven);

    // Right after, the largest well-formed submission — two documents of exactly 10 MiB — works.
    let mut cover = vec![0u8; 10 * 1024 * 1024];
    cover[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    let inner = pdf(&vec![b' '; 10 * 1024 * 1024 - pdf(b"").len()]);
    assert_eq!(inner.len(), 10 * 1024 * 1024);
    let body = submission(json!({"document1": b64(&cover), "document2": b64(&inner)}));
    let filed = assert_ok(&account.profile().verify(&body).send().await);
    assert_eq!((&filed["document1"], &filed["document2"]), (&json!("jpg"), &json!("pdf")));
}

fn server_limit() -> usize {
    kassa_server::config::DEFAULT_PROFILE_VERIFY_BODY_LIMIT
}
