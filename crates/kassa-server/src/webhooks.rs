//! Webhook delivery: takes due deliveries from the store's outbox, signs them per Standard
//! Webhooks, posts them, and schedules retries on a growing schedule until it ends.
//!
//! Receivers are outside parties chosen by customers, so every delivery is guarded against SSRF:
//! the host is resolved here, every address must be public (unless private addresses are allowed
//! for a closed network or tests), and the request is pinned to the address that was checked, so
//! a DNS answer cannot change between the check and the connection. Redirects are not followed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kassa_core::crypto::Vault;
use kassa_store::{now_millis, DeliveryAttempt, DeliveryJob, DeliveryState, Store};
use kassa_wire::sign::webhook;
use tokio::sync::watch;
use tokio::task::JoinSet;

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Wait before attempt n+1 after attempt n failed; its length is the number of attempts.
    /// The first entry is the delay of the first attempt.
    pub schedule: Vec<Duration>,
    pub timeout: Duration,
    /// Allow receivers on loopback and private networks (off by default: SSRF).
    pub allow_private: bool,
    pub tick: Duration,
    pub batch: u32,
}

/// Standard Webhooks' schedule: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about a day).
pub fn default_schedule() -> Vec<Duration> {
    [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600].into_iter().map(Duration::from_secs).collect()
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            schedule: default_schedule(),
            timeout: Duration::from_secs(10),
            allow_private: false,
            tick: Duration::from_secs(1),
            batch: 50,
        }
    }
}

/// Parses `0s,5s,5m,30m,2h` into a schedule.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    let schedule: Vec<Duration> = text
        .split(',')
        .map(|part| {
            let part = part.trim();
            let (number, unit) = part.split_at(part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len()));
            let n: u64 = number.parse().map_err(|_| format!("{part:?} is not a duration like 5s, 10m or 2h"))?;
            let seconds = match unit {
                "ms" => return Ok(Duration::from_millis(n)),
                "s" | "" => n,
                "m" => n * 60,
                "h" => n * 3600,
                "d" => n * 86_400,
                _ => return Err(format!("{part:?}: the unit must be ms, s, m, h or d")),
            };
            Ok(Duration::from_secs(seconds))
        })
        .collect::<Result<_, _>>()?;
    if schedule.is_empty() || schedule.len() > 50 {
        return Err("a schedule has 1 to 50 entries".into());
    }
    if !schedule[0].is_zero() {
        return Err("a schedule starts with 0s: the first attempt is made as soon as the event is written".into());
    }
    Ok(schedule)
}

/// The associated data that binds a sealed webhook secret to its endpoint.
pub fn secret_context(customer_id: i64, url: &str) -> String {
    format!("webhook_secret:{customer_id}:{url}")
}

/// Longest accepted endpoint URL.
pub const MAX_URL_LEN: usize = 2048;

/// Checks an endpoint URL when it is registered: http(s), a host, no credentials, and — unless
/// allowed — no IP literal of a private network.
pub fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("the URL is longer than {MAX_URL_LEN} characters"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the URL must be http:// or https://".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the URL must not carry credentials".into());
    }
    let host = parsed.host_str().ok_or("the URL has no host")?;
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        if !allow_private && !is_public(ip) {
            return Err(format!("{ip} is not a public address"));
        }
    }
    if !allow_private && (host == "localhost" || host.ends_with(".localhost") || host.ends_with(".internal")) {
        return Err(format!("{host} is not a public host"));
    }
    Ok(parsed)
}

/// Whether an address is on the public internet (not loopback, private, link-local, ...). IPv6
/// addresses that carry an IPv4 one (mapped, compatible, NAT64, 6to4) are judged by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0) // site-local (deprecated, still routed inside some sites)
        }
    }
}

/// The IPv4 address an IPv6 one reaches: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated
/// (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`, and the
/// local-use `64:ff9b:1::/48` with the address in its last 32 bits) and 6to4 (`2002:aabb:ccdd::`).
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let from = |hi: u16, lo: u16| std::net::Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(from(hi, lo)),
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(from(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x64, 0xff9b, 1, _, _, _, hi, lo] => Some(from(hi, lo)),
        [0x2002, hi, lo, ..] => Some(from(hi, lo)),
        _ => None,
    }
}

/// Resolves the URL's host and returns the address to connect to, refusing private ones.
async fn resolve(url: &reqwest::Url, allow_private: bool) -> Result<SocketAddr, String> {
    let host = url.host_str().ok_or("no host")?;
    let port = url.port_or_known_default().ok_or("no port")?;
    let addresses: Vec<SocketAddr> =
        tokio::net::lookup_host((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|e| format!("resolving {host}: {e}"))?
            .collect();
    if addresses.is_empty() {
        return Err(format!("{host} has no address"));
    }
    if !allow_private {
        if let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
            return Err(format!("{host} resolves to {}, which is not a public address", private.ip()));
        }
    }
    Ok(addresses[0])
}

/// One attempt: `Ok(status)` when the receiver answered, `Err` when there was no answer.
async fn deliver(job: &DeliveryJob, secret: &str, config: &WebhookConfig) -> Result<u16, String> {
    let url = check_url(&job.url, config.allow_private)?;
    let address = resolve(&url, config.allow_private).await?;
    // No proxy from the environment: a proxy would resolve the host itself, around the address
    // checked and pinned here.
    let mut builder =
        reqwest::Client::builder().timeout(config.timeout).redirect(reqwest::redirect::Policy::none()).no_proxy();
    if let Some(domain) = url.domain() {
        builder = builder.resolve(domain, address);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let timestamp = now_millis() / 1000;
    let body = job.delivery.payload.as_bytes();
    let signature = webhook::sign(secret, &job.delivery.message_id, timestamp, body).map_err(|e| e.to_string())?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &job.delivery.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .header("user-agent", concat!("kassa-webhooks/", env!("CARGO_PKG_VERSION")))
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}

/// Starts the dispatcher; it stops when `shutdown` turns true.
pub fn spawn(
    store: Arc<dyn Store>,
    vault: Vault,
    config: WebhookConfig,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(config.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A claim outlasts the longest attempt, so a delivery is not sent twice at once.
        let lease = config.timeout * 2 + Duration::from_secs(5);
        // Up to `batch` attempts run at once, and a finished one frees its place for the next
        // tick's claim: a receiver that never answers holds one place for its timeout, not the
        // whole dispatcher.
        let mut running = JoinSet::new();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                Some(_) = running.join_next(), if !running.is_empty() => continue,
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
            let free = (config.batch as usize).saturating_sub(running.len());
            if free == 0 {
                continue;
            }
            let jobs = match store.claim_deliveries(free as u32, lease).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming webhook deliveries failed");
                    continue;
                }
            };
            for job in jobs {
                let (store, vault, config) = (store.clone(), vault.clone(), config.clone());
                running.spawn(async move { attempt(store.as_ref(), &vault, &config, job).await });
            }
        }
        // Attempts under way are recorded before the dispatcher ends.
        while running.join_next().await.is_some() {}
        tracing::info!("webhook dispatcher stopped");
    })
}

async fn attempt(store: &dyn Store, vault: &Vault, config: &WebhookConfig, job: DeliveryJob) {
    let secret = vault
        .open(&job.secret_sealed, &secret_context(job.customer_id.0, &job.url))
        .map_err(|e| format!("the secret does not open: {e}"))
        .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "the secret is not text".to_string()));
    // One bound for the whole attempt, name resolution included, so it ends inside its lease.
    let outcome = match &secret {
        Ok(secret) => tokio::time::timeout(config.timeout, deliver(&job, secret, config))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", config.timeout))),
        Err(e) => Err(e.clone()),
    };
    let attempts_done = job.delivery.attempts as usize + 1;
    let retry_at = config.schedule.get(attempts_done).map(|wait| now_millis() + wait.as_millis() as i64);
    let attempt = match outcome {
        Ok(status) if (200..300).contains(&status) => {
            DeliveryAttempt { status: Some(status), error: None, delivered: true, retry_at: None }
        }
        Ok(status) => {
            DeliveryAttempt { status: Some(status), error: Some(format!("HTTP {status}")), delivered: false, retry_at }
        }
        Err(error) => DeliveryAttempt { status: None, error: Some(error), delivered: false, retry_at },
    };
    let delivered = attempt.delivered;
    match store.record_delivery(job.delivery.id, job.claimed_until, attempt).await {
        Ok(Some(record)) if record.state == DeliveryState::Failed => tracing::warn!(
            delivery = record.id,
            attempts = attempts_done,
            "a webhook delivery failed for good, its retry schedule over \
             (kassa admin webhook deliveries --status failed; replay sends it again)"
        ),
        Ok(Some(record)) => tracing::debug!(delivery = record.id, state = %record.state, delivered, "webhook attempt"),
        Ok(None) => tracing::warn!(
            delivery = job.delivery.id,
            delivered,
            "a webhook attempt outlasted its claim; the delivery's newer state is kept"
        ),
        Err(e) => tracing::error!(delivery = job.delivery.id, error = %e, "recording a webhook attempt failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_public_http() {
        assert!(check_url("https://hooks.example.com/kassa", false).is_ok());
        assert!(check_url("ftp://example.com", false).is_err());
        assert!(check_url("http://user:pw@example.com", false).is_err());
        for private in [
            "http://127.0.0.1:8080/x",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://169.254.169.254/latest",
            "http://localhost/",
        ] {
            assert!(check_url(private, false).is_err(), "{private}");
            assert!(check_url(private, true).is_ok(), "{private} with private allowed");
        }
        assert!(!is_public("::ffff:192.168.1.1".parse().unwrap()));
        assert!(is_public("93.184.216.34".parse().unwrap()));
        // IPv6 forms that reach an IPv4 address are judged by it; and the reserved IPv4 ranges.
        for private in [
            "64:ff9b::a00:1",    // NAT64 of 10.0.0.1
            "64:ff9b:1::a00:1",  // local-use NAT64 of 10.0.0.1
            "::ffff:0:a00:1",    // IPv4-translated 10.0.0.1
            "2002:a9fe:a9fe::1", // 6to4 of 169.254.169.254
            "::a9fe:a9fe",       // IPv4-compatible 169.254.169.254
            "fec0::1",           // site-local
            "192.0.0.8",         // IETF protocol assignments
            "198.18.0.1",        // benchmarking
            "240.0.0.1",         // reserved
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["64:ff9b::5db8:d822", "2002:5db8:d822::1", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn schedules_parse() {
        assert_eq!(
            parse_schedule("0s,5s,5m,2h").unwrap(),
            vec![Duration::ZERO, Duration::from_secs(5), Duration::from_secs(300), Duration::from_secs(7200)]
        );
        assert_eq!(parse_schedule("0ms").unwrap(), vec![Duration::ZERO]);
        assert!(
            parse_schedule("1m,5m").is_err(),
            "the first attempt is at once; a schedule saying otherwise is refused"
        );
        assert!(parse_schedule("5x").is_err());
        assert!(parse_schedule("").is_err());
        assert_eq!(default_schedule().len(), 8);
    }
}
