//! The S3 server and the catalog go away while sampling goes on, and come back (also
//! flapping). Samples pile up in the buffer, failed syncs back off instead of looping, and
//! everything is delivered once the services return.

mod common;

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::stack::{Stack, unique_table};
use pcmetrics_core::config::Settings;
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::pipeline::{self, Event};
use pcmetrics_core::sample::SyntheticSource;
use pcmetrics_core::sync::Syncer;

/// A TCP forwarder that can be switched off: closed, it cuts every open connection and
/// hangs up on new ones at once, like a server that went away.
#[derive(Clone)]
struct Gate {
    addr: String,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Gate {
    fn start(upstream: &str) -> Gate {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let gate = Gate {
            addr: format!("http://{}", listener.local_addr().unwrap()),
            open: Arc::new(AtomicBool::new(true)),
            conns: Arc::default(),
        };
        let g = gate.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !g.open.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                g.conns
                    .lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        gate
    }

    fn set(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
        if !open {
            for c in self.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

fn settings_through(stack: &Stack, s3: &Gate, rest: &Gate, dir: &std::path::Path) -> Settings {
    let mut s = Settings::embedded(dir);
    s.sampling.interval = Duration::from_millis(250);
    s.sync.interval = Duration::from_secs(1);
    stack.apply(&mut s, &unique_table("outage"));
    s.storage = stack.storage_via(&s3.addr);
    s.catalog = stack.catalog_via(&rest.addr);
    s
}

/// Runs the pipeline for `schedule` (gate state, seconds) steps and checks delivery.
async fn outage(schedule: &[(bool, u64)]) {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let (s3, rest) = (Gate::start(&stack.endpoint), Gate::start(&stack.rest_uri));
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_through(&stack, &s3, &rest, dir.path());
    let (tx, mut rx) = tokio::sync::broadcast::channel(100_000);

    let gates = (s3.clone(), rest.clone());
    let plan = schedule.to_vec();
    let total: u64 = plan.iter().map(|p| p.1).sum();
    let shutdown = async move {
        for (open, secs) in plan {
            gates.0.set(open);
            gates.1.set(open);
            tokio::time::sleep(Duration::from_secs(secs)).await;
        }
        gates.0.set(true);
        gates.1.set(true);
    };
    let source = Box::new(SyntheticSource::new(1_700_000_000_000_000, 250_000));
    let report = pipeline::run(settings.clone(), source, shutdown, Some(tx))
        .await
        .unwrap();

    let mut failures = 0u32;
    while let Ok(e) = rx.try_recv() {
        if let Event::SyncFailed { .. } = e {
            failures += 1;
        }
    }
    assert!(failures >= 1, "the outage was noticed: {report:?}");
    // Backoff: at most one attempt per 10 s of outage, plus the first.
    let down: u64 = schedule.iter().filter(|p| !p.0).map(|p| p.1).sum();
    assert!(
        failures as u64 <= 2 + down / 5,
        "{failures} failed syncs in {down}s of outage: a hot loop"
    );
    assert_eq!(
        report.pending_at_exit, 0,
        "delivered once the services returned: {report:?}"
    );
    assert!(
        report.samples as f64 >= total as f64 * 4.0 * 0.8,
        "sampling went on: {report:?}"
    );

    let host = HostIdentity::load_or_create(dir.path()).unwrap();
    let buffer = Arc::new(Mutex::new(pipeline::open_buffer(&settings).unwrap()));
    let syncer = Syncer::new(settings, host.clone(), buffer);
    let rows = syncer.table().await.unwrap().scan_rows().await.unwrap();
    let seqs = common::host_seqs(&rows, &host.host_id);
    assert_eq!(
        seqs,
        (1..=report.samples as i64).collect::<Vec<_>>(),
        "every sample once"
    );
    eprintln!(
        "outage {schedule:?}: {} samples, {failures} failed syncs, all delivered once",
        report.samples
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_down_for_a_while() {
    outage(&[(true, 2), (false, 12), (true, 12)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_flapping() {
    outage(&[
        (true, 1),
        (false, 2),
        (true, 1),
        (false, 3),
        (true, 1),
        (false, 2),
        (true, 14),
    ])
    .await;
}
