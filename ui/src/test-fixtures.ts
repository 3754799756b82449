// Test helpers (imported only by *.test.ts; not part of the app bundle).
import type { MetricSample, Series, SettingsForm, SyncReport, SyncStatus } from './api-types';

export function sample(tsSec: number, over: Partial<MetricSample> = {}): MetricSample {
  return {
    ts_us: tsSec * 1e6,
    cpu_total_pct: 10,
    cpu_core_pct: [5, 15],
    load_1: 0.5,
    load_5: 0.4,
    load_15: 0.3,
    mem_total_bytes: 16e9,
    mem_used_bytes: 4e9,
    mem_available_bytes: 12e9,
    swap_total_bytes: 2e9,
    swap_used_bytes: 1e8,
    disks: [],
    disk_read_bps: 100,
    disk_write_bps: 200,
    networks: [],
    net_rx_bps: 300,
    net_tx_bps: 400,
    temperatures: [],
    process_count: 300,
    uptime_s: 1000,
    ...over,
  };
}

export function series(metric: string, ts: number[], over: Partial<Series> = {}): Series {
  return {
    metric,
    unit: '',
    from_us: 0,
    to_us: 0,
    bucket_us: 60e6,
    resolution: 'minute',
    points: ts.map((t, i) => ({ ts_us: t, mean: i + 1, min: i, max: i + 2 })),
    ...over,
  };
}

export function report(over: Partial<SyncReport> = {}): SyncReport {
  return {
    batches: 1,
    rows: 1234,
    files: 1,
    bytes: 50_000,
    already_committed: 0,
    snapshot_id: 42,
    metadata_location: null,
    landed: [],
    duration_ms: 400,
    ...over,
  };
}

export function status(over: Partial<SyncStatus> = {}): SyncStatus {
  return {
    pending: 0,
    max_pending: 100_000,
    oldest_pending_us: null,
    newest_sample_us: null,
    dropped_total: 0,
    quarantined: 0,
    last_success: null,
    recent_runs: [],
    syncing: false,
    consecutive_failures: 0,
    next_sync_us: null,
    last_error: null,
    maintenance_role: 'full',
    maintenance_warning: null,
    last_maintenance: null,
    ...over,
  };
}

export function settings(over: Partial<SettingsForm> = {}): SettingsForm {
  return {
    sampling_interval: '1s',
    sync_interval: '5m',
    collect_disks: true,
    collect_networks: true,
    collect_temperatures: true,
    collect_processes: true,
    mounts_include: '',
    mounts_exclude: '/snap/*, /var/snap/*, /var/lib/docker/*, /var/lib/containers/*',
    interfaces_include: '',
    interfaces_exclude: 'veth*, docker*, br-*, virbr*',
    storage_kind: 'local',
    storage_root: '',
    endpoint: '',
    region: '',
    bucket: '',
    path_style: false,
    allow_http: false,
    access_key_id: '',
    secret_access_key: '',
    access_key_set: true,
    secret_key_set: false,
    catalog_kind: 'sql',
    catalog_uri: '',
    warehouse: '',
    catalog_token: '',
    token_set: false,
    catalog_allow_http: false,
    notify_sync_failures: true,
    cpu_alert_pct: null,
    cpu_alert_for: '5m',
    launch_at_login: false,
    config_path: '/home/u/.config/pcmetrics/config.toml',
    ...over,
  };
}
