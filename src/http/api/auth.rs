//! Bearer tokens with scopes. A token is kept only as its SHA-256 digest and every configured
//! token is compared, in constant time, whatever matched first.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::config::{ApiAuth, Scope};
use crate::secret::ct_eq;

/// Who may call the API.
pub struct Auth {
    tokens: Vec<Token>,
    disabled: bool,
}

struct Token {
    digest: [u8; 32],
    name: String,
    scope: Scope,
}

/// The caller of a request that passed authentication (a request extension).
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub scope: Scope,
}

impl Auth {
    pub fn new(config: &ApiAuth) -> Auth {
        if config.disabled {
            tracing::warn!(
                "API authentication is disabled (api.auth.disabled): anyone who reaches the port can read every event and retry dead letters"
            );
        } else if config.tokens.is_empty() {
            tracing::warn!(
                "no API token is configured (api.auth.tokens): the API and the dashboard refuse every request"
            );
        }
        Auth {
            tokens: config
                .tokens
                .iter()
                .map(|token| Token {
                    digest: Sha256::digest(token.secret().as_bytes()).into(),
                    name: token.name.clone(),
                    scope: token.scope,
                })
                .collect(),
            disabled: config.disabled,
        }
    }

    /// The caller presenting `token`, if the token is one of the configured ones.
    fn caller(&self, token: Option<&str>) -> Result<Caller, ApiError> {
        if self.disabled {
            return Ok(Caller {
                name: "anonymous".to_owned(),
                scope: Scope::Admin,
            });
        }
        if self.tokens.is_empty() {
            return Err(unauthorized(
                "the API has no token configured: add one under api.auth.tokens in netpulse's configuration",
            ));
        }
        let Some(token) = token else {
            return Err(unauthorized(
                "send a token: Authorization: Bearer <token> (or ?access_token= for EventSource and WebSocket)",
            ));
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for candidate in &self.tokens {
            if ct_eq(&digest, &candidate.digest) && found.is_none() {
                found = Some(candidate);
            }
        }
        found
            .map(|token| Caller {
                name: token.name.clone(),
                scope: token.scope,
            })
            .ok_or_else(|| unauthorized("the token is not valid: check it against api.auth.tokens"))
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        message: message.to_owned(),
    }
}

/// The routes that take `?access_token=`: the two feeds, which a browser opens with EventSource
/// and WebSocket, neither of which can set a header. Anywhere else a token in the URL would only
/// end up in proxy logs and browser histories, so it is refused.
const QUERY_TOKEN_ROUTES: [&str; 2] = [super::PATHS[1], super::PATHS[2]];

/// The token of a request: the bearer token of `Authorization`, else, on the feeds only,
/// `access_token` in the query.
fn presented(request: &Request) -> Result<Option<String>, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if let Some((scheme, token)) = header.and_then(|value| value.trim().split_once(' '))
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Ok(Some(token.trim().to_owned()));
    }
    let Some(token) = super::params::pairs(request.uri().query().unwrap_or(""))
        .find(|(key, _)| key == "access_token")
        .map(|(_, value)| value)
    else {
        return Ok(None);
    };
    // The API router is merged, not nested, so the path is the route's path as written (the
    // router matches on the raw path: an encoded variant reaches no feed).
    if QUERY_TOKEN_ROUTES.contains(&request.uri().path()) {
        Ok(Some(token))
    } else {
        Err(unauthorized(
            "?access_token= is taken only by the feeds (/api/v1/events/stream, /api/v1/stream); send the token as Authorization: Bearer <token>",
        ))
    }
}

async fn require(auth: &Auth, scope: Scope, mut request: Request, next: Next) -> Response {
    let caller = match presented(&request).and_then(|token| auth.caller(token.as_deref())) {
        Ok(caller) => caller,
        Err(error) => {
            metrics::counter!("netpulse_api_requests_refused_total", "reason" => "unauthorized")
                .increment(1);
            tracing::info!(path = %request.uri().path(), "API request without a valid token");
            let mut response = error.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"netpulse\""),
            );
            return response;
        }
    };
    if caller.scope < scope {
        metrics::counter!("netpulse_api_requests_refused_total", "reason" => "forbidden")
            .increment(1);
        tracing::info!(caller = %caller.name, path = %request.uri().path(), "API request refused: scope");
        return ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: format!(
                "the token {:?} has the {} scope; this needs a token with scope: {}",
                caller.name,
                caller.scope.as_str(),
                scope.as_str()
            ),
        }
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

pub(super) async fn require_read(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    require(&auth, Scope::Read, request, next).await
}

pub(super) async fn require_ack(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    require(&auth, Scope::Ack, request, next).await
}

pub(super) async fn require_admin(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    require(&auth, Scope::Admin, request, next).await
}
