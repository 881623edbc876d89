//! The endpoints. Each is documented with `#[utoipa::path]`, and the router is built from those very
//! annotations (`utoipa_axum::routes!`), so `/openapi.json` lists exactly the handlers that serve.
//!
//! Every detector call is blocking CPU work: it runs on tokio's blocking pool, at most
//! `--max-concurrency` at a time, never on the async workers.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use logsentinel::{LogRecord, TenantDetector};

use super::api::*;
use super::auth::{Admin, CreateAllowed, TenantKey};
use super::error::{ApiError, ApiJson, ApiQuery};
use super::AppState;

/// Shared state of every handler.
type St = State<Arc<AppState>>;

/// Runs `f` on the blocking pool under a concurrency permit. The permit moves with the work, so a
/// client that hangs up does not free a slot before the detector call ends.
async fn blocking<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&TenantDetector) -> logsentinel::Result<T> + Send + 'static,
{
    let permit = state.permits.clone().acquire_owned().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "CLOSED",
            "server is shutting down",
        )
    })?;
    let det = state.detector.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f(&det)
    })
    .await;
    match joined {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) if e.is_panic() => {
            eprintln!("logsentinel serve: a detector call panicked");
            Err(ApiError::internal("internal error"))
        }
        Err(_) => Err(ApiError::internal("detector call was cancelled")),
    }
}

/// Service description.
#[utoipa::path(
    get,
    path = "/",
    tag = "service",
    responses((status = 200, description = "What this service is", body = ServiceInfo))
)]
pub async fn root(State(state): St) -> Json<ServiceInfo> {
    Json(ServiceInfo {
        service: "logsentinel".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        status: "running".into(),
        openapi: "/openapi.json".into(),
        endpoints: state.endpoints.clone(),
    })
}

/// Detector health.
#[utoipa::path(
    get,
    path = "/health",
    tag = "service",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn health(State(state): St) -> Result<Json<Health>, ApiError> {
    let h = blocking(&state, |d| d.health()).await?;
    Ok(Json(h.into()))
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object))
)]
pub async fn openapi_json(State(state): St) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.openapi_json.clone(),
    )
        .into_response()
}

/// Creates a project; its API key is in the response and never shown again. Needs `X-Admin-Key`
/// whenever the server has an `ADMIN_API_KEY`; without one, only clients on the server's own machine
/// (loopback) may create projects, unless the server runs with `--open-project-creation`.
#[utoipa::path(
    post,
    path = "/projects",
    tag = "projects",
    security((), ("admin_key" = [])),
    request_body = CreateProjectRequest,
    responses(
        (status = 201, description = "Created; `api_key` is shown only here", body = CreatedProject),
        (status = 400, description = "Malformed JSON, unknown field or invalid value", body = ErrorBody),
        (status = 401, description = "The server has an ADMIN_API_KEY and no X-Admin-Key was sent", body = ErrorBody),
        (status = 403, description = "A wrong X-Admin-Key, or (no ADMIN_API_KEY) a client on another machine without `--open-project-creation`", body = ErrorBody),
        (status = 409, description = "The server holds `--max-projects` projects already (code PROJECT_LIMIT)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn create_project(
    State(state): St,
    _: CreateAllowed,
    ApiJson(req): ApiJson<CreateProjectRequest>,
) -> Result<(StatusCode, Json<CreatedProject>), ApiError> {
    let new = req.into_core()?;
    let created = create_capped(&state, move |d| d.create_project(new)).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Runs a project creation unless the server already holds `--max-projects` projects (409). Creations
/// run one at a time, so concurrent requests cannot pass the cap together.
async fn create_capped<F>(
    state: &AppState,
    create: F,
) -> Result<logsentinel::CreatedProject, ApiError>
where
    F: FnOnce(&TenantDetector) -> logsentinel::Result<logsentinel::CreatedProject> + Send + 'static,
{
    let _one_at_a_time = state.create_lock.lock().await;
    let max = state.max_projects;
    let held = blocking(state, |d| Ok(d.health()?.total_projects)).await?;
    if held >= max {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PROJECT_LIMIT",
            format!(
                "the server holds {held} projects, its limit (--max-projects, LOGSENTINEL_MAX_PROJECTS \
                 = {max}): delete one or raise the limit"
            ),
        ));
    }
    blocking(state, create).await
}

/// Every project (admin): never a key.
#[utoipa::path(
    get,
    path = "/projects",
    tag = "admin",
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Projects, oldest first", body = ProjectList),
        (status = 401, description = "No X-Admin-Key", body = ErrorBody),
        (status = 403, description = "Wrong X-Admin-Key, or no ADMIN_API_KEY on the server", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn list_projects(State(state): St, _: Admin) -> Result<Json<ProjectList>, ApiError> {
    let projects = blocking(&state, |d| d.list_projects()).await?;
    Ok(Json(ProjectList {
        total: projects.len(),
        projects: projects.into_iter().map(Into::into).collect(),
    }))
}

/// A project's status by id (admin).
#[utoipa::path(
    get,
    path = "/projects/{project_id}",
    tag = "admin",
    security(("admin_key" = [])),
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project's status", body = ProjectStatus),
        (status = 401, description = "No X-Admin-Key", body = ErrorBody),
        (status = 403, description = "Wrong X-Admin-Key, or no ADMIN_API_KEY on the server", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn get_project(
    State(state): St,
    _: Admin,
    Path(project_id): Path<String>,
) -> Result<Json<ProjectStatus>, ApiError> {
    let st = blocking(&state, move |d| d.project_status(&project_id)).await?;
    Ok(Json(st.into()))
}

/// Deletes a project (admin): its key stops working at once and its data is removed.
#[utoipa::path(
    delete,
    path = "/projects/{project_id}",
    tag = "admin",
    security(("admin_key" = [])),
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "Deleted", body = ProjectDeleted),
        (status = 401, description = "No X-Admin-Key", body = ErrorBody),
        (status = 403, description = "Wrong X-Admin-Key, or no ADMIN_API_KEY on the server", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn delete_project(
    State(state): St,
    _: Admin,
    Path(project_id): Path<String>,
) -> Result<Json<ProjectDeleted>, ApiError> {
    let id = project_id.clone();
    blocking(&state, move |d| d.delete_project(&id)).await?;
    Ok(Json(ProjectDeleted {
        deleted: true,
        project_id,
    }))
}

/// Replaces a project's key by id (admin): revokes the current key, returns the new one.
#[utoipa::path(
    post,
    path = "/projects/{project_id}/rotate-key",
    tag = "admin",
    security(("admin_key" = [])),
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The new key (shown only here)", body = RotatedKey),
        (status = 401, description = "No X-Admin-Key", body = ErrorBody),
        (status = 403, description = "Wrong X-Admin-Key, or no ADMIN_API_KEY on the server", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn rotate_key_by_id(
    State(state): St,
    _: Admin,
    Path(project_id): Path<String>,
) -> Result<Json<RotatedKey>, ApiError> {
    let id = project_id.clone();
    let api_key = blocking(&state, move |d| d.rotate_key_by_id(&id)).await?;
    Ok(Json(RotatedKey {
        project_id,
        api_key,
    }))
}

/// Creates a project from another's learned state (admin): a copy of its templates, training samples
/// and student under a new id, name and key, living on its own from then on (a staging copy of a
/// tenant, or tenants seeded from one). The key is in the response and never shown again.
#[utoipa::path(
    post,
    path = "/projects/{project_id}/fork",
    tag = "admin",
    security(("admin_key" = [])),
    params(("project_id" = String, Path, description = "Id of the project to copy")),
    request_body = ForkProjectRequest,
    responses(
        (status = 201, description = "Created; `api_key` is shown only here", body = CreatedProject),
        (status = 400, description = "Malformed JSON, unknown field or invalid name", body = ErrorBody),
        (status = 401, description = "No X-Admin-Key", body = ErrorBody),
        (status = 403, description = "Wrong X-Admin-Key, or no ADMIN_API_KEY on the server", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 409, description = "The server holds `--max-projects` projects already (code PROJECT_LIMIT)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn fork_project(
    State(state): St,
    _: Admin,
    Path(project_id): Path<String>,
    ApiJson(req): ApiJson<ForkProjectRequest>,
) -> Result<(StatusCode, Json<CreatedProject>), ApiError> {
    let created = create_capped(&state, move |d| {
        d.fork_project(&project_id, &req.project_name)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Scores one log line.
#[utoipa::path(
    post,
    path = "/detect",
    tag = "detection",
    security(("api_key" = [])),
    request_body = DetectRequest,
    responses(
        (status = 200, description = "The verdict on the line", body = Detection),
        (status = 400, description = "Malformed JSON, unknown field or invalid value", body = ErrorBody),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn detect(
    State(state): St,
    TenantKey(key): TenantKey,
    ApiJson(req): ApiJson<DetectRequest>,
) -> Result<Json<Detection>, ApiError> {
    let sink = state.sink.clone();
    let record = LogRecord::from(req);
    let d = blocking(&state, move |d| {
        let line = sink.enabled().then(|| record.log_line.clone());
        let detection = d.detect(&key, record)?;
        if let Some(line) = line {
            sink.offer(
                std::iter::once(line.as_str()),
                std::slice::from_ref(&detection),
            );
        }
        Ok(detection)
    })
    .await?;
    Ok(Json(d.into()))
}

/// Scores lines in order (faster per line than `/detect`).
#[utoipa::path(
    post,
    path = "/detect/batch",
    tag = "detection",
    security(("api_key" = [])),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "One verdict per line, in order", body = BatchDetection),
        (status = 400, description = "Malformed JSON, unknown field, empty batch or invalid value", body = ErrorBody),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 413, description = "Body too large, or more lines than LOGSENTINEL_MAX_BATCH_SIZE (code BATCH_TOO_LARGE)", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn detect_batch(
    State(state): St,
    TenantKey(key): TenantKey,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<Json<BatchDetection>, ApiError> {
    if req.logs.len() > state.max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BATCH_TOO_LARGE",
            format!(
                "batch of {} lines exceeds the limit of {} (LOGSENTINEL_MAX_BATCH_SIZE)",
                req.logs.len(),
                state.max_batch
            ),
        ));
    }
    let sink = state.sink.clone();
    let records: Vec<LogRecord> = req.logs.into_iter().map(LogRecord::from).collect();
    let b = blocking(&state, move |d| {
        let batch = d.detect_batch(&key, &records)?;
        sink.offer(records.iter().map(|r| r.log_line.as_str()), &batch.results);
        Ok(batch)
    })
    .await?;
    Ok(Json(b.into()))
}

/// The project's status.
#[utoipa::path(
    get,
    path = "/project/status",
    tag = "project",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The project's status", body = ProjectStatus),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn project_status(
    State(state): St,
    TenantKey(key): TenantKey,
) -> Result<Json<ProjectStatus>, ApiError> {
    let st = blocking(&state, move |d| d.status(&key)).await?;
    Ok(Json(st.into()))
}

/// Replaces the project's API key: the presented key stops working at once.
#[utoipa::path(
    post,
    path = "/project/rotate-key",
    tag = "project",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The new key (shown only here)", body = RotatedKey),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn rotate_key(
    State(state): St,
    TenantKey(key): TenantKey,
) -> Result<Json<RotatedKey>, ApiError> {
    let rotated = blocking(&state, move |d| {
        let project_id = d.status(&key)?.project_id;
        let api_key = d.rotate_key(&key)?;
        Ok(RotatedKey {
            project_id,
            api_key,
        })
    })
    .await?;
    Ok(Json(rotated))
}

/// Drops every open session of the project, without verdicts.
#[utoipa::path(
    post,
    path = "/project/reset-sessions",
    tag = "project",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "How many sessions were dropped", body = SessionsReset),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn reset_sessions(
    State(state): St,
    TenantKey(key): TenantKey,
) -> Result<Json<SessionsReset>, ApiError> {
    let n = blocking(&state, move |d| d.reset_sessions(&key)).await?;
    Ok(Json(SessionsReset {
        status: "ok".into(),
        sessions_reset: n,
    }))
}

/// Takes the verdicts of sessions that closed (idle timeout on log time, eviction, explicit close),
/// oldest first. Taken verdicts leave the queue.
#[utoipa::path(
    get,
    path = "/project/session-verdicts",
    tag = "project",
    security(("api_key" = [])),
    params(VerdictsQuery),
    responses(
        (status = 200, description = "Verdicts, oldest first", body = SessionVerdicts),
        (status = 400, description = "Invalid `max`", body = ErrorBody),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn session_verdicts(
    State(state): St,
    TenantKey(key): TenantKey,
    ApiQuery(q): ApiQuery<VerdictsQuery>,
) -> Result<Json<SessionVerdicts>, ApiError> {
    let max = q.max.unwrap_or(100);
    if !(1..=10_000u64).contains(&max) {
        return Err(logsentinel::Error::invalid_input("max must be between 1 and 10000").into());
    }
    let verdicts = blocking(&state, move |d| d.poll_session_verdicts(&key, max as usize)).await?;
    Ok(Json(SessionVerdicts {
        count: verdicts.len(),
        verdicts: verdicts.into_iter().map(Into::into).collect(),
    }))
}

/// Closes one session now and returns its verdict (also queued for `/project/session-verdicts`).
#[utoipa::path(
    post,
    path = "/project/close-session",
    tag = "project",
    security(("api_key" = [])),
    request_body = CloseSessionRequest,
    responses(
        (status = 200, description = "Whether it was open, and its verdict", body = SessionClosed),
        (status = 400, description = "Malformed JSON or unknown field", body = ErrorBody),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn close_session(
    State(state): St,
    TenantKey(key): TenantKey,
    ApiJson(req): ApiJson<CloseSessionRequest>,
) -> Result<Json<SessionClosed>, ApiError> {
    let v = blocking(&state, move |d| d.close_session(&key, &req.session_id)).await?;
    Ok(Json(SessionClosed {
        closed: v.is_some(),
        verdict: v.map(Into::into),
    }))
}

/// The shared teacher (admin).
#[utoipa::path(
    get,
    path = "/admin/teacher",
    tag = "admin",
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The teacher", body = TeacherInfo),
        (status = 401, description = "No X-Admin-Key", body = ErrorBody),
        (status = 403, description = "Wrong X-Admin-Key, or no ADMIN_API_KEY on the server", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn teacher_info(State(state): St, _: Admin) -> Result<Json<TeacherInfo>, ApiError> {
    let t = blocking(&state, |d| d.teacher_info()).await?;
    Ok(Json(t.into()))
}

/// Starts a teacher update on data pooled from all projects (admin). Returns at once with its job.
#[utoipa::path(
    post,
    path = "/admin/teacher/update",
    tag = "admin",
    security(("admin_key" = [])),
    responses(
        (status = 202, description = "Started (or already running)", body = TeacherUpdateStarted),
        (status = 401, description = "No X-Admin-Key", body = ErrorBody),
        (status = 403, description = "Wrong X-Admin-Key, or no ADMIN_API_KEY on the server", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn teacher_update(
    State(state): St,
    _: Admin,
) -> Result<(StatusCode, Json<TeacherUpdateStarted>), ApiError> {
    let started = blocking(&state, |d| {
        let was_running = d.teacher_info()?.update_in_progress;
        let job = d.force_teacher_update()?;
        Ok(TeacherUpdateStarted {
            status: if was_running {
                "already_running"
            } else {
                "started"
            }
            .into(),
            job: job.status().into(),
        })
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

/// The teacher update history, oldest first (admin).
#[utoipa::path(
    get,
    path = "/admin/update-history",
    tag = "admin",
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Teacher updates, oldest first", body = UpdateHistory),
        (status = 401, description = "No X-Admin-Key", body = ErrorBody),
        (status = 403, description = "Wrong X-Admin-Key, or no ADMIN_API_KEY on the server", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn update_history(State(state): St, _: Admin) -> Result<Json<UpdateHistory>, ApiError> {
    let h = blocking(&state, |d| d.update_history()).await?;
    Ok(Json(UpdateHistory {
        total: h.len(),
        updates: h.into_iter().map(Into::into).collect(),
    }))
}

/// The project's incidents: its anomalies grouped by a shared cause and closeness in time, open ones
/// first (each group newest first).
#[utoipa::path(
    get,
    path = "/incidents",
    tag = "project",
    security(("api_key" = [])),
    params(IncidentsQuery),
    responses(
        (status = 200, description = "Incidents, open first", body = IncidentList),
        (status = 400, description = "Invalid `state`", body = ErrorBody),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn incidents(
    State(state): St,
    TenantKey(key): TenantKey,
    ApiQuery(q): ApiQuery<IncidentsQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let wanted = q.state.map(Into::into);
    let list = blocking(&state, move |d| d.incidents(&key, wanted)).await?;
    Ok(Json(IncidentList {
        count: list.len(),
        incidents: list.into_iter().map(Into::into).collect(),
    }))
}

/// Operator feedback on an incident (or a result's pattern): `normal` stops matching results from
/// alerting, `anomaly` keeps them alerting; from the next line on, stored before the answer.
#[utoipa::path(
    post,
    path = "/feedback",
    tag = "project",
    security(("api_key" = [])),
    request_body = FeedbackRequest,
    responses(
        (status = 201, description = "The stored mark", body = Feedback),
        (status = 400, description = "Malformed JSON, unknown field, an empty or oversized key or note, a duration that is not a positive number of seconds, a scope the incident has no key for", body = ErrorBody),
        (status = 404, description = "No such incident in this project (code NOT_FOUND)", body = ErrorBody),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn give_feedback(
    State(state): St,
    TenantKey(key): TenantKey,
    ApiJson(req): ApiJson<FeedbackRequest>,
) -> Result<(StatusCode, Json<Feedback>), ApiError> {
    let new = req.into_core();
    let stored = blocking(&state, move |d| {
        if let logsentinel::FeedbackTarget::Incident(id) = new.target {
            if d.incident(&key, id).is_err() {
                return Ok(None);
            }
        }
        d.feedback(&key, new).map(Some)
    })
    .await?
    .ok_or_else(|| not_found("no such incident in this project"))?;
    Ok((StatusCode::CREATED, Json(stored.into())))
}

/// The project's feedback marks, oldest first.
#[utoipa::path(
    get,
    path = "/feedback",
    tag = "project",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Marks, oldest first", body = FeedbackList),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn list_feedback(
    State(state): St,
    TenantKey(key): TenantKey,
) -> Result<Json<FeedbackList>, ApiError> {
    let list = blocking(&state, move |d| d.list_feedback(&key)).await?;
    Ok(Json(FeedbackList {
        count: list.len(),
        feedback: list.into_iter().map(Into::into).collect(),
    }))
}

/// Undoes a feedback mark: matching results are judged as before from the next line.
#[utoipa::path(
    delete,
    path = "/feedback/{feedback_id}",
    tag = "project",
    security(("api_key" = [])),
    params(("feedback_id" = u64, Path, description = "Id of the mark")),
    responses(
        (status = 200, description = "The removed mark", body = Feedback),
        (status = 400, description = "Not a number", body = ErrorBody),
        (status = 404, description = "No such mark in this project (code NOT_FOUND)", body = ErrorBody),
        (status = 401, description = "Missing or invalid X-API-Key", body = ErrorBody),
        (status = 429, description = "This key is over its request rate (`--rate-limit`); see Retry-After (code RATE_LIMITED)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
pub async fn undo_feedback(
    State(state): St,
    TenantKey(key): TenantKey,
    Path(feedback_id): Path<String>,
) -> Result<Json<Feedback>, ApiError> {
    let id: u64 = feedback_id.parse().map_err(|_| {
        logsentinel::Error::invalid_input(format!("feedback id {feedback_id:?} is not a number"))
    })?;
    let removed = blocking(&state, move |d| {
        if !d.list_feedback(&key)?.iter().any(|f| f.id == id) {
            return Ok(None);
        }
        d.undo_feedback(&key, id).map(Some)
    })
    .await?
    .ok_or_else(|| not_found("no such feedback mark in this project"))?;
    Ok(Json(removed.into()))
}

/// 404 for an incident or feedback mark the project does not hold.
fn not_found(message: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
}
