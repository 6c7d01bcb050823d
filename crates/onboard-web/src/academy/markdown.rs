//! A module's Markdown as HTML that is safe to put in a page: rendered with pulldown-cmark
//! (which passes raw HTML through), then sanitised with ammonia, which keeps only harmless
//! tags and attributes (no `<script>`, no `on…` handlers, no `style`) and links whose scheme
//! is http, https or mailto. Nothing here knows about learners or sessions.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use std::collections::HashSet;
use std::sync::OnceLock;

/// The module's body as sanitised HTML. A level-1 heading that opens the body is left out:
/// the page shows the module's title as its heading.
pub fn module_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut events = Parser::new_ext(markdown, options).peekable();
    let mut kept = Vec::new();
    if matches!(
        events.peek(),
        Some(Event::Start(Tag::Heading {
            level: HeadingLevel::H1,
            ..
        }))
    ) {
        for event in events.by_ref() {
            if matches!(event, Event::End(TagEnd::Heading(HeadingLevel::H1))) {
                break;
            }
        }
    }
    kept.extend(events);
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, kept.into_iter());
    sanitiser().clean(&html).to_string()
}

fn sanitiser() -> &'static ammonia::Builder<'static> {
    static BUILDER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    BUILDER.get_or_init(|| {
        let mut builder = ammonia::Builder::default();
        builder
            .url_schemes(HashSet::from(["http", "https", "mailto"]))
            .link_rel(Some("noopener noreferrer nofollow"));
        builder
    })
}

#[cfg(test)]
mod tests {
    use super::module_html;

    #[test]
    fn markdown_becomes_html() {
        let html = module_html("Some **bold** text.\n\n- one\n- two\n");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
    }

    #[test]
    fn the_opening_title_is_left_to_the_page() {
        let html = module_html("# Title\n\nText.\n\n# Later\n");
        assert!(!html.contains("Title"), "{html}");
        assert!(html.contains("<h1>Later</h1>"), "{html}");
    }

    #[test]
    fn scripts_handlers_and_javascript_links_are_removed() {
        let html = module_html(
            "Hi <script>alert(1)</script><img src=\"x.png\" onerror=\"alert(2)\">\n\n\
             [click](javascript:alert(3)) <a href=\"javascript:alert(4)\">me</a>\n",
        );
        for bad in ["<script", "alert", "onerror", "javascript:"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("<img src=\"x.png\">"), "{html}");
    }

    #[test]
    fn links_open_without_referrer_or_opener() {
        let html = module_html("[docs](https://docs.example/import)\n");
        assert!(
            html.contains("href=\"https://docs.example/import\""),
            "{html}"
        );
        assert!(
            html.contains("rel=\"noopener noreferrer nofollow\""),
            "{html}"
        );
    }
}
