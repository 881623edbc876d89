//! `logsentinel serve`: the HTTP API of the original service over one [`TenantDetector`].
//!
//! axum on tokio. Detector calls run on tokio's blocking pool (bounded by `--max-concurrency`). Every
//! error is a JSON `{"error", "code"}`; client mistakes are 4xx, never 5xx. `GET /openapi.json` is
//! generated from the handlers' own annotations. SIGTERM or SIGINT stops accepting connections, lets
//! in-flight requests finish (at most `--shutdown-timeout-secs`), drains the optional Elasticsearch sink
//! and closes the detector, which persists its state. API keys are never logged.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use clap::Args;
use logsentinel::{Config, Error, TenantDetector};
use tokio::sync::{watch, Semaphore};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod api;
pub mod auth;
pub mod error;
#[cfg(feature = "elasticsearch")]
pub mod es;
pub mod handlers;
pub mod limit;
pub mod sink;

use auth::{AdminKey, CreatePolicy};
use limit::{RateLimit, RateLimiter};
use sink::Sink;

/// Arguments of `serve`. Everything else comes from the environment (`Config::from_env`: `HOST`,
/// `PORT`, `STORAGE_DIR`, `ADMIN_API_KEY`, `LOGSENTINEL_MODEL_SIZE`, `LOGSENTINEL_MAX_BATCH_SIZE`...).
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Listen address as HOST:PORT, e.g. `0.0.0.0:8000` to listen on every interface (overrides
    /// --host and --port).
    #[arg(long, env = "LOGSENTINEL_BIND")]
    pub bind: Option<String>,
    /// Listen address (default: HOST, else 127.0.0.1: this machine only; 0.0.0.0 for every interface).
    #[arg(long)]
    pub host: Option<String>,
    /// Listen port (default: PORT, else 8000; 0 picks a free port, printed at start).
    #[arg(long)]
    pub port: Option<u16>,
    /// Storage: a directory, or a `postgres://` URL of a database several instances share (default:
    /// STORAGE_URL, else STORAGE_DIR, else ./data).
    #[arg(long)]
    pub storage: Option<PathBuf>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "LOGSENTINEL_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most detector calls running at once (more wait their turn); default: twice the cores, at least 4.
    #[arg(long, env = "LOGSENTINEL_MAX_CONCURRENCY")]
    pub max_concurrency: Option<usize>,
    /// Require X-Admin-Key for POST /projects even without ADMIN_API_KEY (then nobody can create). With
    /// ADMIN_API_KEY set, creating projects always needs the admin key.
    #[arg(long, env = "LOGSENTINEL_PROTECT_CREATE", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub protect_create: bool,
    /// Without ADMIN_API_KEY, let clients on other machines create projects (by default only loopback
    /// clients may).
    #[arg(long, env = "LOGSENTINEL_OPEN_PROJECT_CREATION", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub open_project_creation: bool,
    /// Most projects on this server: creating (or forking) one more answers 409 PROJECT_LIMIT.
    #[arg(long, env = "LOGSENTINEL_MAX_PROJECTS", default_value_t = 1000)]
    pub max_projects: usize,
    /// Requests per second each API key may send to the tenant endpoints (0: unlimited); beyond it
    /// and its burst, 429 with Retry-After.
    #[arg(long, env = "LOGSENTINEL_RATE_LIMIT", default_value_t = 1000.0)]
    pub rate_limit: f64,
    /// Requests a key may send at once after being idle (default: twice --rate-limit, at least 1).
    #[arg(long, env = "LOGSENTINEL_RATE_BURST")]
    pub rate_burst: Option<f64>,
    /// Print one line per request to stderr: method, path, status, milliseconds (never headers, keys
    /// or bodies).
    #[arg(long, env = "LOGSENTINEL_ACCESS_LOG", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub access_log: bool,
    /// Seconds to wait for in-flight requests at shutdown before closing the detector anyway.
    #[arg(long, env = "LOGSENTINEL_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
}

/// What every handler shares.
pub struct AppState {
    /// The detector.
    pub detector: TenantDetector,
    /// Digest of `ADMIN_API_KEY` (`None`: admin endpoints refuse with 403).
    pub admin_key: Option<AdminKey>,
    /// Who may call `POST /projects`.
    pub create_policy: CreatePolicy,
    /// Most projects on the server.
    pub max_projects: usize,
    /// Serializes project creation, so the project cap holds under concurrent requests.
    pub create_lock: tokio::sync::Mutex<()>,
    /// Per-key request rate limits of the tenant endpoints.
    pub rate_limiter: RateLimiter,
    /// Most lines in one `/detect/batch`.
    pub max_batch: usize,
    /// Permits for detector calls.
    pub permits: Arc<Semaphore>,
    /// `/openapi.json`, serialized once.
    pub openapi_json: Bytes,
    /// `METHOD /path` of every endpoint.
    pub endpoints: Vec<String>,
    /// Optional sink of scored lines.
    pub sink: Sink,
}

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Most concurrent detector calls.
    pub max_concurrency: usize,
    /// Whether `POST /projects` needs the admin key even without one configured.
    pub protect_create: bool,
    /// Whether clients other than loopback may create projects when no admin key is configured.
    pub open_project_creation: bool,
    /// Most projects on the server.
    pub max_projects: usize,
    /// Per-key request rate of the tenant endpoints.
    pub rate_limit: RateLimit,
    /// Whether to print an access log.
    pub access_log: bool,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "logsentinel",
        description = "Multi-tenant log anomaly detection with a student-teacher Transformer. Tenant \
                       endpoints take the project's key in `X-API-Key`; admin endpoints take \
                       `X-Admin-Key` (the server's `ADMIN_API_KEY`). Every error is \
                       `{\"error\", \"code\"}`."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(api::CustomRule)),
    tags(
        (name = "service", description = "Service description, health, this document"),
        (name = "projects", description = "Creating projects (tenants)"),
        (name = "detection", description = "Scoring log lines (X-API-Key)"),
        (name = "project", description = "The caller's own project (X-API-Key)"),
        (name = "admin", description = "Administration (X-Admin-Key)")
    )
)]
struct ApiDoc;

/// Adds the two API-key schemes.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "The project's API key, from POST /projects",
            ))),
        );
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Admin-Key",
                "The server's ADMIN_API_KEY",
            ))),
        );
    }
}

/// The routes and their OpenAPI document, both from the handlers' annotations.
pub fn routes() -> (Router<Arc<AppState>>, OpenApiDoc) {
    use handlers::*;
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(root))
        .routes(routes!(health))
        .routes(routes!(openapi_json))
        .routes(routes!(create_project, list_projects))
        .routes(routes!(get_project, delete_project))
        .routes(routes!(rotate_key_by_id))
        .routes(routes!(fork_project))
        .routes(routes!(detect))
        .routes(routes!(detect_batch))
        .routes(routes!(project_status))
        .routes(routes!(rotate_key))
        .routes(routes!(reset_sessions))
        .routes(routes!(session_verdicts))
        .routes(routes!(close_session))
        .routes(routes!(incidents))
        .routes(routes!(give_feedback, list_feedback))
        .routes(routes!(undo_feedback))
        .routes(routes!(teacher_info))
        .routes(routes!(teacher_update))
        .routes(routes!(update_history))
        .split_for_parts()
}

/// `METHOD /path` of every operation of the document.
pub fn endpoint_list(doc: &OpenApiDoc) -> Vec<String> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, op) in ops {
            if op.is_some() {
                out.push(format!("{method} {path}"));
            }
        }
    }
    out
}

/// The whole application: routes, JSON errors, body limit, panic guard and optional access log.
pub fn app(detector: TenantDetector, options: &HttpOptions, sink: Sink) -> Result<Router, Error> {
    let (router, doc) = routes();
    let openapi_json = doc
        .to_json()
        .map_err(|e| Error::invalid_input(format!("cannot serialize the OpenAPI document: {e}")))?;
    let admin_key = detector
        .config()
        .admin_api_key
        .as_deref()
        .map(AdminKey::new);
    let state = Arc::new(AppState {
        create_policy: CreatePolicy::of(
            admin_key.is_some(),
            options.protect_create,
            options.open_project_creation,
        ),
        admin_key,
        max_batch: detector.config().max_batch_size,
        detector,
        max_projects: options.max_projects,
        create_lock: tokio::sync::Mutex::new(()),
        rate_limiter: RateLimiter::new(options.rate_limit),
        permits: Arc::new(Semaphore::new(options.max_concurrency.max(1))),
        openapi_json: Bytes::from(openapi_json),
        endpoints: endpoint_list(&doc),
        sink,
    });
    let mut app = router
        .with_state(state)
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(options.max_body_bytes))
        .layer(middleware::map_response(error::json_errors))
        .layer(CatchPanicLayer::custom(error::panic_response));
    if options.access_log {
        app = app.layer(middleware::from_fn(access_log));
    }
    Ok(app)
}

/// One line per request; the path only (no query string, no headers, no body).
async fn access_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    eprintln!(
        "{method} {path} {} {:.1}ms",
        resp.status().as_u16(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    resp
}

fn default_concurrency() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (cores * 2).max(4)
}

/// Runs the server until SIGTERM or SIGINT, then shuts down gracefully.
pub fn run(args: ServeArgs) -> Result<(), Error> {
    let mut config = Config::from_env()?;
    if let Some(host) = &args.host {
        config.host = host.clone();
    }
    if let Some(port) = args.port {
        config.port = port;
    }
    if let Some(storage) = &args.storage {
        crate::set_storage(&mut config, storage);
    }
    if let Some(bind) = &args.bind {
        let (host, port) = parse_bind(bind)?;
        config.host = host;
        config.port = port;
    }
    if !(args.rate_limit.is_finite() && args.rate_limit >= 0.0) {
        return Err(Error::InvalidConfig {
            name: "LOGSENTINEL_RATE_LIMIT".into(),
            reason: format!(
                "must be a number of requests per second >= 0, got {}",
                args.rate_limit
            ),
        });
    }
    let burst = args.rate_burst.unwrap_or((args.rate_limit * 2.0).max(1.0));
    if !(burst.is_finite() && burst >= 1.0) {
        return Err(Error::InvalidConfig {
            name: "LOGSENTINEL_RATE_BURST".into(),
            reason: format!("must be at least 1, got {burst}"),
        });
    }
    if args.max_projects == 0 {
        return Err(Error::InvalidConfig {
            name: "LOGSENTINEL_MAX_PROJECTS".into(),
            reason: "must be at least 1".into(),
        });
    }
    if args.max_body_bytes < 1024 {
        return Err(Error::InvalidConfig {
            name: "LOGSENTINEL_MAX_BODY_BYTES".into(),
            reason: "must be at least 1024".into(),
        });
    }
    let options = HttpOptions {
        max_body_bytes: args.max_body_bytes,
        max_concurrency: args.max_concurrency.unwrap_or_else(default_concurrency),
        protect_create: args.protect_create,
        open_project_creation: args.open_project_creation,
        max_projects: args.max_projects,
        rate_limit: RateLimit {
            rate: args.rate_limit,
            burst,
        },
        access_log: args.access_log,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("logsentinel-http")
        .build()
        .map_err(|e| Error::InvalidConfig {
            name: "runtime".into(),
            reason: format!("cannot start the async runtime: {e}"),
        })?;
    let admin = config.admin_api_key.is_some();
    let detector = TenantDetector::open(config)?;
    let storage = detector.storage_location()?;
    let creation =
        match CreatePolicy::of(admin, options.protect_create, options.open_project_creation) {
            CreatePolicy::Admin if admin => "with X-Admin-Key",
            CreatePolicy::Admin => "disabled (--protect-create, no ADMIN_API_KEY)",
            CreatePolicy::Anyone => "open to anyone (--open-project-creation)",
            CreatePolicy::LoopbackOnly => "from this machine only (no ADMIN_API_KEY)",
        };
    eprintln!(
        "logsentinel serve: storage {storage}; admin endpoints {}; project creation {creation}, at most {} projects; {}",
        if admin {
            "enabled"
        } else {
            "disabled (no ADMIN_API_KEY)"
        },
        options.max_projects,
        if options.rate_limit.rate > 0.0 {
            format!(
                "{} requests/s per API key (burst {})",
                options.rate_limit.rate, options.rate_limit.burst
            )
        } else {
            "no rate limit".to_string()
        }
    );
    let result = runtime.block_on(serve(detector.clone(), options, args.shutdown_timeout_secs));
    // Close even when serving failed: it persists the detector's state.
    let closed = detector.close();
    eprintln!("logsentinel serve: detector closed, state persisted");
    result.and(closed)
}

async fn serve(
    detector: TenantDetector,
    options: HttpOptions,
    shutdown_timeout_secs: u64,
) -> Result<(), Error> {
    let config = detector.config().clone();
    let bind_error = |e: std::io::Error| Error::InvalidConfig {
        name: "HOST/PORT".into(),
        reason: format!("cannot listen on {}:{}: {e}", config.host, config.port),
    };
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(bind_error)?;
    let addr: SocketAddr = listener.local_addr().map_err(bind_error)?;

    #[cfg(feature = "elasticsearch")]
    let (sink, es_worker) = match es::EsConfig::from_env()? {
        Some(cfg) => {
            eprintln!(
                "logsentinel serve: elasticsearch sink to {}",
                es::redacted_url(&cfg.url)
            );
            let (handle, worker) = es::start(cfg)?;
            (Sink::elasticsearch(handle), Some(worker))
        }
        None => (Sink::none(), None),
    };
    #[cfg(not(feature = "elasticsearch"))]
    let sink = Sink::none();

    let app = app(detector, &options, sink)?;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    // The peer address tells POST /projects whether its client is on this machine.
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    let mut server = tokio::spawn(async move { server.await });
    eprintln!("logsentinel serve: listening on http://{addr}");

    let finished_early = tokio::select! {
        r = &mut server => Some(r),
        () = shutdown_signal() => None,
    };
    let served = match finished_early {
        Some(r) => r,
        None => {
            eprintln!("logsentinel serve: shutting down, finishing in-flight requests");
            let _ = stop_tx.send(true);
            match tokio::time::timeout(Duration::from_secs(shutdown_timeout_secs), &mut server)
                .await
            {
                Ok(r) => r,
                Err(_) => {
                    eprintln!(
                        "logsentinel serve: in-flight requests still running after {shutdown_timeout_secs}s; closing anyway"
                    );
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };

    #[cfg(feature = "elasticsearch")]
    if let Some(worker) = es_worker {
        worker
            .finish(Duration::from_secs(shutdown_timeout_secs.max(1)))
            .await;
    }

    match served {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::InvalidConfig {
            name: "HOST/PORT".into(),
            reason: format!("server failed: {e}"),
        }),
        Err(e) => Err(Error::model(format!("server task failed: {e}"))),
    }
}

/// Splits `--bind HOST:PORT` (IPv6 hosts in brackets: `[::1]:8000`).
fn parse_bind(bind: &str) -> Result<(String, u16), Error> {
    let bad = |reason: &str| Error::InvalidConfig {
        name: "--bind (LOGSENTINEL_BIND)".into(),
        reason: format!("{reason}: expected HOST:PORT such as 0.0.0.0:8000, got {bind:?}"),
    };
    let (host, port) = bind.trim().rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = port.parse::<u16>().map_err(|_| bad("invalid port"))?;
    Ok((host.to_string(), port))
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_takes_host_and_port() {
        assert_eq!(
            parse_bind("0.0.0.0:8000").unwrap(),
            ("0.0.0.0".to_string(), 8000)
        );
        assert_eq!(parse_bind("[::1]:0").unwrap(), ("::1".to_string(), 0));
        for bad in ["0.0.0.0", ":80", "host:http", "h:70000"] {
            let e = parse_bind(bad).unwrap_err().to_string();
            assert!(e.contains("HOST:PORT"), "{e}");
        }
    }

    #[test]
    fn the_document_lists_every_endpoint_with_its_security() {
        let (_, doc) = routes();
        let eps = endpoint_list(&doc);
        for want in [
            "GET /",
            "GET /health",
            "GET /openapi.json",
            "POST /projects",
            "GET /projects",
            "GET /projects/{project_id}",
            "DELETE /projects/{project_id}",
            "POST /projects/{project_id}/rotate-key",
            "POST /projects/{project_id}/fork",
            "POST /detect",
            "POST /detect/batch",
            "GET /project/status",
            "POST /project/rotate-key",
            "POST /project/reset-sessions",
            "GET /project/session-verdicts",
            "POST /project/close-session",
            "GET /incidents",
            "POST /feedback",
            "GET /feedback",
            "DELETE /feedback/{feedback_id}",
            "GET /admin/teacher",
            "POST /admin/teacher/update",
            "GET /admin/update-history",
        ] {
            assert!(eps.iter().any(|e| e == want), "{want} missing from {eps:?}");
        }
        assert_eq!(eps.len(), 23);
        let json: serde_json::Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
        let schemes = &json["components"]["securitySchemes"];
        assert_eq!(schemes["api_key"]["name"], "X-API-Key");
        assert_eq!(schemes["admin_key"]["name"], "X-Admin-Key");
        for schema in [
            "Detection",
            "BatchDetection",
            "ProjectStatus",
            "CustomRule",
            "ErrorBody",
        ] {
            assert!(
                json["components"]["schemas"][schema].is_object(),
                "{schema}"
            );
        }
    }
}
