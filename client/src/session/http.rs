//! Blocking HTTP(S) GETs for worker threads (tracker announces and scrapes, `.torrent` URLs),
//! done with `ureq` over rustls. Callers run [`HttpClient::get`] off the network thread.
//!
//! Every fetch follows at most [`MAX_REDIRECTS`] redirects, accepts gzip, gives up after the
//! timeout given, and reads at most the given number of (decoded) body bytes. Certificates are
//! always verified: against Mozilla's roots, plus any [`super::Config::extra_root_certs`].

use std::time::Duration;

use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// Redirects followed before giving up.
pub(crate) const MAX_REDIRECTS: u32 = 3;

/// A shareable HTTP(S) client (cheap to clone; clones share the connection pool).
#[derive(Clone)]
pub(crate) struct HttpClient {
    agent: Agent,
}

impl HttpClient {
    /// A client that gives up on a request after `timeout` and trusts Mozilla's roots plus the
    /// DER certificates in `extra_roots`.
    pub(crate) fn new(timeout: Duration, extra_roots: &[Vec<u8>]) -> Self {
        let roots = if extra_roots.is_empty() {
            RootCerts::WebPki
        } else {
            let mut certs: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            certs.extend(
                extra_roots
                    .iter()
                    .map(|d| Certificate::from_der(d).to_owned()),
            );
            RootCerts::new_with_certs(&certs)
        };
        let agent = Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout))
            .max_redirects(MAX_REDIRECTS)
            .max_redirects_will_error(true)
            .http_status_as_error(true)
            .user_agent(concat!("Freshet/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .new_agent();
        Self { agent }
    }

    /// GETs `url` (http or https) and returns the decoded body (at most `limit` bytes), or a
    /// message saying what failed.
    pub(crate) fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "{url}: only http:// and https:// URLs are supported"
            ));
        }
        let resp = self.agent.get(url).call().map_err(|e| describe(url, e))?;
        resp.into_body()
            .with_config()
            .limit(limit as u64)
            .read_to_vec()
            .map_err(|e| describe(url, e))
    }
}

fn describe(url: &str, e: ureq::Error) -> String {
    match e {
        ureq::Error::StatusCode(s) => format!("{url}: HTTP status {s}"),
        ureq::Error::BodyExceedsLimit(n) => format!("{url}: reply larger than {n} bytes"),
        ureq::Error::TooManyRedirects => format!("{url}: more than {MAX_REDIRECTS} redirects"),
        e => format!("{url}: {e}"),
    }
}
