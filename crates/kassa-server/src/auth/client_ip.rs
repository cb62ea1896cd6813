//! The client's address: the socket peer, or — only when the peer is a configured trusted proxy —
//! the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Taking the
//! right-most untrusted entry means a client cannot spoof its address by sending its own header.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use ipnet::IpNet;

pub fn client_ip(parts: &Parts, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let peer = canonical(peer);
    if !is_trusted(peer, trusted_proxies) {
        return Some(peer);
    }
    // Right to left: each trusted proxy appended the address it saw, so the first hop that is not
    // a trusted proxy is the client; whatever lies left of it the client wrote itself, and is
    // neither parsed nor believed (a malformed entry there must not make the request the proxy's).
    let hops: Vec<&[u8]> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .collect();
    for hop in hops.into_iter().rev() {
        // Some proxies write the port too (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
        let parsed = std::str::from_utf8(hop)
            .ok()
            .map(str::trim)
            .and_then(|text| text.parse::<IpAddr>().ok().or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip())));
        match parsed.map(canonical) {
            Some(ip) if is_trusted(ip, trusted_proxies) => continue,
            Some(ip) => return Some(ip),
            // A trusted proxy wrote something that is not an address: the client is unknown.
            None => return None,
        }
    }
    Some(peer)
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) compares as the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// Whether `ip` may use a key with this allow-list (empty = anywhere).
pub fn allowed(ip: Option<IpAddr>, allow_list: &[IpNet]) -> bool {
    allow_list.is_empty() || ip.is_some_and(|ip| allow_list.iter().any(|net| net.contains(&ip)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(peer: &str, xff: Option<&str>) -> Parts {
        let mut builder = Request::builder();
        if let Some(xff) = xff {
            builder = builder.header("x-forwarded-for", xff);
        }
        let mut request = builder.body(()).unwrap();
        request.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        request.into_parts().0
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(&parts("1.2.3.4:5", Some("9.9.9.9")), &trusted), ip("1.2.3.4"));
        assert_eq!(client_ip(&parts("10.0.0.2:5", Some("9.9.9.9")), &trusted), ip("9.9.9.9"));
        // A spoofed left-most entry is ignored: the right-most untrusted hop wins.
        assert_eq!(client_ip(&parts("10.0.0.2:5", Some("6.6.6.6, 9.9.9.9, 10.0.0.7")), &trusted), ip("9.9.9.9"));
        // What the client wrote left of the proxies' entries is not read: a malformed entry there
        // neither hides the client nor makes the request the proxy's.
        assert_eq!(client_ip(&parts("10.0.0.2:5", Some("x, 9.9.9.9")), &trusted), ip("9.9.9.9"));
        assert_eq!(client_ip(&parts("10.0.0.2:5", Some("x, 9.9.9.9, 10.0.0.7")), &trusted), ip("9.9.9.9"));
        // Garbage where a trusted proxy's entry should be: the client is unknown, not the proxy.
        assert_eq!(client_ip(&parts("10.0.0.2:5", Some("garbage")), &trusted), None);
        assert_eq!(client_ip(&parts("10.0.0.2:5", Some("10.0.0.9")), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(&parts("10.0.0.2:5", Some("x, 9.9.9.9:4711")), &trusted), ip("9.9.9.9"));
        assert_eq!(client_ip(&parts("10.0.0.2:5", Some("[2001:db8::1]:4711")), &trusted), ip("2001:db8::1"));
        assert_eq!(client_ip(&parts("[::ffff:1.2.3.4]:5", None), &trusted), ip("1.2.3.4"));
    }

    #[test]
    fn allow_lists() {
        let list: Vec<IpNet> = vec!["192.168.0.0/16".parse().unwrap()];
        assert!(allowed(Some("192.168.1.1".parse().unwrap()), &list));
        assert!(!allowed(Some("127.0.0.1".parse().unwrap()), &list));
        assert!(allowed(None, &[]));
    }
}
