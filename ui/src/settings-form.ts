import type { CommandError, SettingsForm } from './api-types';

export type FieldType = 'text' | 'secret' | 'bool' | 'select' | 'pct';
/** Which kind selection a field belongs to; absent = always shown. */
export type FieldGroup = 'local' | 's3' | 'rest';

export interface FieldSpec {
  field: keyof SettingsForm;
  /** config key path Rust uses in CommandError.key */
  key: string;
  type: FieldType;
  group?: FieldGroup;
}

/**
 * Every editable form field, its config key path and input kind.
 * The DOM has `#f-<field>` inputs and `[data-error-for="<key>"]` error slots.
 */
export const FIELDS: readonly FieldSpec[] = [
  { field: 'sampling_interval', key: 'sampling.interval', type: 'text' },
  { field: 'sync_interval', key: 'sync.interval', type: 'text' },
  { field: 'collect_disks', key: 'sampling.collect.disks', type: 'bool' },
  { field: 'collect_networks', key: 'sampling.collect.networks', type: 'bool' },
  { field: 'collect_temperatures', key: 'sampling.collect.temperatures', type: 'bool' },
  { field: 'collect_processes', key: 'sampling.collect.processes', type: 'bool' },
  { field: 'mounts_include', key: 'sampling.mounts.include', type: 'text' },
  { field: 'mounts_exclude', key: 'sampling.mounts.exclude', type: 'text' },
  { field: 'interfaces_include', key: 'sampling.interfaces.include', type: 'text' },
  { field: 'interfaces_exclude', key: 'sampling.interfaces.exclude', type: 'text' },
  { field: 'storage_kind', key: 'storage.kind', type: 'select' },
  { field: 'storage_root', key: 'storage.root', type: 'text', group: 'local' },
  { field: 'endpoint', key: 'storage.endpoint', type: 'text', group: 's3' },
  { field: 'region', key: 'storage.region', type: 'text', group: 's3' },
  { field: 'bucket', key: 'storage.bucket', type: 'text', group: 's3' },
  { field: 'path_style', key: 'storage.path_style', type: 'bool', group: 's3' },
  { field: 'allow_http', key: 'storage.allow_http', type: 'bool', group: 's3' },
  { field: 'access_key_id', key: 'storage.access_key_id', type: 'secret', group: 's3' },
  { field: 'secret_access_key', key: 'storage.secret_access_key', type: 'secret', group: 's3' },
  { field: 'catalog_kind', key: 'catalog.kind', type: 'select' },
  { field: 'catalog_uri', key: 'catalog.uri', type: 'text' },
  { field: 'warehouse', key: 'catalog.warehouse', type: 'text' },
  { field: 'catalog_token', key: 'catalog.token', type: 'secret', group: 'rest' },
  { field: 'catalog_allow_http', key: 'catalog.allow_http', type: 'bool', group: 'rest' },
  // The two keys below are not in the agreed list; guessed so errors still land next to the field.
  { field: 'notify_sync_failures', key: 'notify.sync_failures', type: 'bool' },
  { field: 'cpu_alert_pct', key: 'notify.cpu_alert_pct', type: 'pct' },
  { field: 'cpu_alert_for', key: 'notify.cpu_alert_for', type: 'text' },
  { field: 'launch_at_login', key: 'launch_at_login', type: 'bool' },
];

/** Secret field → the informational "*_set" flag from get_settings. */
export const SECRET_SET_FLAG: Partial<Record<keyof SettingsForm, keyof SettingsForm>> = {
  access_key_id: 'access_key_set',
  secret_access_key: 'secret_key_set',
  catalog_token: 'token_set',
};

/** The status line after a save: a plain confirmation, or the save's notice as a warning. */
export function savedMessage(saved: SettingsForm): { text: string; cls: 'ok' | 'warn' } {
  return saved.notice ? { text: `Saved. ${saved.notice}`, cls: 'warn' } : { text: 'Saved.', cls: 'ok' };
}

export function secretPlaceholder(isSet: boolean): string {
  return isSet ? 'stored — leave empty to keep' : 'not set';
}

/** Find the field spec for an error key. Accepts config paths and, leniently, form field names. */
export function specForKey(key: string | null | undefined): FieldSpec | null {
  if (!key) return null;
  return FIELDS.find((f) => f.key === key) ?? FIELDS.find((f) => f.field === key) ?? null;
}

export interface ErrorPlacement {
  /** data-error-for value of the field error slot, or null → #settings-message */
  key: string | null;
  field: keyof SettingsForm | null;
  message: string;
}

/** Decide where a save/test CommandError is shown. */
export function placeError(err: CommandError): ErrorPlacement {
  const spec = specForKey(err.key);
  if (spec) return { key: spec.key, field: spec.field, message: err.message };
  // Unknown key: keep the key in the text so the user knows which setting.
  return { key: null, field: null, message: err.key ? `${err.key}: ${err.message}` : err.message };
}

/** Which field groups are visible for the chosen kinds. */
export function visibleGroups(storageKind: string, catalogKind: string): Record<FieldGroup, boolean> {
  return { local: storageKind !== 's3', s3: storageKind === 's3', rest: catalogKind === 'rest' };
}

export function isFieldVisible(spec: FieldSpec, storageKind: string, catalogKind: string): boolean {
  return spec.group === undefined || visibleGroups(storageKind, catalogKind)[spec.group];
}

/** Raw input values as read from the DOM: strings for text/select/secret/pct, booleans for checkboxes. */
export type RawValues = Partial<Record<keyof SettingsForm, string | boolean>>;

/**
 * Build the SettingsForm to send from raw input values, on top of the last
 * loaded form (which supplies read-only fields). Returns a CommandError-shaped
 * error for input the UI can reject itself (CPU alert percentage).
 */
export function buildForm(base: SettingsForm, raw: RawValues): { form: SettingsForm } | { error: CommandError } {
  const form: SettingsForm = { ...base };
  const out = form as unknown as Record<string, unknown>;
  for (const spec of FIELDS) {
    const v = raw[spec.field];
    if (v === undefined) continue;
    switch (spec.type) {
      case 'bool':
        out[spec.field] = v === true;
        break;
      case 'pct': {
        const s = String(v).trim();
        if (s === '') {
          out[spec.field] = null;
          break;
        }
        const n = Number(s);
        if (!Number.isFinite(n) || n <= 0 || n > 100) {
          return { error: { key: spec.key, message: 'enter a percentage between 1 and 100, or leave empty to turn off' } };
        }
        out[spec.field] = n;
        break;
      }
      default:
        out[spec.field] = String(v).trim();
    }
  }
  return { form };
}

/** Value to put into an input for a loaded form (secrets always blank). */
export function displayValue(form: SettingsForm, spec: FieldSpec): string | boolean {
  const v = form[spec.field];
  switch (spec.type) {
    case 'secret':
      return '';
    case 'bool':
      return v === true;
    default:
      return v === null || v === undefined ? '' : String(v);
  }
}
