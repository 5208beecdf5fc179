//! `--remote URL`: parsing the URL, reading the standard AWS variables and
//! the flags that override them, building the object_store client, and the
//! one start-up probe.

use super::client::Remote;
use crate::error::{Error, Result};
use object_store::aws::AmazonS3Builder;
use object_store::{ClientOptions, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// Where the remote store is and how to reach it. Build with
/// [`RemoteConfig::from_env`], adjust the public fields (the command's
/// flags), then [`RemoteConfig::open`].
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    /// The URL as the user gave it (`s3://bucket/prefix`), for messages.
    pub url: String,
    /// The bucket.
    pub bucket: String,
    /// The key prefix inside the bucket, without leading or trailing `/`
    /// (may be empty).
    pub prefix: String,
    /// S3 endpoint (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`); `None` is AWS.
    /// An `http://` endpoint is allowed when given explicitly.
    pub endpoint: Option<String>,
    /// Region (`AWS_REGION`, `AWS_DEFAULT_REGION`); default `us-east-1`.
    pub region: Option<String>,
    /// Path-style requests (`https://endpoint/bucket/key`). `None`: path
    /// style for a custom endpoint, virtual-hosted style for AWS.
    pub path_style: Option<bool>,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: Option<String>,
    /// Connecting gives up after this long.
    pub connect_timeout: Duration,
    /// One request (headers and body) gives up after this long.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        f.debug_struct("RemoteConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Default [`RemoteConfig::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default [`RemoteConfig::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl RemoteConfig {
    /// Parses `url` (`s3://bucket[/prefix]`) and reads the standard
    /// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`).
    pub fn from_env(url: &str) -> Result<RemoteConfig> {
        Self::from_vars(url, |name| {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        })
    }

    /// [`RemoteConfig::from_env`] with the variables from `var`.
    pub fn from_vars(url: &str, var: impl Fn(&str) -> Option<String>) -> Result<RemoteConfig> {
        let bad = |cause: &str| Error::Remote {
            url: url.to_owned(),
            cause: cause.to_owned(),
        };
        let rest = match url.split_once("://") {
            Some(("s3", rest)) => rest,
            Some((scheme, _)) => {
                return Err(bad(&format!(
                    "unsupported scheme {scheme}:// (this gomodfs supports s3:// for any S3-compatible service)"
                )));
            }
            None => return Err(bad("not a URL: expected s3://BUCKET[/PREFIX]")),
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket: expected s3://BUCKET[/PREFIX]"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..")
            || prefix.contains("//")
            || prefix.contains(['?', '#', '\\'])
        {
            return Err(bad("the prefix must be plain path segments"));
        }
        let first = |names: &[&str]| names.iter().find_map(|n| var(n));
        Ok(RemoteConfig {
            url: url.to_owned(),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: first(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]),
            region: first(&["AWS_REGION", "AWS_DEFAULT_REGION"]),
            path_style: None,
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// Builds the client (no request is made yet: see [`Remote::probe`]).
    pub fn open(&self) -> Result<Remote> {
        // reqwest is built without a default TLS provider: ring, as for the
        // upstream client (a second install is a no-op).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bad = |cause: String| Error::Remote {
            url: self.url.clone(),
            cause,
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(self.region.as_deref().unwrap_or("us-east-1"))
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(self.connect_timeout)
                    .with_timeout(self.request_timeout),
            )
            // object_store retries 5xx and connection errors itself; keep it
            // short, the callers retry uploads with their own backoff.
            .with_retry(RetryConfig {
                backoff: object_store::BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_millis(500),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: self.request_timeout,
            });
        if let Some(endpoint) = &self.endpoint {
            if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
                return Err(bad(format!(
                    "endpoint {endpoint:?} must start with http:// or https://"
                )));
            }
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let path_style = self.path_style.unwrap_or(self.endpoint.is_some());
        builder = builder.with_virtual_hosted_style_request(!path_style);
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
                if let Some(token) = &self.session_token {
                    builder = builder.with_token(token);
                }
            }
            (None, None) => {
                return Err(bad(
                    "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_owned(),
                ));
            }
            _ => {
                return Err(bad(
                    "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither".to_owned(),
                ));
            }
        }
        let store = builder.build().map_err(|e| bad(e.to_string()))?;
        Ok(Remote::new(
            Arc::new(store),
            &self.url,
            &self.prefix,
            self.request_timeout + self.connect_timeout,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn parses_bucket_prefix_and_variables() {
        let c = RemoteConfig::from_vars(
            "s3://fleet/ci/go/",
            vars(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ACCESS_KEY_ID", "id"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
            ]),
        )
        .unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("fleet", "ci/go"));
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert!(c.open().is_ok());
        let bare = RemoteConfig::from_vars("s3://b", vars(&[])).unwrap();
        assert_eq!(bare.prefix, "");
    }

    #[test]
    fn refuses_bad_urls_and_half_credentials_in_one_line() {
        for (url, want) in [
            ("gs://b/p", "unsupported scheme gs://"),
            ("b/p", "not a URL"),
            ("s3:///p", "no bucket"),
            ("s3://b/a/../c", "plain path segments"),
        ] {
            let e = RemoteConfig::from_vars(url, vars(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("remote {url}: ")), "{e}");
            assert!(e.contains(want), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let c = RemoteConfig::from_vars("s3://b", vars(&[("AWS_ACCESS_KEY_ID", "x")])).unwrap();
        let e = c.open().unwrap_err().to_string();
        assert!(e.contains("both AWS_ACCESS_KEY_ID"), "{e}");
        let c = RemoteConfig::from_vars(
            "s3://b",
            vars(&[
                ("AWS_ACCESS_KEY_ID", "x"),
                ("AWS_SECRET_ACCESS_KEY", "y"),
                ("AWS_ENDPOINT_URL", "127.0.0.1:9000"),
            ]),
        )
        .unwrap();
        assert!(c.open().unwrap_err().to_string().contains("http://"));
    }
}
