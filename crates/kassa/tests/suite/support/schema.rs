//! Every answer an in-process test server gives is checked against the OpenAPI description:
//! the status must be one the operation documents, and a JSON body must match that response's
//! schema (for an error, its `error` code must be one listed for that status). The check is an
//! independent JSON Schema validator (the `jsonschema` crate) reading the description as JSON;
//! violations are collected and fail the test when its server goes away.
//!
//! Requests to paths or methods the description does not have (deliberately wrong requests:
//! unknown endpoints, wrong methods) are not checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

/// The description, as JSON, with a compiled validator per response.
pub struct Description {
    document: Value,
    /// `(path template split on '/', path template)`.
    templates: Vec<(Vec<String>, String)>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl Description {
    pub fn get() -> &'static Description {
        static DESCRIPTION: OnceLock<Description> = OnceLock::new();
        DESCRIPTION.get_or_init(|| {
            let document = serde_json::to_value(kassa_server::api::openapi::document()).expect("serializes");
            let templates = document["paths"]
                .as_object()
                .expect("paths")
                .keys()
                .map(|t| (t.split('/').map(str::to_string).collect(), t.clone()))
                .collect();
            Description { document, templates, validators: Mutex::new(HashMap::new()) }
        })
    }

    /// The path template a concrete path matches (`/api/v1/orders/BSAPI-X` → `/api/v1/orders/{id}`).
    fn template(&self, path: &str) -> Option<&str> {
        let parts: Vec<&str> = path.split('/').collect();
        // A literal path beats a template (`/api/v1/orders` is not `/api/v1/{x}`).
        let mut best: Option<(usize, &str)> = None;
        for (template_parts, template) in &self.templates {
            if template_parts.len() != parts.len() {
                continue;
            }
            let mut literals = 0;
            let fits = template_parts.iter().zip(&parts).all(|(t, p)| {
                if t.starts_with('{') {
                    !p.is_empty()
                } else {
                    literals += 1;
                    t == p
                }
            });
            if fits && best.is_none_or(|(n, _)| literals > n) {
                best = Some((literals, template));
            }
        }
        best.map(|(_, t)| t)
    }

    /// What is wrong with this answer, if anything; `None` when the request is not described.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        content_type: &str,
        body: &[u8],
    ) -> Option<Result<(), String>> {
        let template = self.template(path)?;
        let method_key = method.as_str().to_ascii_lowercase();
        let operation = self.document["paths"][template].get(&method_key)?;
        let what = format!("{method} {path} -> {}", status.as_u16());
        let Some(response) = operation["responses"].get(status.as_str()) else {
            return Some(Err(format!("{what}: status not documented for {method_key} {template}")));
        };
        let Some(schema) = response["content"]["application/json"].get("schema") else {
            return Some(if body.is_empty() { Ok(()) } else { Err(format!("{what}: a body, but none documented")) });
        };
        if !content_type.starts_with("application/json") {
            return Some(Err(format!("{what}: content type {content_type:?}, documented application/json")));
        }
        let instance: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(e) => return Some(Err(format!("{what}: body is not JSON: {e}"))),
        };
        let key = format!("{method_key} {template} {}", status.as_u16());
        let validator = self.validator(&key, schema);
        let errors: Vec<String> =
            validator.iter_errors(&instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        Some(if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{what}: body does not match the schema: {}; body: {instance}", errors.join("; ")))
        })
    }

    /// A validator for one of the description's component schemas (a request body, say).
    pub fn component(&self, name: &str) -> Arc<jsonschema::Validator> {
        self.validator(&format!("component {name}"), &json!({ "$ref": format!("#/components/schemas/{name}") }))
    }

    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut validators = self.validators.lock().unwrap();
        validators
            .entry(key.to_string())
            .or_insert_with(|| {
                // The response schema, with the components beside it so `#/components/...`
                // references resolve within this one document.
                let root = json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": self.document["components"],
                    "allOf": [schema],
                });
                Arc::new(
                    jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft202012)
                        .build(&root)
                        .unwrap_or_else(|e| panic!("the schema of {key} does not compile: {e}")),
                )
            })
            .clone()
    }
}

/// The answers one server gave that do not fit the description, and how many were checked.
#[derive(Clone, Default)]
pub struct Conformance {
    inner: Arc<Mutex<(Vec<String>, usize)>>,
}

impl Conformance {
    pub fn checked(&self) -> usize {
        self.inner.lock().unwrap().1
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().unwrap().0.clone()
    }

    fn record(&self, outcome: Result<(), String>) {
        let mut inner = self.inner.lock().unwrap();
        inner.1 += 1;
        if let Err(violation) = outcome {
            inner.0.push(violation);
        }
    }

    /// The middleware: passes the answer on unchanged after checking it.
    pub async fn layer(self, request: Request, next: Next) -> Response {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let response = next.run(request).await;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("the server's own body reads");
        let content_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        if let Some(outcome) = Description::get().check(&method, &path, parts.status, content_type, &bytes) {
            let outcome = outcome.and_then(|()| {
                if parts.headers.contains_key("x-request-id") {
                    Ok(())
                } else {
                    Err(format!("{method} {path}: no X-Request-Id"))
                }
            });
            self.record(outcome);
        }
        Response::from_parts(parts, Body::from(bytes))
    }

    /// Fails the test if any answer did not fit.
    pub fn assert_clean(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "{} answer(s) do not match openapi.json:\n{}",
            violations.len(),
            violations.join("\n")
        );
    }
}

/// Checks the server's answers when the test is over (dropped with its server).
pub struct ConformanceGuard(pub Conformance);

impl Drop for ConformanceGuard {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.0.assert_clean();
        }
    }
}
