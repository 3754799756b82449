import type { CommandError } from './api-types';

/**
 * Normalise whatever a rejected promise carried into a CommandError.
 * Rust rejects with `{ key, message }`, but Tauri itself can reject with a bare
 * string (e.g. "command not found") and JS can throw an Error.
 */
export function toCommandError(e: unknown): CommandError {
  if (typeof e === 'string') return { key: null, message: e };
  if (e && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    if (typeof o.message === 'string') {
      const key = typeof o.key === 'string' && o.key !== '' ? o.key : null;
      return { key, message: o.message };
    }
  }
  if (e === undefined || e === null) return { key: null, message: 'unknown error' };
  try {
    return { key: null, message: JSON.stringify(e) };
  } catch {
    return { key: null, message: String(e) };
  }
}

/** One-line text for the banner: "sync.interval: invalid duration" or just the message. */
export function errorText(e: unknown): string {
  const ce = toCommandError(e);
  return ce.key ? `${ce.key}: ${ce.message}` : ce.message;
}
