//! The local dashboard: a read-mostly web page a running daemon serves (`dashboard` in
//! `config.toml`, off by default): identity and contact card with a QR code, communities
//! with their wiki pages and feed, custody by destination, relay usage, peers connected
//! now and the last syncs, the next window, recent stick syncs.
//!
//! Safeguards (as Syncthing's GUI): loopback only unless the config says otherwise; the
//! `Host` header must name this server (a page on another site that resolves its name
//! to 127.0.0.1 gets nothing); state changes only by POST carrying the per-install token
//! (`dashboard.token` in the home, mode 0600) and, if the browser sends one, an `Origin`
//! of this server; every value escaped by the templates; no asset from elsewhere.
//! `spec/dashboard.md` has the routes.

mod view;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::handle::Handle;
use crate::status::Status;

/// Where the dashboard reads the daemon's own part of the status (who is connected, the
/// last syncs, the next window).
pub type Report = Arc<dyn Fn() -> Option<Status> + Send + Sync>;

#[derive(Clone)]
struct App {
    handle: Handle,
    report: Report,
    token: Arc<String>,
    /// `Host` values this server answers to.
    hosts: Arc<Vec<String>>,
}

/// Binds the dashboard on `addr` (an error here names the address), then serves it in
/// the background. Returns the address it listens on, and the task to abort to stop it.
pub async fn serve(
    handle: Handle,
    addr: SocketAddr,
    report: Report,
) -> Result<(SocketAddr, tokio::task::AbortHandle), DashboardError> {
    let token = token(handle.home()).map_err(|source| DashboardError::Token { source })?;
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|source| DashboardError::Listen { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    let port = local.port();
    let mut hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")];
    hosts.push(local.to_string());
    let app = App { handle, report, token: Arc::new(token), hosts: Arc::new(hosts) };
    let router = Router::new()
        .route("/", get(home))
        .route("/live", get(live))
        .route("/page", get(page))
        .route("/post", post(add_post))
        .route("/sync-now", post(sync_now))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!("dashboard stopped: {e}");
        }
    });
    Ok((local, task.abort_handle()))
}

/// Why the dashboard did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// Its address could not be bound.
    #[error("cannot serve the dashboard on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The per-install token could not be read or made.
    #[error("dashboard token: {source}")]
    Token {
        /// Why.
        source: std::io::Error,
    },
}

/// The per-install token: made once (random, 0600), then read.
fn token(home: &Path) -> std::io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = home.join("dashboard.token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if t.len() >= 32 {
            return Ok(t);
        }
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    let t = data_encoding::HEXLOWER.encode(&bytes);
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
    f.write_all(t.as_bytes())?;
    Ok(t)
}

/// Every request: the `Host` must be this server's. POSTs: an `Origin`, if sent, too.
async fn guard(State(app): State<App>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !app.hosts.iter().any(|h| h == host) {
        return (StatusCode::FORBIDDEN, "this dashboard answers only to its own address").into_response();
    }
    if request.method() == axum::http::Method::POST
        && let Some(origin) = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok())
        && !app.hosts.iter().any(|h| origin == format!("http://{h}"))
    {
        return (StatusCode::FORBIDDEN, "a request from another site").into_response();
    }
    next.run(request).await
}

fn token_ok(app: &App, given: &str) -> bool {
    let (a, b) = (app.token.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("rendering the page: {e}")).into_response(),
    }
}

async fn home(State(app): State<App>) -> Response {
    let report = (app.report)();
    let token = app.token.to_string();
    match app.handle.run(move |n| view::Home::gather(n, report, token)).await {
        Ok(v) => render(v),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn live(State(app): State<App>) -> Response {
    let report = (app.report)();
    match app.handle.run(move |n| view::Live::gather(n, report)).await {
        Ok(v) => render(v),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct PageQuery {
    c: String,
    p: String,
}

async fn page(State(app): State<App>, Query(q): Query<PageQuery>) -> Response {
    let Some(cid) = crate::doc::CommunityId::parse(&q.c) else {
        return (StatusCode::NOT_FOUND, "no such community").into_response();
    };
    match app.handle.run(move |n| view::Page::gather(n, cid, q.p)).await {
        Ok(Some(v)) => render(v),
        Ok(None) => (StatusCode::NOT_FOUND, "no such page here").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct PostForm {
    #[serde(default)]
    token: String,
    community: String,
    text: String,
}

async fn add_post(State(app): State<App>, Form(f): Form<PostForm>) -> Response {
    if !token_ok(&app, &f.token) {
        return (StatusCode::FORBIDDEN, "missing or wrong token").into_response();
    }
    let Some(cid) = crate::doc::CommunityId::parse(&f.community) else {
        return (StatusCode::BAD_REQUEST, "no such community").into_response();
    };
    let text = f.text.trim().to_string();
    if text.is_empty() {
        return Redirect::to("/").into_response();
    }
    match app.handle.post(&cid, &text).await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

async fn sync_now(State(app): State<App>, Form(f): Form<TokenForm>) -> Response {
    if !token_ok(&app, &f.token) {
        return (StatusCode::FORBIDDEN, "missing or wrong token").into_response();
    }
    app.handle.edited_elsewhere();
    Redirect::to("/").into_response()
}
