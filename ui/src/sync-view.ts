import * as api from './api';
import type { Overview, SyncRun, SyncStatus } from './api';
import { $, h, setStatusText } from './dom';
import { toCommandError } from './errors';
import { formatBytes, formatClock, formatCount, formatDuration, formatRelative } from './format';
import {
  initialSyncState,
  syncButton,
  syncReducer,
  syncResult,
  type SyncAction,
  type SyncUiState,
} from './sync-state';
import { tableLines } from './table-health';

// Sync tab: buffer/target facts, "Sync now", last result and recent runs.

export class SyncView {
  state: SyncUiState = initialSyncState;

  /**
   * @param onChange called after every state change (header pill)
   * @param refresh asks the app to re-poll sync_status
   */
  constructor(
    private readonly onChange: (s: SyncUiState) => void,
    private readonly refresh: () => void,
  ) {
    $('#sync-now').addEventListener('click', () => void this.syncNow());
    this.renderState();
  }

  dispatch(a: SyncAction): void {
    this.state = syncReducer(this.state, a);
    this.renderState();
    this.onChange(this.state);
  }

  async syncNow(): Promise<void> {
    if (this.state.phase === 'syncing') return;
    this.dispatch({ kind: 'requested' });
    try {
      const report = await api.syncNow();
      this.dispatch({ kind: 'command_ok', report });
    } catch (e) {
      this.dispatch({ kind: 'command_failed', error: toCommandError(e) });
    } finally {
      this.refresh();
    }
  }

  setOverview(o: Overview): void {
    $('#sync-target').textContent = `${o.table} in ${o.lakehouse}`;
    $('#sync-interval').textContent = `(every ${formatDuration(o.sync_interval_ms)})`;
  }

  setStatus(st: SyncStatus): void {
    this.dispatch({ kind: 'status', status: st });
    const nowUs = Date.now() * 1000;
    let pending = `${formatCount(st.pending)} samples (max ${formatCount(st.max_pending)})`;
    if (st.dropped_total > 0) pending += ` · ${formatCount(st.dropped_total)} dropped`;
    if (st.quarantined > 0) pending += ` · ${formatCount(st.quarantined)} set aside (undeliverable; see pcmetrics status)`;
    $('#sync-pending').textContent = pending;
    $('#sync-oldest').textContent =
      st.oldest_pending_us === null ? 'nothing pending' : formatRelative(st.oldest_pending_us, nowUs);
    const last = st.last_success;
    $('#sync-last').textContent = last
      ? `${formatRelative(last.finished_us, nowUs)} · ${formatCount(last.rows)} rows`
      : 'never';
    $('#sync-next').textContent = st.syncing
      ? 'running now'
      : st.next_sync_us === null
        ? '—'
        : formatRelative(st.next_sync_us, nowUs);
    const failing = $('#sync-failing');
    failing.hidden = st.consecutive_failures === 0;
    failing.textContent =
      st.consecutive_failures > 0
        ? `${st.consecutive_failures} failed ${st.consecutive_failures === 1 ? 'attempt' : 'attempts'} in a row` +
          (st.last_error ? `: ${st.last_error}` : '')
        : '';
    const t = tableLines(st, nowUs);
    $('#sync-table').textContent = t.table;
    const m = $('#sync-maintenance');
    setStatusText(m, t.maintenance, t.failed ? 'error' : '', ['error']);
    m.title = t.detail;
    this.renderRuns(st.recent_runs, nowUs);
  }

  private renderState(): void {
    const btn = $<HTMLButtonElement>('#sync-now');
    const b = syncButton(this.state);
    btn.textContent = b.label;
    btn.disabled = b.disabled;
    const r = syncResult(this.state);
    setStatusText($('#sync-result'), r.text, r.cls, ['ok', 'error']);
  }

  private renderRuns(runs: SyncRun[], nowUs: number): void {
    const body = $('#sync-runs tbody');
    if (runs.length === 0) {
      const td = h('td', { text: 'No sync runs yet.' });
      td.colSpan = 6;
      body.replaceChildren(h('tr', { class: 'empty' }, td));
      return;
    }
    body.replaceChildren(
      ...runs.map((r) => {
        const when = h('td', { text: formatClock(r.started_us, nowUs), title: formatRelative(r.started_us, nowUs) });
        const num = (text: string) => h('td', { class: 'num', text });
        const err = h('td', { class: 'run-error', text: r.error ?? '', title: r.error ?? '' });
        return h(
          'tr',
          { class: r.error ? 'sync-run error' : 'sync-run' },
          when,
          num(formatCount(r.rows)),
          num(formatDuration((r.finished_us - r.started_us) / 1000)),
          num(formatCount(r.files)),
          num(formatBytes(r.bytes)),
          err,
        );
      }),
    );
  }
}
