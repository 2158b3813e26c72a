//! Request URIs fit for the log: the value of any query parameter that may
//! carry a secret (`token`, `access_token`, `password`, `key`, ...) is
//! replaced by `***`. Such requests are refused (tokens travel in the
//! `Authorization` header only), but what a client sent must not reach the
//! log either.

use axum::http::Uri;

/// Parameter names holding any of these (ignoring case) are secrets.
const SECRET_WORDS: [&str; 8] = [
    "token",
    "auth",
    "pass",
    "secret",
    "key",
    "signature",
    "session",
    "credential",
];

/// `uri` with the values of secret-looking query parameters masked.
pub fn redacted_uri(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.to_string();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let lower = name.to_ascii_lowercase();
            if !value.is_empty() && SECRET_WORDS.iter().any(|word| lower.contains(word)) {
                format!("{name}=***")
            } else {
                param.to_string()
            }
        })
        .collect();
    format!("{}?{}", uri.path(), params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_parameters_are_masked_and_others_kept() {
        for (uri, shown) in [
            ("/v1/clusters", "/v1/clusters"),
            ("/v1/audit?limit=5", "/v1/audit?limit=5"),
            (
                "/v1/clusters?access_token=abc&limit=2",
                "/v1/clusters?access_token=***&limit=2",
            ),
            ("/x?TOKEN=abc", "/x?TOKEN=***"),
            ("/x?auth=Bearer%20abc", "/x?auth=***"),
            ("/x?password=p&api_key=k", "/x?password=***&api_key=***"),
            ("/x?flag&token=", "/x?flag&token="),
            (
                "/v1/clusters/web/desired?director=d1&wait=30s",
                "/v1/clusters/web/desired?director=d1&wait=30s",
            ),
        ] {
            let parsed: Uri = uri.parse().unwrap();
            assert_eq!(redacted_uri(&parsed), shown, "{uri}");
        }
    }
}
