pub mod oauth;
pub mod proxy;
pub mod stack;

/// The seqs of `host_id`'s rows, sorted: compared with `1..=n` it shows a loss or a
/// duplicate at once.
#[allow(dead_code)]
pub fn host_seqs(rows: &[pcmetrics_core::encode::decode::TableRow], host_id: &str) -> Vec<i64> {
    let mut seqs: Vec<i64> = rows
        .iter()
        .filter(|r| r.host_id == host_id)
        .map(|r| r.seq)
        .collect();
    seqs.sort();
    seqs
}
