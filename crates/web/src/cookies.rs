//! The cookies the pages set and read.

use axum::http::{HeaderMap, header};

/// The value of cookie `name`, if the browser sent it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::cookie;

    #[test]
    fn a_cookie_is_found_among_others() {
        let cases: [(&[&str], Option<&str>); 5] = [
            (&[], None),
            (&["other=1"], None),
            (&["cf_connect=abc"], Some("abc")),
            (&["a=1; cf_connect=abc; b=2"], Some("abc")),
            (&["a=1", "cf_connect=xyz"], Some("xyz")),
        ];
        for (cookies, expected) in cases {
            let mut headers = HeaderMap::new();
            for c in cookies {
                headers.append(header::COOKIE, HeaderValue::from_static(c));
            }
            assert_eq!(
                cookie(&headers, "cf_connect").as_deref(),
                expected,
                "{cookies:?}"
            );
        }
    }
}
