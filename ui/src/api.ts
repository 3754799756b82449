// The ONLY module that talks to Tauri. Everything else imports from here.
import { invoke, Channel } from '@tauri-apps/api/core';
import type {
  ConnectionReport,
  MetricInfo,
  Overview,
  Series,
  SettingsForm,
  SyncReport,
  SyncStatus,
  UiEvent,
} from './api-types';
import { toCommandError } from './errors';

export type * from './api-types';

/** invoke() that always rejects with a normalised CommandError. */
async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toCommandError(e);
  }
}

export function getOverview(): Promise<Overview> {
  return call('get_overview');
}

// Keep a reference so the channel lives as long as the page.
let eventChannel: Channel<UiEvent> | null = null;

/**
 * Start receiving UiEvents. Call once at startup.
 * A throwing handler is caught here: Channel only advances its ordering index
 * after onmessage returns, so one exception would stall every later event.
 */
export function subscribe(onEvent: (e: UiEvent) => void, onHandlerError?: (err: unknown) => void): Promise<void> {
  const ch = new Channel<UiEvent>();
  ch.onmessage = (e) => {
    try {
      onEvent(e);
    } catch (err) {
      (onHandlerError ?? console.error)(err);
    }
  };
  eventChannel = ch;
  return call('subscribe', { onEvent: eventChannel });
}

export function syncStatus(): Promise<SyncStatus> {
  return call('sync_status');
}

/** Resolves when the sync has finished. */
export function syncNow(): Promise<SyncReport> {
  return call('sync_now');
}

/** Returns the new paused state. */
export function setPaused(paused: boolean): Promise<boolean> {
  return call('set_paused', { paused });
}

export function historyMetrics(): Promise<MetricInfo[]> {
  return call('history_metrics');
}

export function history(metrics: string[], fromUs: number, toUs: number, points: number): Promise<Series[]> {
  return call('history', { metrics, fromUs, toUs, points });
}

export function getSettings(): Promise<SettingsForm> {
  return call('get_settings');
}

export function saveSettings(form: SettingsForm): Promise<SettingsForm> {
  return call('save_settings', { form });
}

export function testConnection(form: SettingsForm): Promise<ConnectionReport> {
  return call('test_connection', { form });
}

/** "pcmetrics 0.1.0 · buffer layout 3 · table layout …", as `pcmetrics --version`. */
export function about(): Promise<string> {
  return call('about');
}
