//! Identity documents with the real binary: sealed at rest in the database file (WAL included),
//! opened byte for byte by `kassa admin verification document`, and the operator's review flows
//! with their audit trail.

use std::os::unix::fs::PermissionsExt;

use serde_json::{json, Value};

use crate::support::process::{KassaEnv, KassaProcess};
use crate::support::profile::{assert_errors, assert_ok, b64, pdf, png, ProfileSigner};
use crate::support::{Backend, TestDb};

crate::backend_tests!(documents_are_sealed_at_rest_and_open_through_the_cli, operators_review_with_an_audit_trail);

/// A migrated database with its data directory (the master key is generated there).
async fn setup(backend: Backend) -> (TestDb, KassaEnv) {
    let db = TestDb::new(backend).await;
    let env = KassaEnv::for_db(&db);
    assert!(env.run(&["migrate"]).status.success());
    (db, env)
}

/// A customer and key made with the CLI, signing against `server`.
fn customer(env: &KassaEnv, server: &KassaProcess, email: &str) -> (i64, ProfileSigner) {
    let id = env.json(&["admin", "customer", "create", "--email", email])["id"].as_i64().unwrap();
    let key = env.json(&["admin", "key", "create", "--customer", &id.to_string()]);
    let signer =
        ProfileSigner::new(&server.base_url, key["api_key"].as_str().unwrap(), key["api_secret"].as_str().unwrap());
    (id, signer)
}

fn submission(extra: Value) -> Value {
    let mut body = json!({"verify_type": "passport", "first_name": "Ada", "gender": 2, "id_number": "AB1234567"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

fn id_of(filed: &Value) -> String {
    filed["id"].as_str().unwrap().to_string()
}

/// Where `needle` occurs in the database: in any of SQLite's files (main file, WAL, shared
/// memory), or in a `pg_dump` of the PostgreSQL database (where bytes are written as hex, so the
/// hex of the needle is looked for too).
fn database_contains(db: &TestDb, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    match db.backend {
        Backend::Sqlite => {
            for suffix in ["", "-wal", "-shm"] {
                let path = format!("{}{suffix}", db.sqlite_path().display());
                if let Ok(bytes) = std::fs::read(&path) {
                    if bytes.windows(needle.len()).any(|w| w == needle) {
                        found.push(path);
                    }
                }
            }
        }
        Backend::Postgres => {
            let pg_dump =
                std::env::var("KASSA_TEST_PG_BIN").map(|b| format!("{b}/pg_dump")).unwrap_or("pg_dump".into());
            let dump =
                std::process::Command::new(pg_dump).args(["--data-only", &db.url()]).output().expect("run pg_dump");
            assert!(dump.status.success(), "pg_dump: {}", String::from_utf8_lossy(&dump.stderr));
            let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
            let text = String::from_utf8_lossy(&dump.stdout);
            if dump.stdout.windows(needle.len()).any(|w| w == needle) || text.contains(&hex) {
                found.push("pg_dump".into());
            }
        }
    }
    found
}

fn stderr_of(env: &KassaEnv, args: &[&str]) -> String {
    let output = env.run(args);
    assert!(!output.status.success(), "kassa {args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn documents_are_sealed_at_rest_and_open_through_the_cli(backend: Backend) {
    let (db, env) = setup(backend).await;
    let server = env.serve(&[]);
    let (_, signer) = customer(&env, &server, "sealed@example.com");
    let marker = format!("PLAINTEXT-MARKER-{}", kassa_core::ids::random_token(b"ABCDEFGHIJKLMNOP", 24));
    let cover = png(marker.repeat(200).as_bytes());
    let inner = pdf(format!("inner page {marker}").as_bytes());
    let id_number = format!("ID{}", kassa_core::ids::random_token(b"0123456789", 20));
    let body = submission(json!({"id_number": id_number, "document1": b64(&cover), "document2": b64(&inner)}));
    let id = id_of(&assert_ok(&signer.verify(&body).send().await));

    // Neither the bytes nor their base64 nor the id number are anywhere in the database files,
    // while the server runs (the write is in the WAL) and after it stopped (checkpointed).
    let b64_cover = b64(&cover);
    let needles: [&[u8]; 4] = [marker.as_bytes(), &b64_cover.as_bytes()[100..164], id_number.as_bytes(), b"inner page"];
    for needle in needles {
        assert_eq!(database_contains(&db, needle), Vec::<String>::new(), "{}", String::from_utf8_lossy(needle));
    }
    // The check itself works: what is stored in clear is found.
    assert!(!database_contains(&db, b"sealed@example.com").is_empty(), "the grep finds plain columns");
    assert!(server.terminate().success());
    for needle in needles {
        assert_eq!(database_contains(&db, needle), Vec::<String>::new(), "{}", String::from_utf8_lossy(needle));
    }

    // The operator opens them byte for byte, into files only they can read.
    let out = db.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for (slot, expected, kind) in [("1", &cover, "png"), ("2", &inner, "pdf")] {
        let file = out.join(format!("document{slot}.{kind}"));
        let written = env.json(&["admin", "verification", "document", &id, slot, "--out", file.to_str().unwrap()]);
        assert_eq!((written["type"].as_str(), written["size"].as_u64()), (Some(kind), Some(expected.len() as u64)));
        assert_eq!(&std::fs::read(&file).unwrap(), expected, "document {slot} decrypts byte for byte");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        // An existing file is never overwritten.
        let refused =
            stderr_of(&env, &["admin", "verification", "document", &id, slot, "--out", file.to_str().unwrap()]);
        assert!(refused.contains("never overwritten"), "{refused}");
    }
    let shown = env.json(&["admin", "verification", "show", &id]);
    assert_eq!(shown["id_number"], json!(id_number));

    // With another master key nothing opens.
    let mut stranger = env.clone();
    stranger.extra_env.push(("KASSA_MASTER_KEY".into(), kassa_core::crypto::MasterKey::generate().to_hex()));
    let file = out.join("stranger.png");
    let refused =
        stderr_of(&stranger, &["admin", "verification", "document", &id, "1", "--out", file.to_str().unwrap()]);
    assert!(refused.contains("does not open with this master key"), "{refused}");
    assert!(!file.exists());
    assert!(stderr_of(&stranger, &["admin", "verification", "show", &id]).contains("does not open"));
}

async fn operators_review_with_an_audit_trail(backend: Backend) {
    let (_db, env) = setup(backend).await;
    let server = env.serve(&[]);
    let (_, ada) = customer(&env, &server, "ada@example.com");
    let (_, bob) = customer(&env, &server, "bob@example.com");
    let doc = json!({"document1": b64(&png(b"photo"))});

    // Approve: the customer is verified in profile/me and cannot submit again.
    let first = id_of(&assert_ok(&ada.verify(&submission(doc.clone())).send().await));
    let queue = env.json(&["admin", "verification", "list", "--status", "in_process"]);
    assert_eq!(queue["verifications"].as_array().unwrap().len(), 1);
    assert_eq!(
        queue["verifications"][0]["documents"],
        json!([{"slot": 1, "type": "png", "size": png(b"photo").len()}])
    );
    let approved =
        env.json(&["admin", "verification", "approve", &first, "--actor", "ops-ann", "--reason", "matches the photo"]);
    assert_eq!((approved["status"].as_str(), approved["customer_verified"].as_bool()), (Some("completed"), Some(true)));
    assert_eq!(assert_ok(&ada.me().send().await)["verified"], "1");
    assert_errors(&ada.verify(&submission(doc.clone())).send().await, 409, &["Verification is already completed."]);
    let again = stderr_of(&env, &["admin", "verification", "reject", &first, "--actor", "ops-ann"]);
    assert!(again.contains("the verification is completed; only a verification in process"), "{again}");

    // Reject (the actor from the login name): the customer may submit again. Then cancel: for good.
    let second = id_of(&assert_ok(&bob.verify(&submission(doc.clone())).send().await));
    let mut as_bob_the_operator = env.clone();
    as_bob_the_operator.extra_env.push(("USER".into(), "ops-bob".into()));
    let rejected = as_bob_the_operator.json(&["admin", "verification", "reject", &second, "--reason", "blurry photo"]);
    assert_eq!((rejected["status"].as_str(), rejected["reviewed_by"].as_str()), (Some("rejected"), Some("ops-bob")));
    let third = id_of(&assert_ok(&bob.verify(&submission(doc.clone())).send().await));
    assert_ne!(second, third);
    env.json(&[
        "admin",
        "verification",
        "cancel",
        &third,
        "--actor",
        "ops-ann",
        "--reason",
        "document belongs to someone else",
    ]);
    assert_errors(&bob.verify(&submission(doc.clone())).send().await, 409, &["Verification is cancelled before."]);
    assert_eq!(assert_ok(&bob.me().send().await)["verified"], "0");

    // Every decision is in the audit trail: who, when, why.
    let audit = |id: &str| env.json(&["admin", "verification", "show", id])["audit"].clone();
    let trail = |entries: &Value| -> Vec<(String, String, Option<String>)> {
        entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert!(e["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
                (
                    e["action"].as_str().unwrap().into(),
                    e["actor"].as_str().unwrap().into(),
                    e["reason"].as_str().map(Into::into),
                )
            })
            .collect()
    };
    let bob_key = bob.api_key.clone();
    assert_eq!(
        trail(&audit(&first)),
        vec![
            ("submit".into(), format!("api_key:{}", ada.api_key), None),
            ("approve".into(), "ops-ann".into(), Some("matches the photo".into())),
        ]
    );
    assert_eq!(
        trail(&audit(&second)),
        vec![
            ("submit".into(), format!("api_key:{bob_key}"), None),
            ("reject".into(), "ops-bob".into(), Some("blurry photo".into()))
        ]
    );
    assert_eq!(
        trail(&audit(&third)),
        vec![
            ("submit".into(), format!("api_key:{bob_key}"), None),
            ("cancel".into(), "ops-ann".into(), Some("document belongs to someone else".into())),
        ]
    );
    let decided = env.json(&["admin", "verification", "show", &third]);
    assert_eq!(
        (decided["reviewed_by"].as_str(), decided["review_reason"].as_str()),
        (Some("ops-ann"), Some("document belongs to someone else"))
    );

    // Filters, and the refusals an operator can run into.
    let count = |status: &str| {
        env.json(&["admin", "verification", "list", "--status", status])["verifications"].as_array().unwrap().len()
    };
    assert_eq!((count("completed"), count("rejected"), count("cancelled"), count("in_process")), (1, 1, 1, 0));
    assert_eq!(env.json(&["admin", "verification", "list"])["verifications"].as_array().unwrap().len(), 3);
    assert!(stderr_of(&env, &["admin", "verification", "list", "--status", "pending"]).contains("in_process"));
    assert!(stderr_of(&env, &["admin", "verification", "show", "999"]).contains("verification 999 not found"));
    let file = env.data_dir.join("none.pdf");
    assert!(stderr_of(&env, &["admin", "verification", "document", &first, "2", "--out", file.to_str().unwrap()])
        .contains("has no document 2"));
    assert!(!stderr_of(&env, &["admin", "verification", "document", &first, "3", "--out", "x"]).is_empty());
    let fourth = {
        let (_, carol) = customer(&env, &server, "carol@example.com");
        id_of(&assert_ok(&carol.verify(&submission(json!({}))).send().await))
    };
    // No login name in the environment (a container): the decision is still attributed.
    let mut nobody = env.clone();
    nobody.extra_env.push(("USER".into(), String::new()));
    nobody.extra_env.push(("LOGNAME".into(), String::new()));
    nobody.json(&["admin", "verification", "approve", &fourth]);
    let audit = env.json(&["admin", "verification", "show", &fourth]);
    assert_eq!(audit["status"], "completed");
    let actor = audit["audit"].as_array().unwrap().last().unwrap()["actor"].as_str().unwrap().to_string();
    assert!(actor.starts_with("uid:") && actor.contains('@'), "{actor}");
}
