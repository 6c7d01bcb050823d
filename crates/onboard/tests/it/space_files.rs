//! Files in the Shared Space: a person of the account uploads a file through the Space's
//! form (in Chromium, and over HTTP with a session cookie), everyone of the account sees and
//! downloads it as an attachment with safe headers, the team lists it through the API; an
//! oversized or wrongly typed upload shows the reason next to the field and stores nothing,
//! on disk or in the database; another account's file is a 404.

use crate::pages::*;
use crate::support::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::path::Path;

const ACCOUNT: &str = "acme";
const OTHER: &str = "globex";
const EVE: &str = "eve@acme.example";

/// A one-page PDF, small and valid enough for any type check.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
/// A 1x1 transparent PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

/// A server with ACME and Globex won and everyone welcomed.
async fn files_server(data: &Path, db: &TestDatabase) -> Server {
    let server = ServerConfig::new(data, db).start().await;
    server.post_events(&acme_deal()).await;
    server.post_events(&deal_won(OTHER)).await;
    server.advance("1s").await;
    server
}

/// ACME's deal, with an end user beside the admin.
fn acme_deal() -> Value {
    let mut deal = deal_won(ACCOUNT);
    deal["data"]["contacts"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "email": EVE, "name": "Eve Seller", "persona": "end_user" }));
    deal
}

/// Sends the Space's upload form with a file of this name, type and content.
async fn upload(who: &Browser, csrf: &str, name: &str, mime: &str, bytes: Vec<u8>) -> Page {
    let form = Form::new().text("csrf", csrf.to_owned()).part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(mime)
            .unwrap(),
    );
    let answer = who
        .client
        .post(format!("{}/space/files", who.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    Browser::page(answer).await
}

/// The account's files, as the team's API lists them.
async fn listed(server: &Server, account: &str) -> Vec<Value> {
    server.get(&format!("/api/accounts/{account}/files")).await["files"]
        .as_array()
        .unwrap()
        .clone()
}

/// Every file under the data directory's `files/` folder (temporary ones too).
fn on_disk(data: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(&data.join("files"), &mut out);
    out
}

async fn space_csrf(who: &Browser) -> String {
    let page = who.get("/space").await;
    assert_eq!(page.status, 200);
    page.all("input[name=csrf]")
        .first()
        .and_then(|input| input.attr("value"))
        .unwrap_or_else(|| panic!("no CSRF token in:\n{}", page.html.html()))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_file_is_listed_and_downloaded_as_an_attachment_with_safe_headers() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = files_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let csrf = space_csrf(&ada).await;

        let name = "Plan de démarrage.pdf";
        let page = upload(&ada, &csrf, name, "application/pdf", PDF.to_vec()).await;
        assert_eq!(page.status, 303);
        let page = ada.get("/space?uploaded=1").await;
        assert!(page.text("p.notice").contains("uploaded"));
        let item = page.text(".files li");
        assert!(item.contains(name), "{item}");
        assert!(item.contains(&format!("{} bytes", PDF.len())), "{item}");
        assert!(item.contains("Ada Admin"), "{item}");
        let href = page.attr(".files li a", "href");

        let answer = ada
            .client
            .get(format!("{}{href}", ada.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let headers = answer.headers().clone();
        assert_eq!(headers["content-type"], "application/pdf");
        assert_eq!(
            headers["content-disposition"],
            "attachment; filename=\"Plan de d_marrage.pdf\"; filename*=UTF-8''Plan%20de%20d%C3%A9marrage.pdf"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(answer.bytes().await.unwrap().as_ref(), PDF);

        let files = listed(&server, ACCOUNT).await;
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0]["name"], name);
        assert_eq!(files[0]["size"], PDF.len());
        assert_eq!(files[0]["content_type"], "application/pdf");
        assert_eq!(files[0]["uploaded_by"], admin_email(ACCOUNT));
        let id = text(&files[0]["id"]);
        assert_eq!(files[0]["download"], format!("/space/files/{id}"));
        // Stored under the data directory by its id, and nothing half-written beside it.
        let stored = on_disk(data.path());
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert!(
            stored[0].ends_with(&format!("files/{ACCOUNT}/{id}")),
            "{stored:?}"
        );
        // Logged for the activity feed and the rules.
        server.advance("1s").await;
        let logged = server.events("type=file.uploaded").await;
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert_eq!(logged[0]["data"]["file"], id.as_str());
        assert_eq!(logged[0]["data"]["by"], admin_email(ACCOUNT));
        let feed = ada.get("/space").await.text(".activity li:first-child");
        assert!(feed.contains("Ada Admin uploaded"), "{feed}");
        // The example program tells the CSM.
        let mailbox = server.get("/api/mailbox").await;
        let to_csm: Vec<String> = mailbox["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["to"].as_str().is_some_and(|to| to.contains(CSM_EMAIL)))
            .map(|e| text(&e["subject"]))
            .collect();
        assert!(
            to_csm.iter().any(|s| s.contains("acme Inc. shared a file")),
            "{to_csm:?}"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_file_is_refused_next_to_the_field_and_nothing_is_stored() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = files_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let csrf = space_csrf(&ada).await;

        let mut big = PDF.to_vec();
        big.resize(10 * 1024 * 1024 + 1, b' ');
        let page = upload(&ada, &csrf, "huge.pdf", "application/pdf", big).await;
        assert_eq!(page.status, 413);
        assert!(
            page.text("#upload-error").contains("larger than 10 MB"),
            "{}",
            page.text("#upload-error")
        );
        assert_eq!(page.attr("#upload-file", "aria-invalid"), "true");

        assert!(listed(&server, ACCOUNT).await.is_empty());
        assert!(
            on_disk(data.path()).is_empty(),
            "{:?}",
            on_disk(data.path())
        );
        assert!(server.events("type=file.uploaded").await.is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_file_a_png_of_html_or_a_bad_token_is_refused_and_nothing_is_stored() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = files_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let csrf = space_csrf(&ada).await;
        let html = b"<!doctype html><script>alert(document.cookie)</script>".to_vec();

        let page = upload(&ada, &csrf, "page.html", "text/html", html.clone()).await;
        assert_eq!(page.status, 415);
        assert!(page
            .text("#upload-error")
            .contains(".html files cannot be uploaded"));

        let page = upload(&ada, &csrf, "logo.png", "image/png", html.clone()).await;
        assert_eq!(page.status, 415);
        assert!(page.text("#upload-error").contains("not a real PNG"));

        let page = upload(&ada, &csrf, "notes.txt", "text/plain", html).await;
        assert_eq!(page.status, 415);

        let page = upload(&ada, &"0".repeat(64), "logo.png", "image/png", PNG.to_vec()).await;
        assert_eq!(page.status, 403);
        assert!(page.text("#upload-error").contains("nothing was uploaded"));

        assert!(listed(&server, ACCOUNT).await.is_empty());
        assert!(
            on_disk(data.path()).is_empty(),
            "{:?}",
            on_disk(data.path())
        );
        assert!(server.events("type=file.uploaded").await.is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_account_s_file_or_an_unknown_id_answers_404() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = files_server(data.path(), &db).await;
        let globex = sign_in(&server, &admin_email(OTHER)).await;
        let csrf = space_csrf(&globex).await;
        let page = upload(&globex, &csrf, "logo.png", "image/png", PNG.to_vec()).await;
        assert_eq!(page.status, 303);
        let id = text(&listed(&server, OTHER).await[0]["id"]);

        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        for path in [
            format!("/space/files/{id}"),
            "/space/files/no-such-file".to_owned(),
        ] {
            let page = ada.get(&path).await;
            assert_eq!(page.status, 404, "{path}");
            assert!(page.text("h1").contains("not in your Shared Space"));
        }
        assert!(ada.get("/space").await.all(".files li").is_empty());
        let signed_out = Browser::new(&server)
            .get(&format!("/space/files/{id}"))
            .await;
        assert_eq!(signed_out.status, 401);
        // Globex's own person downloads it.
        let own = globex.get(&format!("/space/files/{id}")).await;
        assert_eq!(own.status, 200);
        assert_eq!(own.headers["content-type"], "image/png");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_stakeholder_uploads_a_file_through_the_space_form() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = files_server(data.path(), &db).await;
        let raw = welcome_email(&server, &admin_email(ACCOUNT)).await;
        let start = raw
            .find("/academy/sign-in?token=")
            .unwrap_or_else(|| panic!("no sign-in link in:\n{raw}"));
        let link: String = raw[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "/-_?=.".contains(*c))
            .collect();
        let local = tempfile::tempdir().unwrap();
        let file = local.path().join("kickoff-agenda.pdf");
        std::fs::write(&file, PDF).unwrap();
        let chromium = crate::browser::Browser::start().await;

        chromium.goto(&format!("{}{link}", server.base)).await;
        let button = chromium
            .wait_for("form[action='/academy/sign-in'] button")
            .await;
        chromium.click(&button).await;
        let to_space = chromium.wait_for("header.site a[href='/space']").await;
        chromium.click(&to_space).await;
        let field = chromium.wait_for("form.upload input[type=file]").await;
        chromium
            .type_text(&field, &file.display().to_string())
            .await;
        let send = chromium.wait_for("form.upload button").await;
        chromium.click(&send).await;
        let item = chromium.wait_for(".files li a").await;
        assert_eq!(chromium.text(&item).await, "kickoff-agenda.pdf");
        chromium
            .screenshot(&format!("space-files-{}", db.backend))
            .await;

        let files = listed(&server, ACCOUNT).await;
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0]["size"], PDF.len());
        // A colleague downloads the same bytes from the link.
        let eve = sign_in(&server, EVE).await;
        let href = eve.get("/space").await.attr(".files li a", "href");
        let answer = eve
            .client
            .get(format!("{}{href}", eve.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.bytes().await.unwrap().as_ref(), PDF);

        drop(chromium);
        drop(server);
        db.finish().await;
    }
}
