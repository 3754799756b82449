//! The commit reaches the REST catalog and is applied, but the answer never arrives
//! intact: the proxy between pcmetrics and the catalog drops the response, cuts it
//! half-way, or replaces it with a 500/502/504. The batch must end in the table once.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::stack::{Stack, unique_table};
use pcmetrics_core::config::{CatalogSettings, S3Settings, Secret, Settings, StorageSettings};
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::pipeline;
use pcmetrics_core::sample::SyntheticSource;
use pcmetrics_core::sync::Syncer;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sabotage {
    /// Forward the commit, then close the connection without a response.
    Drop,
    /// Forward the commit, send half of the response, close.
    Cut,
    /// Forward the commit, answer this status instead of the real response.
    Status(u16),
}

/// An HTTP proxy in front of the REST catalog that sabotages the responses of the first
/// `budget` table commits (POST .../namespaces/{ns}/tables/{table}).
struct Proxy {
    uri: String,
    sabotaged: Arc<AtomicUsize>,
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
    fn start(upstream: &str, sabotage: Sabotage, budget: usize) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let sabotaged = Arc::new(AtomicUsize::new(0));
        let count = sabotaged.clone();
        let lock = Arc::new(Mutex::new(()));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (upstream, count, lock) = (upstream.clone(), count.clone(), lock.clone());
                std::thread::spawn(move || {
                    let Some((line, request)) = read_request(&mut conn) else {
                        return;
                    };
                    let mut up = TcpStream::connect(&upstream).unwrap();
                    up.write_all(&request).unwrap();
                    let mut response = Vec::new();
                    let _ = up.read_to_end(&mut response);
                    let sabotage_this = is_commit(&line) && {
                        let _g = lock.lock().unwrap();
                        let ok = count.load(Ordering::SeqCst) < budget;
                        if ok {
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        ok
                    };
                    if !sabotage_this {
                        let _ = conn.write_all(&response);
                    } else {
                        match sabotage {
                            Sabotage::Drop => {}
                            Sabotage::Cut => {
                                let _ = conn.write_all(&response[..response.len() / 2]);
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

async fn lost_response(sabotage: Sabotage, budget: usize) {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let proxy = Proxy::start(&stack.rest_uri, sabotage, budget);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::embedded(dir.path());
    settings.sync.batch_rows = 500;
    settings.sync.table = unique_table("lost");
    settings.storage = StorageSettings::S3(S3Settings {
        endpoint: Some(stack.endpoint.clone()),
        region: stack.region.clone(),
        bucket: stack.bucket.clone(),
        access_key_id: Secret::new(stack.key_id.clone()),
        secret_access_key: Secret::new(stack.secret.clone()),
        path_style: true,
        allow_http: true,
    });
    settings.catalog = CatalogSettings::Rest {
        uri: proxy.uri.clone(),
        warehouse: None,
        token: None,
    };
    let host = HostIdentity::load_or_create(dir.path()).unwrap();
    let buffer = Arc::new(Mutex::new(pipeline::open_buffer(&settings).unwrap()));
    let samples: Vec<_> = SyntheticSource::new(1_700_000_000_000_000, 1_000_000)
        .take(1200)
        .collect();
    buffer.lock().unwrap().append(&samples).unwrap();
    let syncer = Syncer::new(settings, host.clone(), buffer.clone());

    // Failed commits the client cannot tell from success are recognised in the same sync;
    // a sync that still reports an error is retried, as the pipeline would.
    let mut already = 0;
    for _ in 0..3 {
        match syncer.sync().await {
            Ok(r) => {
                already += r.already_committed;
                break;
            }
            Err(e) => eprintln!("sync failed, retrying: {e}"),
        }
    }
    assert_eq!(
        proxy.sabotaged.load(Ordering::SeqCst),
        budget,
        "{sabotage:?}: the proxy did sabotage"
    );
    assert_eq!(
        already as usize, budget,
        "{sabotage:?}: each sabotaged commit was found in the table"
    );
    assert_eq!(buffer.lock().unwrap().status().unwrap().pending, 0);

    let rows = syncer.table().await.unwrap().scan_rows().await.unwrap();
    let mut seqs: Vec<i64> = rows
        .iter()
        .filter(|r| r.host_id == host.host_id)
        .map(|r| r.seq)
        .collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=1200).collect::<Vec<_>>(),
        "{sabotage:?}: every sample exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_commit_response() {
    lost_response(Sabotage::Drop, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_commit_response() {
    lost_response(Sabotage::Cut, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_after_commit() {
    for code in [500, 502, 504] {
        lost_response(Sabotage::Status(code), 1).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_commit_response_lost() {
    lost_response(Sabotage::Drop, 3).await;
}
