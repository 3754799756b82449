//! An HTTP proxy in front of the REST catalog that misbehaves on table commits, for the
//! lost-response and kill-during-commit tests.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sabotage {
    /// Forward the commit, then close the connection without a response.
    Drop,
    /// Forward the commit, send half of the response, close.
    Cut,
    /// Forward the commit, answer this status instead of the real response.
    Status(u16),
    /// Hold the commit without forwarding it (the test kills the client meanwhile).
    HoldBefore,
    /// Forward the commit, then hold the response (the test kills the client meanwhile).
    HoldAfter,
}

/// An HTTP proxy in front of the REST catalog that sabotages the responses of the first
/// `budget` table commits that add a snapshot (POST .../namespaces/{ns}/tables/{table}
/// with an `add-snapshot` update; schema changes pass untouched).
pub struct Proxy {
    pub uri: String,
    pub sabotaged: Arc<AtomicUsize>,
}

fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).ok()?;
    // One request per connection: ask the catalog to close after answering.
    let head: String = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let head = head.trim_end().to_owned() + "\r\nconnection: close\r\n\r\n";
    let mut request = head.into_bytes();
    request.extend(body);
    let first = String::from_utf8_lossy(&request)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    Some((first, request))
}

fn is_commit(request_line: &str) -> bool {
    let mut parts = request_line.split_whitespace();
    let (Some("POST"), Some(path)) = (parts.next(), parts.next()) else {
        return false;
    };
    let segs: Vec<&str> = path.split('?').next().unwrap_or("").split('/').collect();
    segs.iter()
        .position(|s| *s == "tables")
        .is_some_and(|i| i + 2 == segs.len() && i >= 2 && segs[i - 2] == "namespaces")
}

impl Proxy {
    pub fn start(upstream: &str, sabotage: Sabotage, budget: usize) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let sabotaged = Arc::new(AtomicUsize::new(0));
        let count = sabotaged.clone();
        let reserved = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (upstream, count, reserved) =
                    (upstream.clone(), count.clone(), reserved.clone());
                std::thread::spawn(move || {
                    let Some((line, request)) = read_request(&mut conn) else {
                        return;
                    };
                    let adds_snapshot = request.windows(12).any(|w| w == b"add-snapshot");
                    let sabotage_this = is_commit(&line)
                        && adds_snapshot
                        && reserved.fetch_add(1, Ordering::SeqCst) < budget;
                    if sabotage_this && sabotage == Sabotage::HoldBefore {
                        count.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_secs(3));
                        return;
                    }
                    let mut up = TcpStream::connect(&upstream).unwrap();
                    up.write_all(&request).unwrap();
                    let mut response = Vec::new();
                    let _ = up.read_to_end(&mut response);
                    if sabotage_this {
                        // Counted once the catalog has applied the commit (or refused it).
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    if !sabotage_this {
                        let _ = conn.write_all(&response);
                    } else {
                        match sabotage {
                            Sabotage::Drop => {}
                            Sabotage::Cut => {
                                let _ = conn.write_all(&response[..response.len() / 2]);
                            }
                            Sabotage::HoldBefore => unreachable!("returned above"),
                            Sabotage::HoldAfter => {
                                std::thread::sleep(std::time::Duration::from_secs(3));
                                let _ = conn.write_all(&response);
                            }
                            Sabotage::Status(code) => {
                                let body = format!(
                                    r#"{{"error":{{"message":"injected after commit","type":"ServerError","code":{code}}}}}"#
                                );
                                let _ = write!(
                                    conn,
                                    "HTTP/1.1 {code} Injected\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                    body.len()
                                );
                            }
                        }
                    }
                    let _ = conn.shutdown(Shutdown::Both);
                });
            }
        });
        Proxy { uri, sabotaged }
    }
}
