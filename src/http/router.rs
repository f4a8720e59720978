//! Router composition: each API is a front end that routes its own paths, and a listener's
//! [`Router`] asks its front ends in the order they were mounted. A new API is mounted by the
//! composition root; nothing here lists the APIs that exist.
//!
//! A front end's [`FrontEnd::route`] is pure (method + path → its own typed route, or `None`
//! when the path is not one of its own), so each front end table-tests its routes without a
//! server. The first front end that claims a path answers it, including its own 405 and 400
//! for a known path with the wrong method or a malformed id; a path no front end claims gets
//! the shared 404 below. Front ends own their error bodies: this module answers only for
//! paths that belong to none of them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};

use super::body::RespBody;
use super::json;

/// A finished response.
pub type Reply = Response<RespBody>;

/// A response still being produced.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

/// An API: its routes and how it answers them.
pub trait FrontEnd: Send + Sync + 'static {
    /// The front end's own typed route (parsed path ids included).
    type Route: Send + 'static;

    /// Routes `method` + `path` (no query string), or `None` when the path is not this API's.
    fn route(&self, method: &Method, path: &str) -> Option<Self::Route>;

    /// A short, bounded name of `route` for metrics and logs.
    fn name(route: &Self::Route) -> &'static str;

    /// Answers a request routed to `route`, errors included (in the API's own body shape).
    fn serve(self: Arc<Self>, route: Self::Route, req: Request<Incoming>) -> impl Future<Output = Reply> + Send;
}

/// A routed request, ready to run.
pub struct Endpoint {
    /// The route's name for metrics and logs.
    pub name: &'static str,
    run: Box<dyn FnOnce(Request<Incoming>) -> ReplyFuture + Send>,
}

impl Endpoint {
    /// Runs the handler on the request.
    pub fn run(self, req: Request<Incoming>) -> ReplyFuture {
        (self.run)(req)
    }
}

/// A front end with its route type erased, so a router can hold several.
trait Mounted: Send + Sync {
    fn endpoint(self: Arc<Self>, method: &Method, path: &str) -> Option<Endpoint>;
    fn claims(&self, method: &Method, path: &str) -> bool;
}

impl<F: FrontEnd> Mounted for F {
    fn endpoint(self: Arc<Self>, method: &Method, path: &str) -> Option<Endpoint> {
        let route = self.route(method, path)?;
        let name = F::name(&route);
        Some(Endpoint { name, run: Box::new(move |req| Box::pin(self.serve(route, req))) })
    }

    fn claims(&self, method: &Method, path: &str) -> bool {
        self.route(method, path).is_some()
    }
}

/// A front end mounted under a path prefix.
struct Prefixed<F> {
    prefix: String,
    inner: Arc<F>,
}

impl<F: FrontEnd> FrontEnd for Prefixed<F> {
    type Route = F::Route;

    fn route(&self, method: &Method, path: &str) -> Option<F::Route> {
        let rest = path.strip_prefix(&self.prefix)?;
        if !rest.starts_with('/') {
            return None;
        }
        self.inner.route(method, rest)
    }

    fn name(route: &F::Route) -> &'static str {
        F::name(route)
    }

    fn serve(self: Arc<Self>, route: F::Route, req: Request<Incoming>) -> impl Future<Output = Reply> + Send {
        self.inner.clone().serve(route, req)
    }
}

/// The front ends one listener serves, asked in the order they were mounted.
#[derive(Default, Clone)]
pub struct Router {
    mounted: Vec<Arc<dyn Mounted>>,
}

impl Router {
    /// A router serving nothing (every path is a 404).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a front end after the ones already mounted.
    pub fn mount<F: FrontEnd>(mut self, front_end: Arc<F>) -> Self {
        self.mounted.push(front_end);
        self
    }

    /// Adds a front end whose paths are served under `prefix` (`""`: at the root; else
    /// `/name`, no trailing slash): `/name/x` is routed as its `/x`, and its own paths without
    /// the prefix are not its own any more.
    pub fn mount_at<F: FrontEnd>(self, prefix: &str, front_end: Arc<F>) -> Self {
        if prefix.is_empty() {
            return self.mount(front_end);
        }
        self.mount(Arc::new(Prefixed { prefix: prefix.to_string(), inner: front_end }))
    }

    /// Whether a mounted front end claims `path`.
    pub fn claims(&self, method: &Method, path: &str) -> bool {
        self.mounted.iter().any(|m| m.claims(method, path))
    }

    /// The endpoint for a request: the first front end's that claims the path, else the 404.
    pub fn find(&self, method: &Method, path: &str) -> Endpoint {
        self.mounted.iter().find_map(|m| m.clone().endpoint(method, path)).unwrap_or_else(not_found_endpoint)
    }
}

/// The answer for a path no front end claims.
fn not_found_endpoint() -> Endpoint {
    Endpoint { name: "not_found", run: Box::new(|_| Box::pin(async { not_found() })) }
}

/// The shared 404 for a path no front end claims.
pub fn not_found() -> Reply {
    json(StatusCode::NOT_FOUND, &serde_json::json!({"error": "Route not found", "code": "route_not_found"}))
}

/// The shared 405 (`{"error", "code"}` body) with its `Allow` header, for front ends that use
/// that body shape.
pub fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({"error": "Method not allowed", "code": "method_not_allowed"}),
    );
    r.headers_mut().insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// Picks the route for `m` from a path's method table (`HEAD` is served as `GET`); `Err`
/// carries the path's `Allow` value when no method matches.
pub fn pick<R: Clone>(m: &Method, allow: &'static str, table: &[(Method, R)]) -> Result<R, &'static str> {
    for (method, route) in table {
        if method == m || (*method == Method::GET && *m == Method::HEAD) {
            return Ok(route.clone());
        }
    }
    Err(allow)
}

/// A path's segments after the leading `/`, trailing slashes ignored.
pub fn segments(path: &str) -> Vec<&str> {
    path.trim_end_matches('/').split('/').skip(1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A front end answering one path, for composition tests.
    struct One(&'static str, &'static str);

    impl FrontEnd for One {
        type Route = ();
        fn route(&self, _: &Method, path: &str) -> Option<()> {
            (path == self.0).then_some(())
        }
        fn name(_: &()) -> &'static str {
            "one"
        }
        async fn serve(self: Arc<Self>, _: (), _: Request<Incoming>) -> Reply {
            json(StatusCode::OK, &self.1)
        }
    }

    #[test]
    fn the_first_front_end_that_claims_a_path_answers_it() {
        let r = Router::new().mount(Arc::new(One("/a", "first"))).mount(Arc::new(One("/a", "second")));
        assert_eq!(r.find(&Method::GET, "/a").name, "one");
        assert_eq!(r.find(&Method::GET, "/b").name, "not_found");
        assert_eq!(Router::new().find(&Method::GET, "/a").name, "not_found");
    }

    #[test]
    fn pick_serves_head_as_get() {
        let table = [(Method::GET, 1), (Method::DELETE, 2)];
        assert_eq!(pick(&Method::HEAD, "GET, HEAD, DELETE", &table), Ok(1));
        assert_eq!(pick(&Method::DELETE, "GET, HEAD, DELETE", &table), Ok(2));
        assert_eq!(pick(&Method::POST, "GET, HEAD, DELETE", &table), Err("GET, HEAD, DELETE"));
        assert_eq!(segments("/v1/x/"), vec!["v1", "x"]);
    }
}
