import * as api from './api';
import type { CommandError, ConnectionCheck, SettingsForm } from './api';
import { $, $all, setStatusText } from './dom';
import { toCommandError } from './errors';
import {
  buildForm,
  displayValue,
  FIELDS,
  isFieldVisible,
  placeError,
  savedMessage,
  SECRET_SET_FLAG,
  secretPlaceholder,
  type FieldSpec,
  type RawValues,
} from './settings-form';

// Settings tab: load/fill/read the form, save, test connection, field errors.

type Input = HTMLInputElement | HTMLSelectElement;

function input(spec: FieldSpec): Input {
  return $<Input>(`#f-${spec.field}`);
}

export class SettingsView {
  private loaded: SettingsForm | null = null;
  private dirty = false;
  private busy = false;

  constructor() {
    const form = $<HTMLFormElement>('#settings-form');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.save();
    });
    form.addEventListener('input', () => {
      this.dirty = true;
    });
    $('#f-storage_kind').addEventListener('change', () => this.updateVisibility());
    $('#f-catalog_kind').addEventListener('change', () => this.updateVisibility());
    $('#settings-test').addEventListener('click', () => void this.test());
    $('#settings-reload').addEventListener('click', () => void this.load().then(() => this.message('', '')));
  }

  onShow(): void {
    if (!this.loaded) void this.load();
    if ($('#settings-about').textContent === '—') {
      api.about().then(
        (line) => ($('#settings-about').textContent = line),
        () => {}, // the line stays "—"; nothing else depends on it
      );
    }
  }

  /** settings_applied event (maybe from the tray or another save): reload unless the user is editing. */
  onApplied(): void {
    if (this.loaded && !this.dirty && !this.busy) void this.load();
  }

  async load(): Promise<void> {
    this.setBusy(true);
    try {
      // Leaves #settings-message alone: a settings_applied reload right after
      // a save must not wipe the "Saved." confirmation.
      this.fill(await api.getSettings());
    } catch (e) {
      this.message(`Could not load settings: ${toCommandError(e).message}`, 'error');
    } finally {
      this.setBusy(false);
    }
  }

  private fill(form: SettingsForm): void {
    this.loaded = form;
    this.dirty = false;
    this.clearErrors();
    for (const spec of FIELDS) {
      const el = input(spec);
      const v = displayValue(form, spec);
      if (el instanceof HTMLInputElement && el.type === 'checkbox') el.checked = v === true;
      else el.value = String(v);
      const flag = SECRET_SET_FLAG[spec.field];
      if (flag && el instanceof HTMLInputElement) el.placeholder = secretPlaceholder(form[flag] === true);
    }
    $('#settings-config-path').textContent = form.config_path || '—';
    this.updateVisibility();
  }

  private read(): RawValues {
    const raw: RawValues = {};
    for (const spec of FIELDS) {
      const el = input(spec);
      raw[spec.field] = el instanceof HTMLInputElement && el.type === 'checkbox' ? el.checked : el.value;
    }
    return raw;
  }

  private updateVisibility(): void {
    const sk = $<HTMLSelectElement>('#f-storage_kind').value;
    const ck = $<HTMLSelectElement>('#f-catalog_kind').value;
    for (const spec of FIELDS) {
      const row = input(spec).closest<HTMLElement>('.field');
      if (row) row.hidden = !isFieldVisible(spec, sk, ck);
    }
  }

  /** Form to send, or null after showing a client-side field error. */
  private collect(): SettingsForm | null {
    if (!this.loaded) {
      this.message('Settings are not loaded yet.', 'error');
      return null;
    }
    this.clearErrors();
    const r = buildForm(this.loaded, this.read());
    if ('error' in r) {
      this.showCommandError(r.error);
      return null;
    }
    return r.form;
  }

  async save(): Promise<void> {
    if (this.busy) return;
    const form = this.collect();
    if (!form) return;
    this.setBusy(true);
    this.message('Saving…', '');
    try {
      const saved = await api.saveSettings(form);
      this.fill(saved);
      const done = savedMessage(saved);
      this.message(done.text, done.cls);
    } catch (e) {
      this.showCommandError(toCommandError(e));
    } finally {
      this.setBusy(false);
    }
  }

  async test(): Promise<void> {
    if (this.busy) return;
    const form = this.collect();
    if (!form) return;
    this.setBusy(true);
    const checks = $('#settings-checks');
    checks.hidden = true;
    this.message('Testing connection…', '');
    try {
      const rep = await api.testConnection(form);
      this.showCheck('#check-storage', 'Storage', rep.storage);
      this.showCheck('#check-catalog', 'Catalog', rep.catalog);
      checks.hidden = false;
      const ok = rep.storage.ok && rep.catalog.ok;
      this.message(ok ? 'Connection OK.' : 'Connection test found problems.', ok ? 'ok' : 'error');
    } catch (e) {
      this.showCommandError(toCommandError(e));
    } finally {
      this.setBusy(false);
    }
  }

  private showCheck(sel: string, name: string, c: ConnectionCheck): void {
    setStatusText($(sel), `${name}: ${c.ok ? '✓' : '✗'} ${c.message}`, c.ok ? 'ok' : 'error', ['ok', 'error']);
  }

  private showCommandError(err: CommandError): void {
    const p = placeError(err);
    const slot = p.key ? document.querySelector<HTMLElement>(`[data-error-for="${p.key}"]`) : null;
    const row = slot?.closest<HTMLElement>('.field');
    if (!p.key || !slot || row?.hidden) {
      // No visible slot for it: show it in the general message.
      this.message(p.key ? `${p.key}: ${p.message}` : p.message, 'error');
      return;
    }
    slot.textContent = p.message;
    const el = p.field ? document.getElementById(`f-${p.field}`) : null;
    if (el) {
      el.classList.add('invalid');
      el.setAttribute('aria-invalid', 'true');
      el.focus();
    }
    this.message('Please fix the highlighted field.', 'error');
  }

  private clearErrors(): void {
    for (const slot of $all('[data-error-for]')) slot.textContent = '';
    for (const el of $all('#settings-form .invalid')) {
      el.classList.remove('invalid');
      el.removeAttribute('aria-invalid');
    }
  }

  private message(text: string, cls: '' | 'ok' | 'warn' | 'error'): void {
    setStatusText($('#settings-message'), text, cls, ['ok', 'warn', 'error']);
  }

  private setBusy(b: boolean): void {
    this.busy = b;
    $<HTMLButtonElement>('#settings-save').disabled = b;
    $<HTMLButtonElement>('#settings-test').disabled = b;
  }
}
