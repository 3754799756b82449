import { describe, expect, it } from 'vitest';
import {
  buildForm,
  displayValue,
  FIELDS,
  isFieldVisible,
  placeError,
  savedMessage,
  secretPlaceholder,
  specForKey,
  visibleGroups,
} from './settings-form';
import { settings } from './test-fixtures';

describe('error key → form field', () => {
  it.each([
    ['sampling.interval', 'sampling_interval'],
    ['sync.interval', 'sync_interval'],
    ['sampling.mounts.exclude', 'mounts_exclude'],
    ['sampling.interfaces.include', 'interfaces_include'],
    ['storage.kind', 'storage_kind'],
    ['storage.root', 'storage_root'],
    ['storage.endpoint', 'endpoint'],
    ['storage.region', 'region'],
    ['storage.bucket', 'bucket'],
    ['storage.access_key_id', 'access_key_id'],
    ['storage.secret_access_key', 'secret_access_key'],
    ['storage.path_style', 'path_style'],
    ['storage.allow_http', 'allow_http'],
    ['catalog.kind', 'catalog_kind'],
    ['catalog.uri', 'catalog_uri'],
    ['catalog.warehouse', 'warehouse'],
    ['catalog.token', 'catalog_token'],
    ['notify.cpu_alert_pct', 'cpu_alert_pct'],
    ['notify.cpu_alert_for', 'cpu_alert_for'],
  ])('%s → %s', (key, field) => {
    expect(placeError({ key, message: 'bad' })).toEqual({ key, field, message: 'bad' });
  });

  it('accepts a form field name as key too', () => {
    expect(specForKey('sync_interval')?.key).toBe('sync.interval');
  });

  it('sends unknown keys to the general message, keeping the key', () => {
    expect(placeError({ key: 'iceberg.table', message: 'bad name' })).toEqual({
      key: null,
      field: null,
      message: 'iceberg.table: bad name',
    });
  });

  it('sends key-less errors to the general message', () => {
    expect(placeError({ key: null, message: 'disk full' })).toEqual({ key: null, field: null, message: 'disk full' });
  });
});

describe('visibility', () => {
  it('shows S3 fields only for s3 and REST fields only for rest', () => {
    expect(visibleGroups('local', 'sql')).toEqual({ local: true, s3: false, rest: false });
    expect(visibleGroups('s3', 'rest')).toEqual({ local: false, s3: true, rest: true });
    const bucket = specForKey('storage.bucket')!;
    const token = specForKey('catalog.token')!;
    const interval = specForKey('sync.interval')!;
    expect(isFieldVisible(bucket, 'local', 'sql')).toBe(false);
    expect(isFieldVisible(bucket, 's3', 'sql')).toBe(true);
    expect(isFieldVisible(token, 's3', 'sql')).toBe(false);
    expect(isFieldVisible(token, 'local', 'rest')).toBe(true);
    expect(isFieldVisible(interval, 's3', 'rest')).toBe(true);
  });
});

describe('secrets', () => {
  it('never displays a secret value', () => {
    const form = settings({ access_key_id: 'AKIA-SHOULD-NOT-SHOW', catalog_token: 'tok' });
    for (const f of FIELDS.filter((f) => f.type === 'secret')) expect(displayValue(form, f)).toBe('');
  });
  it('placeholder tells whether a value is stored', () => {
    expect(secretPlaceholder(true)).toBe('stored — leave empty to keep');
    expect(secretPlaceholder(false)).toBe('not set');
  });
});

describe('buildForm', () => {
  const base = settings();

  it('takes input values over the loaded form and keeps read-only fields', () => {
    const r = buildForm(base, { sync_interval: ' 10m ', storage_kind: 's3', bucket: 'b', path_style: true });
    expect('form' in r).toBe(true);
    if (!('form' in r)) return;
    expect(r.form.sync_interval).toBe('10m');
    expect(r.form.storage_kind).toBe('s3');
    expect(r.form.bucket).toBe('b');
    expect(r.form.path_style).toBe(true);
    expect(r.form.config_path).toBe(base.config_path);
    expect(r.form.access_key_set).toBe(true);
  });

  it('sends empty secrets (= keep stored value)', () => {
    const r = buildForm(base, { access_key_id: '', secret_access_key: 'new-secret' });
    if (!('form' in r)) throw new Error('expected form');
    expect(r.form.access_key_id).toBe('');
    expect(r.form.secret_access_key).toBe('new-secret');
  });

  it('maps an empty CPU alert to null (off) and parses numbers', () => {
    const off = buildForm(settings({ cpu_alert_pct: 90 }), { cpu_alert_pct: '' });
    if (!('form' in off)) throw new Error('expected form');
    expect(off.form.cpu_alert_pct).toBeNull();
    const on = buildForm(base, { cpu_alert_pct: '85.5' });
    if (!('form' in on)) throw new Error('expected form');
    expect(on.form.cpu_alert_pct).toBe(85.5);
  });

  it('rejects a bad CPU alert with the config key', () => {
    for (const bad of ['abc', '0', '150', '-3']) {
      const r = buildForm(base, { cpu_alert_pct: bad });
      expect('error' in r && r.error.key).toBe('notify.cpu_alert_pct');
    }
  });

  it('round-trips displayValue → buildForm', () => {
    const form = settings({ cpu_alert_pct: 75, storage_kind: 's3', allow_http: true, warehouse: 'w' });
    const raw = Object.fromEntries(FIELDS.map((f) => [f.field, displayValue(form, f)]));
    const r = buildForm(form, raw);
    if (!('form' in r)) throw new Error('expected form');
    expect(r.form).toEqual(form);
  });
});

describe('after a save', () => {
  it('confirms plainly when the secrets went to the keyring', () => {
    expect(savedMessage(settings())).toEqual({ text: 'Saved.', cls: 'ok' });
    expect(savedMessage(settings({ notice: null }))).toEqual({ text: 'Saved.', cls: 'ok' });
  });

  it('warns with the notice when they went into the config file', () => {
    const notice = 'No OS keyring is running (…), so storage.secret_access_key was written into the config file /home/a/.config/pcmetrics/config.toml, readable by you only.';
    expect(savedMessage(settings({ notice }))).toEqual({ text: `Saved. ${notice}`, cls: 'warn' });
  });
});
