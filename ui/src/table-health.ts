import type { LastMaintenance, MaintenanceReport, SyncStatus, TableHealth } from './api-types';
import { formatBytes, formatRelative, plural } from './format';

// Sync tab: the table's size and the last maintenance run, as one line each.

/** "259 200 rows · 20 files (13.2 MiB) · 3 manifests · 15 snapshots · metadata 1.6 MiB" */
export function healthText(h: TableHealth): string {
  return [
    plural(h.rows, 'row'),
    `${plural(h.data_files, 'file')} (${formatBytes(h.data_bytes)})`,
    plural(h.manifests, 'manifest'),
    plural(h.snapshots, 'snapshot'),
    `metadata ${formatBytes(h.metadata_bytes)}`,
  ].join(' · ');
}

/** What a run did: "compacted 2 days (576 files) · expired 12 snapshots · deleted 1 204 files (45.0 MiB)". */
export function reportSummary(r: MaintenanceReport): string {
  const parts: string[] = [];
  const groups = [
    r.days_compacted > 0 ? plural(r.days_compacted, 'day') : '',
    (r.hours_compacted ?? 0) > 0 ? plural(r.hours_compacted ?? 0, 'hour') : '',
  ].filter(Boolean);
  if (groups.length > 0) parts.push(`compacted ${groups.join(' and ')} (${plural(r.files_compacted, 'file')})`);
  if (r.snapshots_expired > 0) parts.push(`expired ${plural(r.snapshots_expired, 'snapshot')}`);
  const deleted =
    r.manifest_lists_deleted +
    r.manifests_deleted +
    r.data_files_deleted +
    r.metadata_files_deleted +
    r.orphans_deleted +
    r.landing_files_deleted;
  if (deleted > 0) parts.push(`deleted ${plural(deleted, 'file')} (${formatBytes(r.bytes_deleted)})`);
  if (parts.length === 0) parts.push('nothing to do');
  if (r.warnings.length > 0) parts.push(plural(r.warnings.length, 'warning'));
  return parts.join(' · ');
}

export interface TableLines {
  table: string;
  maintenance: string;
  /** the maintenance line is an error */
  failed: boolean;
  /** longer explanation (tooltip): warnings, why the role */
  detail: string;
}

const ROLE_NOTE: Record<SyncStatus['maintenance_role'], string> = {
  full: '',
  own: " (this PC's files only)",
  off: '',
};

/** The "Table" and "Maintenance" rows of the Sync tab. */
export function tableLines(st: SyncStatus, nowUs: number): TableLines {
  const m: LastMaintenance | null = st.last_maintenance;
  const table = m?.health ? healthText(m.health) : 'measured after the first maintenance run';
  const detail = [st.maintenance_warning ?? '', ...(m?.report?.warnings ?? [])].filter((s) => s !== '').join('\n');
  if (st.maintenance_role === 'off') {
    return { table, maintenance: 'off: another engine maintains the table', failed: false, detail };
  }
  if (m === null) {
    return { table, maintenance: `not run yet; runs after a sync${ROLE_NOTE[st.maintenance_role]}`, failed: false, detail };
  }
  const when = formatRelative(m.at_ms * 1000, nowUs);
  if (m.error !== null) {
    return { table, maintenance: `failed ${when}: ${m.error}`, failed: true, detail };
  }
  const what = m.report ? reportSummary(m.report) : '';
  return { table, maintenance: `${when} · ${what}${ROLE_NOTE[st.maintenance_role]}`, failed: false, detail };
}
