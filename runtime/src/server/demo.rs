//! The demo chat page (`demo = true`): static files from the TypeScript client's folder — the
//! page in `demo/`, the built client in `dist/`, served at `/demo/` and `/demo/client/`. Same
//! origin as the API, so the page needs no CORS. Local server only: Lambda never serves it.

use std::path::Path;

use axum::Router;
use axum::handler::HandlerWithoutStateExt;
use axum::response::Redirect;
use axum::routing::get;
use tower_http::services::ServeDir;

use crate::api::ApiError;

pub fn routes<S: Clone + Send + Sync + 'static>(dir: &Path) -> anyhow::Result<Router<S>> {
    let page = dir.join("demo");
    let client = dir.join("dist");
    anyhow::ensure!(page.join("index.html").is_file(), "demo = true, but {} has no demo/index.html", dir.display());
    anyhow::ensure!(
        client.join("index.js").is_file(),
        "demo = true needs the built TypeScript client: run `npm ci && npm run build` in {}",
        dir.display()
    );
    // A missing file, or a method other than GET and HEAD, is answered like any unknown route:
    // a JSON error with a code, never an empty 404.
    let files = |root| {
        ServeDir::new(root)
            .call_fallback_on_method_not_allowed(true)
            .not_found_service((|| async { ApiError::RouteNotFound }).into_service())
    };
    Ok(Router::new()
        .route("/demo", get(|| async { Redirect::permanent("/demo/") }))
        .nest_service("/demo/client", files(client))
        .nest_service("/demo/", files(page)))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("demo")).unwrap();
        std::fs::create_dir_all(dir.path().join("dist")).unwrap();
        std::fs::write(dir.path().join("demo/index.html"), "<p>page</p>").unwrap();
        std::fs::write(dir.path().join("dist/index.js"), "export {}").unwrap();
        dir
    }

    async fn get(router: &Router, path: &str) -> (StatusCode, String) {
        let response = router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn serves_the_page_and_the_built_client_and_nothing_else() {
        let dir = folder();
        let router = routes(dir.path()).unwrap();
        assert_eq!(get(&router, "/demo").await.0, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(get(&router, "/demo/").await, (StatusCode::OK, "<p>page</p>".into()));
        assert_eq!(get(&router, "/demo/client/index.js").await, (StatusCode::OK, "export {}".into()));
        for missing in ["/demo/nothing.js", "/demo/client/nothing.js", "/demo/../Cargo.toml", "/demo/%2e%2e/x"] {
            let (status, body) = get(&router, missing).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
            assert!(body.contains("\"route_not_found\""), "{missing}: {body}");
        }
    }

    #[test]
    fn refuses_to_start_without_the_built_client() {
        let dir = folder();
        std::fs::remove_file(dir.path().join("dist/index.js")).unwrap();
        let error = routes::<()>(dir.path()).unwrap_err().to_string();
        assert!(error.contains("npm run build"), "{error}");
    }
}
