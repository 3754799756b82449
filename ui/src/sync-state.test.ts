import { describe, expect, it } from 'vitest';
import {
  initialSyncState,
  reportText,
  statusPill,
  syncButton,
  syncReducer,
  syncResult,
  type SyncAction,
} from './sync-state';
import { report, status } from './test-fixtures';

const run = (...actions: SyncAction[]) => actions.reduce(syncReducer, initialSyncState);

describe('sync reducer', () => {
  it('starts idle with an enabled button and no result', () => {
    expect(initialSyncState.phase).toBe('idle');
    expect(syncButton(initialSyncState)).toEqual({ label: 'Sync now', disabled: false });
    expect(syncResult(initialSyncState)).toEqual({ text: '', cls: '' });
  });

  it('idle → syncing → ok for a button-triggered sync', () => {
    let s = run({ kind: 'requested' });
    expect(s.phase).toBe('syncing');
    expect(syncButton(s)).toEqual({ label: 'Syncing…', disabled: true });
    s = syncReducer(s, { kind: 'sync_started' });
    s = syncReducer(s, { kind: 'sync_finished', report: report() });
    expect(s.phase).toBe('ok');
    expect(syncResult(s)).toEqual({ text: 'Synced 1 234 rows in 0.4 s (1 file)', cls: 'ok' });
    // the sync_now promise resolves afterwards with the same report: still ok
    s = syncReducer(s, { kind: 'command_ok', report: report() });
    expect(s.phase).toBe('ok');
    expect(syncButton(s).disabled).toBe(false);
  });

  it('shows row progress while syncing', () => {
    const s = run({ kind: 'sync_started' }, { kind: 'sync_progress', rows_done: 12000, rows_total: 40000 });
    expect(syncButton(s)).toEqual({ label: 'Syncing… 12 000 / 40 000 rows', disabled: true });
  });

  it('ignores progress with an unknown total', () => {
    const s = run({ kind: 'sync_started' }, { kind: 'sync_progress', rows_done: 5, rows_total: 0 });
    expect(syncButton(s).label).toBe('Syncing…');
  });

  it('a tray-triggered sync shows up through events alone', () => {
    const s = run({ kind: 'sync_started' });
    expect(statusPill(false, s).text).toBe('Syncing…');
    const done = syncReducer(s, { kind: 'sync_finished', report: report({ rows: 5, files: 2 }) });
    expect(syncResult(done).text).toBe('Synced 5 rows in 0.4 s (2 files)');
  });

  it('syncing → error with the message and failure count', () => {
    const s = run(
      { kind: 'sync_started' },
      { kind: 'sync_failed', message: 'bucket not found', consecutive_failures: 3, retry_in_s: 60 },
    );
    expect(s.phase).toBe('error');
    expect(syncResult(s)).toEqual({ text: 'bucket not found', cls: 'error' });
    expect(s.consecutiveFailures).toBe(3);
    expect(s.retryInS).toBe(60);
    expect(statusPill(false, s)).toEqual({ text: 'Sync failing', cls: 'failing' });
  });

  it('a rejected sync_now shows the CommandError message', () => {
    const s = run({ kind: 'requested' }, { kind: 'command_failed', error: { key: null, message: 'offline' } });
    expect(syncResult(s)).toEqual({ text: 'offline', cls: 'error' });
    expect(syncButton(s).disabled).toBe(false);
  });

  it('success after failures clears the failure count', () => {
    const s = run(
      { kind: 'sync_failed', message: 'x', consecutive_failures: 2, retry_in_s: 30 },
      { kind: 'sync_started' },
      { kind: 'sync_finished', report: report() },
    );
    expect(s.consecutiveFailures).toBe(0);
    expect(statusPill(false, s).text).toBe('Sampling');
  });

  it('keeps the previous result visible during the next run', () => {
    const s = run({ kind: 'sync_finished', report: report() }, { kind: 'sync_started' });
    expect(syncResult(s).cls).toBe('ok');
    expect(syncResult(s).text).toMatch(/^Synced/);
  });

  it('picks up a sync that was already running when the window opened', () => {
    const s = run({ kind: 'status', status: status({ syncing: true }) });
    expect(s.phase).toBe('syncing');
    // it ended before we subscribed, so no event will come: the poll clears it
    const after = syncReducer(s, { kind: 'status', status: status({ syncing: false }) });
    expect(after.phase).toBe('idle');
  });

  it('a stale poll does not cancel a sync the user just started', () => {
    const s = run({ kind: 'requested' }, { kind: 'status', status: status({ syncing: false }) });
    expect(s.phase).toBe('syncing');
  });

  it('takes the failure count from polls', () => {
    const s = run({ kind: 'status', status: status({ consecutive_failures: 4 }) });
    expect(s.consecutiveFailures).toBe(4);
    expect(statusPill(true, s).text).toBe('Sync failing');
  });
});

describe('reportText', () => {
  it('mentions when nothing was pending', () => {
    expect(reportText(report({ rows: 0, files: 0, duration_ms: 80 }))).toBe('Synced 0 rows in 80 ms (nothing pending)');
  });
  it('mentions batches that were already committed', () => {
    expect(reportText(report({ already_committed: 2 }))).toContain('2 already committed');
  });
});

describe('statusPill', () => {
  it('shows Sampling or Paused when no sync is involved', () => {
    expect(statusPill(false, initialSyncState)).toEqual({ text: 'Sampling', cls: 'sampling' });
    expect(statusPill(true, initialSyncState)).toEqual({ text: 'Paused', cls: 'paused' });
  });
  it('shows Syncing… even when paused', () => {
    expect(statusPill(true, run({ kind: 'sync_started' })).cls).toBe('syncing');
  });
});
