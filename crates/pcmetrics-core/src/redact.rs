//! Credentials inside URLs, taken out before a URL is shown.
//!
//! Keys and secrets of the config are [`crate::config::Secret`]s and never print. A URL
//! can carry them too: `http://user:password@host` (user info) or `?token=…`,
//! `?X-Amz-Signature=…` (query parameters). Every place pcmetrics shows a URL — config
//! output, status, errors (including the text of library errors, which quote the URL
//! they failed on), logs, the sync-run log — goes through [`url`] or [`text`].

use std::borrow::Cow;

/// What replaces a credential.
pub const REDACTED: &str = crate::config::Secret::REDACTED;

/// Query parameters whose value is a credential (compared lowercase, by substring).
const SECRET_PARAMS: [&str; 10] = [
    "token",
    "secret",
    "password",
    "passwd",
    "key",
    "signature",
    "credential",
    "auth",
    "session",
    "sig",
];

/// `u` with its user info and credential-like query values replaced by [`REDACTED`]:
/// `http://u:p@h:9000/x?token=t&a=1` → `http://<redacted>@h:9000/x?token=<redacted>&a=1`.
pub fn url(u: &str) -> Cow<'_, str> {
    let Some(scheme_end) = u.find("://") else {
        return Cow::Borrowed(u);
    };
    let rest_start = scheme_end + 3;
    let rest = &u[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut out = String::with_capacity(u.len());
    out.push_str(&u[..rest_start]);
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(REDACTED);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[authority_end..];
    match tail.find('?') {
        Some(q) => {
            out.push_str(&tail[..=q]);
            let (query, fragment) = match tail[q + 1..].find('#') {
                Some(h) => tail[q + 1..].split_at(h),
                None => (&tail[q + 1..], ""),
            };
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((name, _)) if is_secret_param(name) => format!("{name}={REDACTED}"),
                    _ => p.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
            out.push_str(fragment);
        }
        None => out.push_str(tail),
    }
    if out == u {
        Cow::Borrowed(u)
    } else {
        Cow::Owned(out)
    }
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
}

/// `s` with every URL in it passed through [`url`]. A URL starts at a scheme
/// (`letters://`) and ends at whitespace or a quote, bracket or angle bracket.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.contains("://") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(sep) = rest.find("://") {
        let start = rest[..sep]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(sep, |(i, _)| i);
        let end = rest[sep..]
            .find(|c: char| c.is_whitespace() || "\"'`<>()[]{}|\\".contains(c))
            .map_or(rest.len(), |i| sep + i);
        out.push_str(&rest[..start]);
        out.push_str(&url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    if out == s {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(out)
    }
}

/// A log writer that redacts URL credentials: hand `|| redact::Writer::new(io::stderr())`
/// to `tracing_subscriber::fmt().with_writer`. The formatter makes one writer per event,
/// so the writer holds the event's text and writes it, redacted, when dropped (libraries
/// log the URLs they connect to at debug level).
pub struct Writer<W: std::io::Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: std::io::Write> Writer<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }

    fn write_pending(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let decoded = String::from_utf8_lossy(&self.pending);
        let result = self.inner.write_all(text(&decoded).as_bytes());
        self.pending.clear();
        result
    }
}

impl<W: std::io::Write> std::io::Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_pending()?;
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for Writer<W> {
    fn drop(&mut self) {
        let _ = self.write_pending();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_out_user_info_and_credential_parameters() {
        assert_eq!(
            url("http://u:p@h:9000/x?token=t&a=1#f"),
            "http://<redacted>@h:9000/x?token=<redacted>&a=1#f"
        );
        assert_eq!(url("https://AKIA@h/"), "https://<redacted>@h/");
        assert_eq!(
            url("https://h/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=ab&X-Amz-Date=1"),
            "https://h/b/k?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted>&X-Amz-Date=1"
        );
        // An @ in the path is not user info.
        assert_eq!(url("http://h:1/a@b"), "http://h:1/a@b");
        assert!(matches!(url("http://127.0.0.1:8181"), Cow::Borrowed(_)));
        assert_eq!(url("not a url"), "not a url");
    }

    #[test]
    fn finds_urls_in_error_text() {
        assert_eq!(
            text(
                "error sending request for url (http://cat:pw@127.0.0.1:1/v1/config?token=x): refused"
            ),
            "error sending request for url (http://<redacted>@127.0.0.1:1/v1/config?token=<redacted>): refused"
        );
        assert_eq!(
            text("REST catalog \"https://a:b@c\" and s3://k:s@bucket/x, done"),
            "REST catalog \"https://<redacted>@c\" and s3://<redacted>@bucket/x, done"
        );
        assert!(matches!(text("no urls here"), Cow::Borrowed(_)));
    }

    #[test]
    fn log_writer_redacts_what_it_is_given_in_pieces() {
        use std::io::Write;
        let mut out = Vec::new();
        {
            let mut w = Writer::new(&mut out);
            w.write_all(b"starting new connection: http://u:").unwrap();
            w.write_all(b"pw@h:1/\n").unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "starting new connection: http://<redacted>@h:1/\n"
        );
    }
}
