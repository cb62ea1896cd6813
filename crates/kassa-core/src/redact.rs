//! Connection strings as they may be printed or logged: every password replaced by `***`.

/// Query or key=value parameters whose value is a secret.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["pass", "secret", "token", "key"].iter().any(|word| key.contains(word))
}

/// `postgres://user:secret@host/db?password=x` → `postgres://user:***@host/db?password=***`;
/// `host=h user=u password=x` (libpq's key=value form) → `host=h user=u password=***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url
            .split(' ')
            .map(|part| match part.split_once('=') {
                Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                _ => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.rfind('@') {
        Some(at) if at > scheme_end => {
            let credentials = &base[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!("{}{}:***{}", &base[..scheme_end + 3], &credentials[..colon], &base[at..]),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_print() {
        assert_eq!(redact_url("postgres://kassa:s3cret@db:5432/kassa"), "postgres://kassa:***@db:5432/kassa");
        assert_eq!(
            redact_url("postgres://kassa@db/kassa?sslmode=require&password=s3cret"),
            "postgres://kassa@db/kassa?sslmode=require&password=***"
        );
        assert_eq!(redact_url("redis://:s3cret@cache:6379/0"), "redis://:***@cache:6379/0");
        assert_eq!(
            redact_url("host=db user=kassa password=s3cret dbname=k"),
            "host=db user=kassa password=*** dbname=k"
        );
        assert_eq!(redact_url("postgres://db/kassa"), "postgres://db/kassa");
        assert_eq!(redact_url("sqlite:///var/lib/kassa.db"), "sqlite:///var/lib/kassa.db");
        for url in ["postgres://u:s3cret@h/d?password=s3cret", "host=h password=s3cret", "redis://:s3cret@h"] {
            assert!(!redact_url(url).contains("s3cret"), "{url}");
        }
    }
}
