#!/usr/bin/env python3
"""A test stand-in for an OAuth2-protected Iceberg REST catalog (Polaris, Lakekeeper, ...):
a loopback HTTP(S) server in front of an unprotected catalog (the test stack's Rustberg).
Python standard library only.

    oauth-proxy.py --upstream http://127.0.0.1:38181 --client-id ID --client-secret SECRET
                   [--expires-in 3] [--tls-cert cert.pem --tls-key key.pem] [--port 0]

- `POST /v1/oauth/tokens` (the Iceberg REST spec's endpoint): the client-credentials grant,
  form-encoded. Checks the client id and secret (form fields or HTTP Basic), answers
  `{"access_token", "token_type": "bearer", "expires_in"}` with a new random token.
- Every other request is forwarded to --upstream only with `Authorization: Bearer <token>`
  of an issued, unexpired, unrevoked token; otherwise it is answered 401 (the Iceberg REST
  error model, `NotAuthorizedException`).
- Without --client-id it is a plain forwarder (with --tls-cert: a TLS front for a plain-http
  server, e.g. S3, whose signed Host header it passes on unchanged).
- Test controls, loopback only: `GET /_proxy/stats` gives the counts (issued, rejected,
  forwarded), the scopes asked for and the tokens issued; `POST /_proxy/revoke` revokes
  every token issued so far; `POST /_proxy/revoke?after=N` does so right after the next N
  forwarded requests (a token that dies between two requests of one client).

The first line on stdout is `listening on <url>`.
"""
import argparse
import base64
import http.client
import http.server
import json
import secrets
import ssl
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.tokens = {}  # token -> expiry (time.monotonic())
        self.issued = []
        self.scopes = []
        self.rejected = 0
        self.forwarded = 0
        self.revoke_after = None  # forwarded requests until every token is revoked

    def issue(self, scope):
        token = "tok-" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.args.expires_in
            self.issued.append(token)
            self.scopes.append(scope)
        return token

    def valid(self, token):
        with self.lock:
            expiry = self.tokens.get(token)
            return expiry is not None and time.monotonic() < expiry

    def stats(self):
        with self.lock:
            return {
                "issued": len(self.issued),
                "rejected": self.rejected,
                "forwarded": self.forwarded,
                "scopes": list(self.scopes),
                "tokens": list(self.issued),
            }


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set in main

    def log_message(self, fmt, *args):
        if self.state.args.verbose:
            sys.stderr.write("oauth-proxy: " + (fmt % args) + "\n")

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        args = self.state.args
        path = urllib.parse.urlsplit(self.path).path
        data = self.body()
        if path == "/_proxy/stats" and self.command == "GET":
            return self.reply(200, self.state.stats())
        if path == "/_proxy/revoke" and self.command == "POST":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            with self.state.lock:
                if "after" in query:
                    self.state.revoke_after = int(query["after"][0])
                    return self.reply(200, {"armed": self.state.revoke_after})
                revoked = len(self.state.tokens)
                self.state.tokens.clear()
            return self.reply(200, {"revoked": revoked})
        if args.client_id is not None and path.endswith("/v1/oauth/tokens"):
            return self.token(data)
        if args.client_id is not None:
            auth = self.headers.get("authorization", "")
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not self.state.valid(token.strip()):
                with self.state.lock:
                    self.state.rejected += 1
                return self.reply(
                    401,
                    {
                        "error": {
                            "message": "missing, expired or revoked token",
                            "type": "NotAuthorizedException",
                            "code": 401,
                        }
                    },
                )
        self.forward(data)

    def token(self, data):
        args = self.state.args
        if self.command != "POST":
            return self.reply(405, {"error": "invalid_request"})
        form = urllib.parse.parse_qs(data.decode(), keep_blank_values=True)
        field = lambda k: (form.get(k) or [None])[0]
        client_id, client_secret = field("client_id"), field("client_secret")
        basic = self.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            decoded = base64.b64decode(basic[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
            client_id = urllib.parse.unquote_plus(client_id)
            client_secret = urllib.parse.unquote_plus(client_secret)
        if field("grant_type") != "client_credentials":
            return self.reply(400, {"error": "unsupported_grant_type"})
        if client_id != args.client_id or client_secret != args.client_secret:
            return self.reply(
                401, {"error": "invalid_client", "error_description": "unknown client"}
            )
        token = self.state.issue(field("scope"))
        self.reply(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": args.expires_in,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            },
        )

    def forward(self, data):
        args = self.state.args
        up = urllib.parse.urlsplit(args.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=60)
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
        }
        if args.client_id is not None:
            # The upstream catalog knows nothing of this proxy's tokens.
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        if data:
            headers["content-length"] = str(len(data))
        try:
            conn.request(self.command, self.path, body=data or None, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except OSError as e:
            return self.reply(502, {"error": {"message": str(e), "type": "BadGateway", "code": 502}})
        finally:
            conn.close()
        with self.state.lock:
            self.state.forwarded += 1
            if self.state.revoke_after is not None:
                self.state.revoke_after -= 1
                if self.state.revoke_after <= 0:
                    self.state.revoke_after = None
                    self.state.tokens.clear()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        if self.command == "HEAD":
            length = resp.getheader("content-length")
            if length is not None:
                self.send_header("content-length", length)
            self.end_headers()
            return
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--upstream", required=True, help="the unprotected server, http://host:port")
    p.add_argument("--client-id")
    p.add_argument("--client-secret")
    p.add_argument("--expires-in", type=int, default=3, help="token lifetime, seconds")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    if (args.client_id is None) != (args.client_secret is None):
        p.error("--client-id and --client-secret go together")
    Handler.state = State(args)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    scheme = "http"
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    print(f"listening on {scheme}://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
