import './locale-guard'; // must stay first: fixes navigator.language before uplot loads
import './style.css';
import * as api from './api';
import type { Overview, UiEvent } from './api';
import { initBanner, showError } from './banner';
import { watchColorScheme } from './charts';
import { $, setStatusText } from './dom';
import { HistoryView } from './history-view';
import { LiveView } from './live-view';
import { SettingsView } from './settings-view';
import { isSyncEvent, statusPill, type SyncUiState } from './sync-state';
import { SyncView } from './sync-view';

// App wiring: header, tabs, the event channel and the sync_status poll.

const STATUS_POLL_MS = 5000;
const TABS = ['live', 'history', 'sync', 'settings'] as const;
type Tab = (typeof TABS)[number];

let paused = false;
let currentTab: Tab = 'live';
let statusInFlight = false;
let statusAgain = false;

initBanner();
watchColorScheme();
const live = new LiveView();
const historyView = new HistoryView();
const syncView = new SyncView(renderPill, () => void refreshStatus());
const settings = new SettingsView();

// ---- startup: backfill and live events at once, so data shows up fast ----
api
  .subscribe(onEvent, (err) => showError(err, 'Event handling failed'))
  .catch((e) => showError(e, 'Live updates unavailable'));
void loadOverview();
void refreshStatus();
setInterval(() => void refreshStatus(), STATUS_POLL_MS);

function onEvent(e: UiEvent): void {
  switch (e.kind) {
    case 'sample':
      live.addSample(e.sample);
      break;
    case 'samples_dropped':
      showError(`${e.count} samples dropped: the local buffer is full`);
      void refreshStatus();
      break;
    case 'buffer_error':
      showError(e.message, 'Buffer');
      break;
    case 'app_error':
      showError(e.message, 'Not sampling');
      void refreshStatus();
      break;
    case 'paused':
      setPaused(e.paused);
      break;
    case 'settings_applied':
      void loadOverview();
      settings.onApplied();
      break;
    default:
      if (isSyncEvent(e)) {
        syncView.dispatch(e);
        if (e.kind !== 'sync_progress') void refreshStatus();
      }
  }
}

async function loadOverview(): Promise<void> {
  let o: Overview;
  try {
    o = await api.getOverview();
  } catch (e) {
    showError(e, 'Could not load overview');
    return;
  }
  $('#host-name').textContent = o.host_name;
  $('#host-name').title = `host id ${o.host_id}`;
  live.setSamplingInterval(o.sampling_interval_ms);
  live.addSamples(o.recent);
  syncView.setOverview(o);
  setPaused(o.paused);
}

/** Poll sync_status; a request made while one is in flight runs once more afterwards. */
async function refreshStatus(): Promise<void> {
  if (statusInFlight) {
    statusAgain = true;
    return;
  }
  statusInFlight = true;
  try {
    const st = await api.syncStatus();
    syncView.setStatus(st);
    live.setPending(st);
  } catch (e) {
    showError(e, 'Could not read sync status');
  } finally {
    statusInFlight = false;
    if (statusAgain) {
      statusAgain = false;
      void refreshStatus();
    }
  }
}

// ---- header ----

function setPaused(p: boolean): void {
  paused = p;
  const btn = $<HTMLButtonElement>('#pause-toggle');
  btn.textContent = p ? 'Resume' : 'Pause';
  btn.setAttribute('aria-pressed', String(p));
  btn.title = p ? 'Resume sampling' : 'Pause sampling';
  renderPill(syncView.state);
}

function renderPill(s: SyncUiState): void {
  const pill = statusPill(paused, s);
  setStatusText($('#status-pill'), pill.text, pill.cls, ['sampling', 'paused', 'syncing', 'failing']);
}

$('#pause-toggle').addEventListener('click', async (ev) => {
  const btn = ev.currentTarget as HTMLButtonElement;
  btn.disabled = true;
  try {
    setPaused(await api.setPaused(!paused));
  } catch (e) {
    showError(e, paused ? 'Could not resume' : 'Could not pause');
  } finally {
    btn.disabled = false;
  }
});

// ---- tabs ----

function showTab(tab: Tab): void {
  currentTab = tab;
  for (const t of TABS) {
    const on = t === tab;
    const btn = $(`#tab-${t}`);
    btn.classList.toggle('active', on);
    btn.setAttribute('aria-selected', String(on));
    btn.tabIndex = on ? 0 : -1;
    $(`#view-${t}`).hidden = !on;
  }
  updateLiveVisibility();
  if (tab === 'history') historyView.onShow();
  if (tab === 'settings') settings.onShow();
  if (tab === 'sync') void refreshStatus();
}

// The live charts cost most of the window's CPU; they draw only when they can be seen.
function updateLiveVisibility(): void {
  live.setVisible(currentTab === 'live' && document.visibilityState === 'visible');
}
document.addEventListener('visibilitychange', updateLiveVisibility);

for (const t of TABS) $(`#tab-${t}`).addEventListener('click', () => showTab(t));

// Arrow keys move between tabs (ARIA tabs pattern).
$('#tabs').addEventListener('keydown', (ev) => {
  if (ev.key !== 'ArrowLeft' && ev.key !== 'ArrowRight') return;
  const cur = TABS.indexOf(currentTab);
  const next = TABS[(cur + (ev.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length];
  showTab(next);
  $(`#tab-${next}`).focus();
});

showTab('live');
