// TypeScript mirror of the Rust <-> UI contract (src-tauri commands and events).
// Field names are snake_case exactly as serialized by serde on the Rust side.

/** How every failing command rejects. `key` is a config key path ("sync.interval") for field errors. */
export interface CommandError {
  key: string | null;
  message: string;
}

export interface DiskSample {
  mount: string;
  device: string;
  fs: string;
  total_bytes: number;
  available_bytes: number;
  read_bps: number;
  write_bps: number;
}

export interface NetworkSample {
  name: string;
  rx_bps: number;
  tx_bps: number;
  rx_bytes_total: number;
  tx_bytes_total: number;
}

export interface Temperature {
  label: string;
  celsius: number;
}

export interface MetricSample {
  /** µs since epoch, UTC */
  ts_us: number;
  cpu_total_pct: number;
  cpu_core_pct: number[];
  load_1: number;
  load_5: number;
  load_15: number;
  mem_total_bytes: number;
  mem_used_bytes: number;
  mem_available_bytes: number;
  swap_total_bytes: number;
  swap_used_bytes: number;
  disks: DiskSample[];
  disk_read_bps: number;
  disk_write_bps: number;
  networks: NetworkSample[];
  net_rx_bps: number;
  net_tx_bps: number;
  temperatures: Temperature[];
  process_count: number;
  uptime_s: number;
}

export interface SyncRun {
  started_us: number;
  finished_us: number;
  rows: number;
  files: number;
  bytes: number;
  snapshot_id: number | null;
  error: string | null;
}

export interface SyncReport {
  batches: number;
  rows: number;
  files: number;
  bytes: number;
  already_committed: number;
  snapshot_id: number | null;
  metadata_location: string | null;
  landed: string[];
  duration_ms: number;
}

export interface Overview {
  host_name: string;
  host_id: string;
  /** one-line description of where data lands */
  lakehouse: string;
  /** e.g. "bronze.pc_metrics" */
  table: string;
  paused: boolean;
  sampling_interval_ms: number;
  sync_interval_ms: number;
  /** last 5 minutes from the buffer, oldest first (may be empty) */
  recent: MetricSample[];
}

export interface SyncStatus {
  pending: number;
  max_pending: number;
  oldest_pending_us: number | null;
  newest_sample_us: number | null;
  dropped_total: number;
  /** samples set aside because they can never be delivered (kept in the buffer file) */
  quarantined: number;
  last_success: SyncRun | null;
  /** newest first, up to 20 */
  recent_runs: SyncRun[];
  syncing: boolean;
  consecutive_failures: number;
  next_sync_us: number | null;
  last_error: string | null;
  /** who maintains the table from this PC: everything, this PC's files, or nobody */
  maintenance_role: 'full' | 'own' | 'off';
  /** why "auto" chose the role, when the user should know */
  maintenance_warning: string | null;
  last_maintenance: LastMaintenance | null;
}

/** The table measured after a maintenance run (crates/pcmetrics-core/src/maintain/health.rs). */
export interface TableHealth {
  data_files: number;
  manifests: number;
  snapshots: number;
  oldest_snapshot_ms: number | null;
  rows: number;
  metadata_files: number;
  metadata_bytes: number;
  stored_data_files: number;
  data_bytes: number;
}

export interface MaintenanceReport {
  days_compacted: number;
  /** Closed hours of the open day rolled up (absent in reports of older versions). */
  hours_compacted?: number;
  files_compacted: number;
  rows_compacted: number;
  snapshots_expired: number;
  manifest_lists_deleted: number;
  manifests_deleted: number;
  data_files_deleted: number;
  metadata_files_deleted: number;
  orphans_deleted: number;
  landing_files_deleted: number;
  bytes_deleted: number;
  warnings: string[];
  duration_ms: number;
  dry_run: boolean;
}

export interface LastMaintenance {
  /** when it finished, ms since the epoch */
  at_ms: number;
  report: MaintenanceReport | null;
  error: string | null;
  health: TableHealth | null;
}

export type UiEvent =
  | { kind: 'sample'; seq: number; sample: MetricSample }
  | { kind: 'sync_started' }
  | { kind: 'sync_progress'; rows_done: number; rows_total: number }
  | { kind: 'sync_finished'; report: SyncReport }
  | { kind: 'sync_failed'; message: string; consecutive_failures: number; retry_in_s: number }
  | { kind: 'samples_dropped'; count: number }
  | { kind: 'buffer_error'; message: string }
  | { kind: 'paused'; paused: boolean }
  | { kind: 'settings_applied' }
  /** The pipeline stopped on its own (e.g. another pcmetrics process samples this data dir). */
  | { kind: 'app_error'; message: string };

export interface MetricInfo {
  name: string;
  unit: string;
  help: string;
}

export interface Point {
  ts_us: number;
  mean: number;
  min: number;
  max: number;
}

export interface Series {
  metric: string;
  unit: string;
  from_us: number;
  to_us: number;
  bucket_us: number;
  resolution: 'raw' | 'minute';
  points: Point[];
}

export interface SettingsForm {
  sampling_interval: string;
  sync_interval: string;
  collect_disks: boolean;
  collect_networks: boolean;
  collect_temperatures: boolean;
  collect_processes: boolean;
  /** glob patterns, comma-separated; "" = every mount */
  mounts_include: string;
  /** shows the defaults while the config leaves them unset; "" = exclude nothing */
  mounts_exclude: string;
  interfaces_include: string;
  interfaces_exclude: string;
  storage_kind: 'local' | 's3';
  /** local only; "" = default folder */
  storage_root: string;
  endpoint: string;
  region: string;
  bucket: string;
  path_style: boolean;
  allow_http: boolean;
  /** get_settings always returns ""; on save "" means keep the stored value */
  access_key_id: string;
  secret_access_key: string;
  access_key_set: boolean;
  secret_key_set: boolean;
  catalog_kind: 'sql' | 'rest';
  catalog_uri: string;
  warehouse: string;
  catalog_token: string;
  token_set: boolean;
  catalog_allow_http: boolean;
  notify_sync_failures: boolean;
  /** null = off */
  cpu_alert_pct: number | null;
  cpu_alert_for: string;
  launch_at_login: boolean;
  /** read-only */
  config_path: string;
  /**
   * save_settings only: where typed secrets went when not into the OS keyring
   * (no keyring running: into the config file). Absent otherwise.
   */
  notice?: string | null;
}

export interface ConnectionCheck {
  ok: boolean;
  message: string;
}

export interface ConnectionReport {
  storage: ConnectionCheck;
  catalog: ConnectionCheck;
}
