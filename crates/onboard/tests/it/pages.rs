//! A browser's eyes on the server-rendered pages (the Academy, the Shared Space): a client
//! that keeps cookies and follows no redirects, pages read with CSS selectors, and signing a
//! person in with the link of their welcome email.

use crate::support::*;
use scraper::{Html, Selector};

/// A browser of one person: keeps cookies, follows no redirects.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

/// A page as the browser got it.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub html: Html,
}

impl Page {
    pub fn all(&self, selector: &str) -> Vec<scraper::ElementRef<'_>> {
        let selector = Selector::parse(selector).unwrap();
        self.html.select(&selector).collect()
    }

    pub fn one(&self, selector: &str) -> scraper::ElementRef<'_> {
        let found = self.all(selector);
        assert_eq!(
            found.len(),
            1,
            "expected one `{selector}` in:\n{}",
            self.html.html()
        );
        found[0]
    }

    pub fn text(&self, selector: &str) -> String {
        squash(&self.one(selector).text().collect::<String>())
    }

    pub fn attr(&self, selector: &str, name: &str) -> String {
        self.one(selector).attr(name).unwrap_or_default().to_owned()
    }
}

/// Text with its runs of whitespace made single spaces.
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Browser {
    pub fn new(server: &Server) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.base.clone(),
        }
    }

    /// The same browser (its cookies) on another server, e.g. after a restart.
    pub fn at(&self, server: &Server) -> Browser {
        Browser {
            client: self.client.clone(),
            base: server.base.clone(),
        }
    }

    /// A page from an answer (of `post`, say).
    pub async fn page(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            html: Html::parse_document(&body),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        Self::page(response).await
    }

    /// Sends a form and reads the page that answers it.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Self::page(self.post(path, form).await).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

/// The emails to `email` in the development mailbox, newest first, each raw and decoded
/// from quoted-printable.
pub async fn emails_to(server: &Server, email: &str) -> Vec<String> {
    let mailbox = server.get("/api/mailbox").await;
    let files: Vec<String> = mailbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"].as_str().is_some_and(|to| to.contains(email)))
        .map(|e| text(&e["file"]))
        .collect();
    let mut emails = Vec::with_capacity(files.len());
    for file in &files {
        let raw = server
            .client
            .get(server.url(&format!("/api/mailbox/{file}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        emails.push(
            quoted_printable::decode(raw.as_bytes(), quoted_printable::ParseMode::Robust)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or(raw),
        );
    }
    emails
}

/// The raw email to `email` with their newest sign-in link (the one that works: a newer link
/// revokes the older), decoded from quoted-printable.
pub async fn welcome_email(server: &Server, email: &str) -> String {
    eventually(&format!("a welcome email to {email}"), DEADLINE, || async {
        // The newest emails may hold no link (a next step, a code).
        emails_to(server, email)
            .await
            .into_iter()
            .find(|raw| raw.contains("/academy/sign-in?token="))
    })
    .await
}

/// Signs `email` in with the link of their welcome email (the Academy's sign-in); returns
/// the browser and the answer that opened the session.
pub async fn sign_in_with_answer(server: &Server, email: &str) -> (Browser, reqwest::Response) {
    let raw = welcome_email(server, email).await;
    let start = raw
        .find("/academy/sign-in?token=")
        .unwrap_or_else(|| panic!("no sign-in link in:\n{raw}"));
    let token: String = raw[start + "/academy/sign-in?token=".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let browser = Browser::new(server);
    let signed_in = browser.post("/academy/sign-in", &[("token", &token)]).await;
    assert_eq!(signed_in.status(), 303, "{email} signs in");
    (browser, signed_in)
}

/// Signs `email` in with the link of their welcome email.
pub async fn sign_in(server: &Server, email: &str) -> Browser {
    sign_in_with_answer(server, email).await.0
}
