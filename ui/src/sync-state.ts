import type { CommandError, SyncReport, SyncStatus, UiEvent } from './api-types';
import { formatCount, formatDuration, plural } from './format';

export type SyncPhase = 'idle' | 'syncing' | 'ok' | 'error';

export interface SyncUiState {
  phase: SyncPhase;
  /** who put us into 'syncing' — a status poll may only undo what a status poll did */
  syncingFrom: 'user' | 'event' | 'status' | null;
  rowsDone: number | null;
  rowsTotal: number | null;
  /** last run outcome shown in #sync-result (kept while the next run is going) */
  result: { text: string; cls: 'ok' | 'error' } | null;
  consecutiveFailures: number;
  retryInS: number | null;
}

export const initialSyncState: SyncUiState = {
  phase: 'idle',
  syncingFrom: null,
  rowsDone: null,
  rowsTotal: null,
  result: null,
  consecutiveFailures: 0,
  retryInS: null,
};

type SyncEvent = Extract<UiEvent, { kind: 'sync_started' | 'sync_progress' | 'sync_finished' | 'sync_failed' }>;

export type SyncAction =
  | SyncEvent
  | { kind: 'requested' } // "Sync now" clicked
  | { kind: 'command_ok'; report: SyncReport } // sync_now resolved
  | { kind: 'command_failed'; error: CommandError } // sync_now rejected
  | { kind: 'status'; status: SyncStatus }; // periodic sync_status poll

export function isSyncEvent(e: UiEvent): e is SyncEvent {
  return e.kind === 'sync_started' || e.kind === 'sync_progress' || e.kind === 'sync_finished' || e.kind === 'sync_failed';
}

/** "Synced 1 234 rows in 0.4 s (1 file)" */
export function reportText(r: SyncReport): string {
  let t = `Synced ${formatCount(r.rows)} rows in ${formatDuration(r.duration_ms)}`;
  t += r.rows === 0 ? ' (nothing pending)' : ` (${plural(r.files, 'file')})`;
  if (r.already_committed > 0) t += ` · ${formatCount(r.already_committed)} already committed`;
  return t;
}

function startSyncing(s: SyncUiState, from: 'user' | 'event' | 'status'): SyncUiState {
  // Keep the original source if already syncing (user click, then the started event).
  const syncingFrom = s.phase === 'syncing' && s.syncingFrom !== 'status' ? s.syncingFrom : from;
  return { ...s, phase: 'syncing', syncingFrom, rowsDone: null, rowsTotal: null, retryInS: null };
}

/** The run is over with an error: `text` is what the panel shows. */
function failed(s: SyncUiState, text: string): SyncUiState {
  return {
    ...s,
    phase: 'error',
    syncingFrom: null,
    rowsDone: null,
    rowsTotal: null,
    result: { text, cls: 'error' },
  };
}

export function syncReducer(s: SyncUiState, a: SyncAction): SyncUiState {
  switch (a.kind) {
    case 'requested':
      return startSyncing(s, 'user');
    case 'sync_started':
      return startSyncing(s, 'event');
    case 'sync_progress':
      return {
        ...s,
        phase: 'syncing',
        syncingFrom: s.syncingFrom ?? 'event',
        rowsDone: a.rows_done,
        rowsTotal: a.rows_total,
      };
    case 'sync_finished':
    case 'command_ok':
      // Both arrive for a button-triggered sync; applying twice is harmless.
      return {
        ...s,
        phase: 'ok',
        syncingFrom: null,
        rowsDone: null,
        rowsTotal: null,
        result: { text: reportText(a.report), cls: 'ok' },
        consecutiveFailures: 0,
        retryInS: null,
      };
    case 'sync_failed':
      return {
        ...failed(s, a.message),
        consecutiveFailures: a.consecutive_failures,
        retryInS: a.retry_in_s,
      };
    case 'command_failed':
      return failed(s, a.error.message);
    case 'status': {
      const st = a.status;
      let next: SyncUiState = { ...s, consecutiveFailures: st.consecutive_failures };
      if (st.syncing && s.phase !== 'syncing') next = startSyncing(next, 'status');
      else if (!st.syncing && s.phase === 'syncing' && s.syncingFrom === 'status') {
        // We only knew about this run from polling and it is over; the
        // finished/failed event may have been emitted before we subscribed.
        next = { ...next, phase: 'idle', syncingFrom: null, rowsDone: null, rowsTotal: null };
      }
      return next;
    }
  }
}

/** Label and state of the #sync-now button. */
export function syncButton(s: SyncUiState): { label: string; disabled: boolean } {
  if (s.phase !== 'syncing') return { label: 'Sync now', disabled: false };
  if (s.rowsTotal !== null && s.rowsDone !== null && s.rowsTotal > 0) {
    return { label: `Syncing… ${formatCount(s.rowsDone)} / ${formatCount(s.rowsTotal)} rows`, disabled: true };
  }
  return { label: 'Syncing…', disabled: true };
}

/** Text and class for #sync-result (class '' = nothing to show). */
export function syncResult(s: SyncUiState): { text: string; cls: '' | 'ok' | 'error' } {
  return s.result ?? { text: '', cls: '' };
}

export type PillClass = 'sampling' | 'paused' | 'syncing' | 'failing';

/** Header status pill. Syncing beats failing (backend's failure count) beats paused. */
export function statusPill(paused: boolean, s: SyncUiState): { text: string; cls: PillClass } {
  if (s.phase === 'syncing') return { text: 'Syncing…', cls: 'syncing' };
  if (s.consecutiveFailures > 0) return { text: 'Sync failing', cls: 'failing' };
  if (paused) return { text: 'Paused', cls: 'paused' };
  return { text: 'Sampling', cls: 'sampling' };
}
