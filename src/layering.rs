//! The dependency rules of `src/lib.rs`, checked: each layer's source files may name only the
//! layers below it, and the service names no front end's wire format (URL paths, JSON request
//! bodies, URL encoding). A rule broken by a new line of code fails `cargo test` with the file
//! and the line; comments are not read.

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every `.rs` file under `src/<dir>` (or the file `src/<dir>.rs`), with its text.
    fn sources(dir: &str) -> Vec<(String, String)> {
        // Read at run time: a test binary built from another checkout of the same tree (a
        // shared target dir) must still read this checkout's sources.
        let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
        let root = Path::new(&manifest).join("src");
        let mut out = Vec::new();
        let mut stack = vec![root.join(dir)];
        if root.join(format!("{dir}.rs")).is_file() {
            stack = vec![root.join(format!("{dir}.rs"))];
        }
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push((p.display().to_string(), std::fs::read_to_string(&p).unwrap()));
            }
        }
        assert!(!out.is_empty(), "no sources for {dir}");
        out
    }

    /// Lines of code (comments and doc comments skipped) in `dir` naming any of `forbidden`.
    fn offences(dir: &str, forbidden: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        for (file, text) in sources(dir) {
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                for f in forbidden {
                    if code.contains(f) {
                        found.push(format!("{file}:{}: names {f}: {code}", n + 1));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn each_layer_names_only_the_layers_below_it() {
        const UP: [&str; 3] = ["crate::frontend", "crate::http", "crate::service"];
        let below = |extra: &[&'static str]| -> Vec<&'static str> { UP.iter().chain(extra).copied().collect() };
        let rules: Vec<(&str, Vec<&str>)> = vec![
            // Front ends reach storage only through the service.
            ("frontend", vec!["crate::engine", "crate::local", "crate::index", "crate::store", "crate::worker"]),
            // The HTTP library knows no API.
            ("http", vec!["crate::frontend"]),
            ("model", below(&["crate::engine", "crate::local", "crate::index", "crate::store", "hyper"])),
            ("engine", below(&["crate::local", "crate::index", "crate::store", "hyper"])),
            ("index", below(&["crate::engine::", "crate::local", "crate::store", "hyper"])),
            ("store", below(&["crate::engine", "crate::local", "crate::index", "hyper"])),
            ("local", below(&["hyper", "crate::postgres_s3"])),
            // The second backend shares the model and the engine's traits, nothing of the first.
            ("postgres_s3", below(&["hyper", "crate::local", "crate::index", "crate::store", "crate::worker"])),
            // Jobs run through the service and the engine's traits, whatever the backend.
            ("worker", vec!["crate::frontend", "crate::http", "crate::local", "crate::index", "crate::store"]),
        ];
        let mut all = Vec::new();
        for (dir, forbidden) in &rules {
            all.extend(offences(dir, forbidden));
        }
        // The service is below every front end and the HTTP library, and holds the engine's
        // traits only: no backend. The hyper pattern is spelled in two pieces so a text search
        // for HTTP types below the HTTP layer does not find this test.
        all.extend(offences(
            "service",
            &[
                "crate::frontend",
                "crate::http",
                "crate::local",
                "crate::postgres_s3",
                "crate::index",
                "crate::store",
                "crate::worker",
                concat!("hyper", "::"),
                "use hyper",
            ],
        ));
        assert!(all.is_empty(), "layering broken:\n{}", all.join("\n"));
    }

    #[test]
    fn the_service_knows_no_wire_format() {
        // A front end parses its requests (JSON bodies, query strings, cursors) and builds its
        // URLs and JSON answers; the service takes typed requests and returns domain values.
        // The one JSON the service reads is a JWT's claims, in jwt.rs: a credential, not a
        // request.
        const WIRE: [&str; 6] =
            ["/v1/", "serde_json::Value", "serde_json::Map", "Value::Object", "as_object(", "percent_encoding"];
        let found: Vec<String> =
            offences("service", &WIRE).into_iter().filter(|o| !o.contains("/service/jwt.rs:")).collect();
        assert!(found.is_empty(), "the service reads a front end's wire format:\n{}", found.join("\n"));
        assert!(!offences("frontend", &WIRE).is_empty(), "front ends do, so the check can see it");
    }

    #[test]
    fn the_check_sees_a_broken_rule() {
        assert!(!offences("local", &["crate::index"]).is_empty(), "the local backend is built on the index");
        assert!(!offences("frontend", &["crate::http"]).is_empty(), "front ends are built on the HTTP library");
    }
}
