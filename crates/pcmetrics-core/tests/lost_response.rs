//! The commit reaches the REST catalog and is applied, but the answer never arrives
//! intact: the proxy between pcmetrics and the catalog drops the response, cuts it
//! half-way, or replaces it with a 500/502/504. The batch must end in the table once.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::proxy::{Proxy, Sabotage};
use common::stack::{Stack, unique_table};
use pcmetrics_core::config::Settings;
use pcmetrics_core::host::HostIdentity;
use pcmetrics_core::pipeline;
use pcmetrics_core::sample::SyntheticSource;
use pcmetrics_core::sync::Syncer;

async fn lost_response(sabotage: Sabotage, budget: usize) {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let proxy = Proxy::start(&stack.rest_uri, sabotage, budget);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::embedded(dir.path());
    settings.sync.batch_rows = 500;
    stack.apply(&mut settings, &unique_table("lost"));
    settings.catalog = stack.catalog_via(&proxy.uri);
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
    let seqs = common::host_seqs(&rows, &host.host_id);
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
