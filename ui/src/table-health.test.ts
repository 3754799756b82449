import { describe, expect, it } from 'vitest';
import type { MaintenanceReport, TableHealth } from './api-types';
import { healthText, reportSummary, tableLines } from './table-health';
import { status } from './test-fixtures';

const health = (over: Partial<TableHealth> = {}): TableHealth => ({
  data_files: 20,
  manifests: 3,
  snapshots: 15,
  oldest_snapshot_ms: 1_700_000_000_000,
  rows: 259_200,
  metadata_files: 12,
  metadata_bytes: 1_677_722,
  stored_data_files: 20,
  data_bytes: 13_841_203,
  ...over,
});

const report = (over: Partial<MaintenanceReport> = {}): MaintenanceReport => ({
  days_compacted: 0,
  files_compacted: 0,
  rows_compacted: 0,
  snapshots_expired: 0,
  manifest_lists_deleted: 0,
  manifests_deleted: 0,
  data_files_deleted: 0,
  metadata_files_deleted: 0,
  orphans_deleted: 0,
  landing_files_deleted: 0,
  bytes_deleted: 0,
  warnings: [],
  duration_ms: 120,
  dry_run: false,
  ...over,
});

const NOW_US = 1_800_000_000_000_000;

describe('table health', () => {
  it('says rows, files with their size, manifests, snapshots and metadata size', () => {
    expect(healthText(health())).toBe('259 200 rows · 20 files (13.2 MiB) · 3 manifests · 15 snapshots · metadata 1.6 MiB');
    expect(healthText(health({ data_files: 1, manifests: 1, snapshots: 1, rows: 1 }))).toMatch(
      /^1 row · 1 file \(.*\) · 1 manifest · 1 snapshot ·/,
    );
  });

  it('sums what a run deleted and says when there was nothing to do', () => {
    expect(reportSummary(report())).toBe('nothing to do');
    expect(
      reportSummary(
        report({
          days_compacted: 2,
          files_compacted: 576,
          snapshots_expired: 12,
          manifest_lists_deleted: 12,
          manifests_deleted: 4,
          data_files_deleted: 576,
          metadata_files_deleted: 10,
          orphans_deleted: 1,
          landing_files_deleted: 601,
          bytes_deleted: 47_185_920,
          warnings: ['x'],
        }),
      ),
    ).toBe('compacted 2 days (576 files) · expired 12 snapshots · deleted 1 204 files (45.0 MiB) · 1 warning');
    expect(reportSummary(report({ hours_compacted: 3, files_compacted: 36 }))).toBe('compacted 3 hours (36 files)');
    expect(reportSummary(report({ days_compacted: 1, hours_compacted: 1, files_compacted: 300 }))).toBe(
      'compacted 1 day and 1 hour (300 files)',
    );
  });

  it('explains the state before the first run, when off, and after a failure', () => {
    const before = tableLines(status(), NOW_US);
    expect(before.table).toBe('measured after the first maintenance run');
    expect(before.maintenance).toMatch(/^not run yet/);
    expect(tableLines(status({ maintenance_role: 'off' }), NOW_US).maintenance).toMatch(/another engine/);
    const failed = tableLines(
      status({ last_maintenance: { at_ms: NOW_US / 1000 - 120_000, report: null, error: 'catalog down', health: null } }),
      NOW_US,
    );
    expect(failed).toMatchObject({ maintenance: 'failed 2 min ago: catalog down', failed: true });
  });

  it('shows the last run with the role and the warning as detail', () => {
    const lines = tableLines(
      status({
        maintenance_role: 'own',
        maintenance_warning: 's3 storage with the sql catalog: maintaining only this PC',
        last_maintenance: { at_ms: NOW_US / 1000 - 600_000, report: report({ snapshots_expired: 3 }), error: null, health: health() },
      }),
      NOW_US,
    );
    expect(lines.maintenance).toBe("10 min ago · expired 3 snapshots (this PC's files only)");
    expect(lines.table).toMatch(/^259 200 rows/);
    expect(lines.detail).toMatch(/sql catalog/);
    expect(lines.failed).toBe(false);
  });
});
