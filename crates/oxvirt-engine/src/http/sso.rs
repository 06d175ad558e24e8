//! oVirt's SSO: `POST /ovirt-engine/sso/oauth/token` (password grant, form-encoded, JSON
//! reply with `access_token`) and `POST /ovirt-engine/services/sso-logout` (revoke). Errors
//! are JSON with `error` and `error_description`, which the SDK turns into an `AuthError`.

use super::AppState;
use super::ClientAddress;
use crate::app::AppError;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
pub(super) struct TokenRequest {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    scope: Option<String>,
}

pub(super) async fn token(
    State(app): State<AppState>,
    ClientAddress(source): ClientAddress,
    req: Result<Form<TokenRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    // A malformed form is answered in SSO's own error shape, like every other SSO refusal.
    let req = match req {
        Ok(Form(req)) => req,
        Err(e) => return sso_error(StatusCode::BAD_REQUEST, "invalid_request", &e.body_text()),
    };
    if req.grant_type.as_deref() != Some("password") {
        return sso_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only the password grant is supported (grant_type=password)",
        );
    }
    let (Some(username), Some(password)) = (req.username, req.password) else {
        return sso_error(StatusCode::BAD_REQUEST, "invalid_request", "username and password are required");
    };
    match app.login(&username, &password, source).await {
        Ok(t) => axum::Json(json!({
            "access_token": t.token,
            "scope": req.scope.unwrap_or_else(|| "ovirt-app-api".to_owned()),
            "exp": t.expires_at_ms.to_string(),
            "token_type": "bearer",
        }))
        .into_response(),
        Err(AppError::BadCredentials) => sso_error(
            StatusCode::UNAUTHORIZED,
            "access_denied",
            "Cannot authenticate user: the user name or password is incorrect",
        ),
        Err(e @ AppError::Gate(_)) => {
            let status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut resp = sso_error(status, "access_denied", &e.to_string());
            if let Some(secs) = e.retry_after() {
                resp.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
            }
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            sso_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string())
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct LogoutRequest {
    token: Option<String>,
}

pub(super) async fn logout(State(app): State<AppState>, Form(req): Form<LogoutRequest>) -> Response {
    if let Some(t) = req.token {
        app.token_revoke(&t);
    }
    axum::Json(json!({})).into_response()
}

fn sso_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}
