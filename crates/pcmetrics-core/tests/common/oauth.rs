//! `scripts/oauth-proxy.py` from tests: an OAuth2 token endpoint plus a catalog that
//! refuses missing, expired and revoked tokens (in front of the stack's REST catalog), or
//! a TLS front for a plain-http server. And a private CA with a certificate for
//! 127.0.0.1, made with the `openssl` command, for the TLS cases. Shared by the core and
//! CLI test suites.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/oauth-proxy.py");

/// The running proxy; stopped (by its own process handle) when dropped.
pub struct OAuthProxy {
    child: Child,
    pub uri: String,
}

/// What the proxy counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub issued: usize,
    pub rejected: usize,
    pub forwarded: usize,
    pub scopes: Vec<String>,
    /// Every token issued, to check that none is shown anywhere.
    pub tokens: Vec<String>,
}

/// A client id and secret the proxy accepts.
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

impl OAuthProxy {
    /// In front of `upstream`; with `client`, tokens of `expires_in` seconds are needed;
    /// with `tls` (certificate, key), it serves https.
    pub fn start(
        upstream: &str,
        client: Option<Client>,
        expires_in: u64,
        tls: Option<(&Path, &Path)>,
    ) -> Self {
        let mut cmd = Command::new("python3");
        cmd.arg(SCRIPT)
            .args(["--upstream", upstream])
            .args(["--expires-in", &expires_in.to_string()]);
        if let Some(c) = client {
            cmd.args(["--client-id", c.id, "--client-secret", c.secret]);
        }
        if let Some((cert, key)) = tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run python3 scripts/oauth-proxy.py (python3 must be installed)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let uri = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("oauth-proxy.py did not start: {line:?}"))
            .to_owned();
        Self { child, uri }
    }

    /// A control request (plain http only).
    fn control(&self, method: &str, path: &str) -> serde_json::Value {
        let addr = self.uri.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        write!(
            conn,
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        conn.read_to_string(&mut resp).unwrap();
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {resp}"))
    }

    pub fn stats(&self) -> Stats {
        let v = self.control("GET", "/_proxy/stats");
        let list = |k: &str| -> Vec<String> {
            v[k].as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap_or("").to_owned())
                .collect()
        };
        Stats {
            issued: v["issued"].as_u64().unwrap() as usize,
            rejected: v["rejected"].as_u64().unwrap() as usize,
            forwarded: v["forwarded"].as_u64().unwrap() as usize,
            scopes: list("scopes"),
            tokens: list("tokens"),
        }
    }

    /// Revokes every token issued so far.
    pub fn revoke(&self) {
        self.control("POST", "/_proxy/revoke");
    }

    /// Revokes every token right after the next `n` forwarded requests.
    pub fn revoke_after(&self, n: usize) {
        self.control("POST", &format!("/_proxy/revoke?after={n}"));
    }
}

impl Drop for OAuthProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a server certificate it signed for 127.0.0.1, in `dir`.
pub struct TestCa {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn create(dir: &Path) -> Self {
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("run openssl (the openssl package must be installed)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem"],
                &["-subj", "/CN=pcmetrics test CA", "-days", "2"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &["-keyout", "server.key", "-out", "server.csr"],
                &["-subj", "/CN=127.0.0.1"],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}
