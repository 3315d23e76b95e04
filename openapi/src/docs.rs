//! The Swagger UI page at `/docs`, with a `Content-Security-Policy` that
//! lets run exactly the inline script and style the page itself carries
//! (by their SHA-256, computed once from the page as served) and nothing
//! else: no other script, no `eval`, no frames, no plugins; images only from
//! this origin or `data:` URIs (the stylesheet's icons); requests ("Try it
//! out") only to this origin.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use poem::endpoint::make_sync;
use poem::http::header::CONTENT_SECURITY_POLICY;
use poem::web::Html;
use poem::{Endpoint, IntoResponse};
use sha2::{Digest, Sha256};

/// `GET /docs`: the page and its policy.
pub fn page(html: String) -> impl Endpoint {
    let policy = content_security_policy(&html);
    poem::get(make_sync(move |_| {
        Html(html.clone()).with_header(CONTENT_SECURITY_POLICY, policy.clone())
    }))
}

/// The policy for `html`: its inline `<script>` and `<style>` elements are
/// allowed by hash, everything else is refused.
pub fn content_security_policy(html: &str) -> String {
    let elements = inline_elements(html);
    let hashes = |tag: &str| {
        let allowed: Vec<String> = elements
            .iter()
            .filter(|(t, _)| *t == tag)
            .map(|(_, body)| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(body))))
            .collect();
        if allowed.is_empty() {
            "'none'".to_owned()
        } else {
            allowed.join(" ")
        }
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; \
         img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
        hashes("script"),
        hashes("style")
    )
}

/// Every inline `<script>` and `<style>` element of `html` with its
/// content, read as an HTML parser reads these raw-text elements: the
/// content runs from the end of the opening tag to the next `</script` (or
/// `</style`), and nothing inside it is a tag.
fn inline_elements(html: &str) -> Vec<(&'static str, &[u8])> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let next = ["script", "style"]
            .into_iter()
            .filter_map(|tag| lower[at..].find(&format!("<{tag}")).map(|i| (at + i, tag)))
            .min();
        let Some((start, tag)) = next else { break };
        let Some(body) = lower[start..].find('>').map(|i| start + i + 1) else {
            break;
        };
        let close = format!("</{tag}");
        let Some(end) = lower[body..].find(&close).map(|i| body + i) else {
            break;
        };
        out.push((tag, &html.as_bytes()[body..end]));
        at = end + close.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(text: &str) -> String {
        format!(
            "'sha256-{}'",
            STANDARD.encode(Sha256::digest(text.as_bytes()))
        )
    }

    #[test]
    fn each_inline_script_and_style_is_allowed_by_its_hash_and_nothing_else() {
        let html = "<html><head><style charset=\"UTF-8\">a{}</style>\
                    <SCRIPT charset=\"UTF-8\">var s = '<script>' + '<style>b{}';</SCRIPT></head>\
                    <body><script>\nboot();\n</script></body></html>";
        let policy = content_security_policy(html);
        assert!(policy.starts_with("default-src 'none'; "), "{policy}");
        assert!(
            policy.contains(&format!(
                "script-src {} {};",
                sha("var s = '<script>' + '<style>b{}';"),
                sha("\nboot();\n")
            )),
            "{policy}"
        );
        assert!(
            policy.contains(&format!("style-src {};", sha("a{}"))),
            "{policy}"
        );
        assert!(!policy.contains("unsafe"), "{policy}");
    }

    #[test]
    fn a_page_without_inline_code_allows_none() {
        let policy = content_security_policy("<html><body>hi</body></html>");
        assert!(policy.contains("script-src 'none';"), "{policy}");
        assert!(policy.contains("style-src 'none';"), "{policy}");
    }
}
