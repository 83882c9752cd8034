//! The page shell every page is written into, and HTML escaping.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// HTML-escapes text.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A page: `title` (escaped) as its title and heading, then `body` (HTML, escaped by the
/// caller), answered with `status`.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} | callforce</title>\
<style>body{{font-family:sans-serif;max-width:34rem;margin:3rem auto}}dt{{font-weight:bold}}</style></head>\
<body><h1>{t}</h1>{body}</body></html>\n",
        t = escape(title)
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_what_html_would_read() {
        for (text, escaped) in [
            ("plain", "plain"),
            ("<script>", "&lt;script&gt;"),
            ("a & b", "a &amp; b"),
            ("\"q\" 'a'", "&quot;q&quot; &#39;a&#39;"),
            ("&lt;", "&amp;lt;"),
        ] {
            assert_eq!(escape(text), escaped, "{text}");
        }
    }
}
