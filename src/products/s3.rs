//! Where a cloud product goes: an `s3://bucket/prefix` address and how to
//! reach it (endpoint, region, credentials).
//!
//! Settings come from, lowest precedence first: the standard environment
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, the shared credentials file
//! `~/.aws/credentials` or `AWS_SHARED_CREDENTIALS_FILE` with `AWS_PROFILE`),
//! then a project's padocc `remote_s3` settings. Secrets never reach a
//! message or a log: `Debug` shows only whether they are set.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, Result};

/// A bucket and a key prefix (no leading or trailing slash; may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub prefix: String,
}

impl S3Url {
    /// `s3://bucket/a/b` → bucket `bucket`, prefix `a/b`; None for anything else.
    pub fn parse(s: &str) -> Option<S3Url> {
        let rest = s.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(S3Url { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() })
    }

    /// The key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// `s3://bucket/prefix/name`, as messages name an object.
    pub fn display(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// True for an address that names an object store rather than a local path.
pub fn is_remote(s: &str) -> bool {
    s.starts_with("s3://")
}

#[derive(Clone, Default, PartialEq)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Unsigned requests (public buckets).
    pub anonymous: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "<set>"))
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<set>"))
            .field("session_token", &self.session_token.as_ref().map(|_| "<set>"))
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `key = value` lines of one `[profile]` section of an AWS credentials file.
fn ini_section(text: &str, profile: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == profile || name.trim() == format!("profile {profile}");
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_lowercase(), v.trim().to_string()));
            }
        }
    }
    out
}

impl S3Settings {
    /// The standard environment and shared credentials file.
    pub fn from_env() -> S3Settings {
        let mut s = S3Settings {
            endpoint: env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")),
            region: env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")),
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
            session_token: env("AWS_SESSION_TOKEN"),
            anonymous: false,
        };
        if s.access_key_id.is_none() {
            let file = env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).or_else(|| env("HOME").map(|h| Path::new(&h).join(".aws/credentials")));
            let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
            if let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) {
                for (k, v) in ini_section(&text, &profile) {
                    match k.as_str() {
                        "aws_access_key_id" => s.access_key_id = Some(v),
                        "aws_secret_access_key" => s.secret_access_key = Some(v),
                        "aws_session_token" => s.session_token = Some(v),
                        _ => {}
                    }
                }
            }
        }
        s
    }

    /// Overlay padocc's `remote_s3` settings (spec §3.3): `s3_url` (the
    /// endpoint), `s3_kwargs` (`endpoint_url`, `client_kwargs.endpoint_url`,
    /// `region_name`, `anon`, `key`, `secret`, `token`) and `s3_credentials`,
    /// a dict or the path of a JSON file of `{token, secret, endpoint_url}`
    /// (padocc's names: `token` is the access key id) or the AWS names.
    pub fn with_padocc(mut self, remote: &Value) -> Result<S3Settings> {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).filter(|x| !x.is_empty()).map(String::from);
        if let Some(u) = s(remote, "s3_url").or_else(|| s(remote, "endpoint_url")) {
            self.endpoint = Some(u);
        }
        if let Some(kw) = remote.get("s3_kwargs").filter(|v| v.is_object()) {
            if let Some(u) = s(kw, "endpoint_url").or_else(|| kw.get("client_kwargs").and_then(|c| s(c, "endpoint_url"))) {
                self.endpoint = Some(u);
            }
            if let Some(r) = s(kw, "region_name").or_else(|| kw.get("client_kwargs").and_then(|c| s(c, "region_name"))) {
                self.region = Some(r);
            }
            if kw.get("anon").and_then(Value::as_bool) == Some(true) {
                self.anonymous = true;
            }
            self.take_keys(kw);
        }
        match remote.get("s3_credentials") {
            Some(Value::String(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::input_io(Path::new(path), e))?;
                let creds: Value = serde_json::from_str(&text).map_err(|e| {
                    Error::corrupt(Path::new(path), format!("S3 credentials are not JSON ({e}); expected {{\"token\": ..., \"secret\": ..., \"endpoint_url\": ...}}"))
                })?;
                self.take_keys(&creds);
            }
            Some(creds @ Value::Object(_)) => self.take_keys(creds),
            _ => {}
        }
        Ok(self)
    }

    fn take_keys(&mut self, v: &Value) {
        let s = |k: &str| v.get(k).and_then(Value::as_str).filter(|x| !x.is_empty()).map(String::from);
        if let Some(k) = s("aws_access_key_id").or_else(|| s("key")).or_else(|| s("token")) {
            self.access_key_id = Some(k);
        }
        if let Some(k) = s("aws_secret_access_key").or_else(|| s("secret")) {
            self.secret_access_key = Some(k);
        }
        if let Some(k) = s("aws_session_token").or_else(|| s("session_token")) {
            self.session_token = Some(k);
        }
        if let Some(u) = s("endpoint_url") {
            self.endpoint = Some(u);
        }
    }

    fn region_or_default(&self) -> String {
        self.region.clone().unwrap_or_else(|| "us-east-1".into())
    }

    /// An `object_store` client for the bucket, with retries and backoff for
    /// 5xx and throttling.
    pub fn object_store(&self, url: &S3Url) -> Result<Arc<dyn object_store::ObjectStore>> {
        use object_store::aws::AmazonS3Builder;
        let mut b = AmazonS3Builder::new().with_bucket_name(&url.bucket).with_region(self.region_or_default()).with_retry(object_store::RetryConfig {
            backoff: object_store::BackoffConfig { init_backoff: std::time::Duration::from_millis(200), max_backoff: std::time::Duration::from_secs(10), base: 2.0 },
            max_retries: 6,
            retry_timeout: std::time::Duration::from_secs(120),
        });
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://")).with_virtual_hosted_style_request(false);
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(k), Some(s)) => {
                b = b.with_access_key_id(k).with_secret_access_key(s);
                if let Some(t) = &self.session_token {
                    b = b.with_token(t);
                }
            }
            _ => b = b.with_skip_signature(true),
        }
        if self.anonymous {
            b = b.with_skip_signature(true);
        }
        let store = b.build().map_err(|e| Error::Usage(format!("{url}: cannot set up the S3 client: {e}")))?;
        Ok(Arc::new(store))
    }

    /// Icechunk's settings for the same endpoint and credentials.
    pub fn icechunk_options(&self) -> (icechunk::config::S3Options, icechunk::config::S3Credentials) {
        // S3Options is non-exhaustive: start from its defaults.
        let mut opts = icechunk::config::S3Options::default();
        opts.region = Some(self.region_or_default());
        opts.endpoint_url = self.endpoint.clone();
        opts.anonymous = self.anonymous;
        opts.allow_http = self.endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
        opts.force_path_style = self.endpoint.is_some();
        let creds = match (&self.access_key_id, &self.secret_access_key, self.anonymous) {
            (_, _, true) => icechunk::config::S3Credentials::Anonymous,
            (Some(k), Some(s), _) => icechunk::config::S3Credentials::Static(icechunk::config::S3StaticCredentials {
                access_key_id: k.clone(),
                secret_access_key: s.clone(),
                session_token: self.session_token.clone(),
                expires_after: None,
            }),
            _ => icechunk::config::S3Credentials::FromEnv,
        };
        (opts, creds)
    }
}

/// What to check after an object-store request failed, from its error.
pub fn advice(e: &object_store::Error) -> &'static str {
    let text = e.to_string();
    match e {
        object_store::Error::NotFound { .. } if text.contains("NoSuchBucket") => "the bucket does not exist: create it, or check the bucket name and the endpoint",
        object_store::Error::NotFound { .. } => "the object is not there",
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            "the credentials were refused: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the project's s3_credentials"
        }
        _ if text.contains("NoSuchBucket") => "the bucket does not exist: create it, or check the bucket name and the endpoint",
        _ if text.contains("InvalidAccessKeyId") || text.contains("SignatureDoesNotMatch") || text.contains("403") => {
            "the credentials were refused: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the project's s3_credentials"
        }
        _ if text.contains("onnect") || text.contains("dns") || text.contains("error sending request") => {
            "the endpoint did not answer: check AWS_ENDPOINT_URL (or s3_url) and that the server is up; rerun the same command to resume"
        }
        _ => "the server failed after retries (5xx or throttling): rerun the same command later to resume where it stopped",
    }
}

/// An output error naming the object and what to check.
pub fn output_error(what: &str, e: &object_store::Error) -> Error {
    Error::Output { path: PathBuf::from(what), source: std::io::Error::other(format!("{} ({})", first_line(&e.to_string()), advice(e))) }
}

fn first_line(s: &str) -> String {
    let s = s.lines().next().unwrap_or("").to_string();
    if s.len() > 300 {
        format!("{}...", &s[..s.floor_char_boundary(300)])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_bucket_and_prefix() {
        assert_eq!(S3Url::parse("s3://b/a/c.zarr/"), Some(S3Url { bucket: "b".into(), prefix: "a/c.zarr".into() }));
        assert_eq!(S3Url::parse("s3://b").unwrap().key("x"), "x");
        assert_eq!(S3Url::parse("s3://b/p").unwrap().display("zarr.json"), "s3://b/p/zarr.json");
        assert!(S3Url::parse("/tmp/x").is_none() && S3Url::parse("s3:///x").is_none());
    }

    #[test]
    fn padocc_credentials_use_token_as_the_key_id_and_never_print() {
        let remote = serde_json::json!({"bucket_id": "b", "s3_credentials": {"token": "AKIA1", "secret": "s3cr3t", "endpoint_url": "http://127.0.0.1:9"}});
        let s = S3Settings::default().with_padocc(&remote).unwrap();
        assert_eq!(s.access_key_id.as_deref(), Some("AKIA1"));
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9"));
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("AKIA1"), "{shown}");
    }

    #[test]
    fn credentials_file_sections() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key=B\n[profile other]\naws_access_key_id = C\n";
        assert_eq!(ini_section(text, "other"), vec![("aws_access_key_id".to_string(), "C".to_string())]);
        assert_eq!(ini_section(text, "default").len(), 2);
    }
}
