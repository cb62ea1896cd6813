//! Master-key rotation: with the old key listed as retired, everything sealed under it keeps
//! opening while new values are sealed under the new key; without it, nothing old opens.

use kassa_core::crypto::MasterKey;

use crate::support::process::KassaEnv;
use crate::support::{Backend, TestDb};

crate::backend_tests!(a_retired_master_key_still_opens_what_it_sealed);

async fn a_retired_master_key_still_opens_what_it_sealed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (old, new) = (MasterKey::generate(), MasterKey::generate());
    let with_keys = |current: &MasterKey, retired: Option<&MasterKey>| {
        let mut env = KassaEnv::for_db(&db);
        env.extra_env.retain(|(k, _)| k != "KASSA_MASTER_KEY");
        env.extra_env.push(("KASSA_MASTER_KEY".into(), current.to_hex()));
        if let Some(retired) = retired {
            env.extra_env.push(("KASSA_MASTER_KEY_RETIRED".into(), retired.to_hex()));
        }
        env
    };
    let before = with_keys(&old, None);
    assert!(before.run(&["migrate"]).status.success());
    let sealed_old = before.seed("10.00", "1.00", 100_000);

    let rotating = with_keys(&new, Some(&old));
    let sealed_new = rotating.seed("10.00", "1.00", 100_000);
    let node = rotating.serve(&["--no-worker"]);
    assert!(sealed_old.client(&node.base_url).balance().await.is_ok(), "an old secret opens with the retired key");
    assert!(sealed_new.client(&node.base_url).balance().await.is_ok(), "a new secret is sealed with the new key");
    drop(node);

    let after = with_keys(&new, None);
    let node = after.serve(&["--no-worker"]);
    let refused = sealed_old.client(&node.base_url).balance().await.unwrap_err();
    assert_eq!(refused.code(), Some("auth_error"), "without the retired key the old secret does not open");
    assert!(sealed_new.client(&node.base_url).balance().await.is_ok());
}
