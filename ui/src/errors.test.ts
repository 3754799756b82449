import { describe, expect, it } from 'vitest';
import { errorText, toCommandError } from './errors';

describe('toCommandError', () => {
  it('passes through a Rust CommandError', () => {
    expect(toCommandError({ key: 'sync.interval', message: 'invalid duration' })).toEqual({
      key: 'sync.interval',
      message: 'invalid duration',
    });
    expect(toCommandError({ key: null, message: 'boom' })).toEqual({ key: null, message: 'boom' });
  });
  it('wraps bare strings from Tauri', () => {
    expect(toCommandError('command sync_now not found')).toEqual({ key: null, message: 'command sync_now not found' });
  });
  it('wraps JS errors', () => {
    expect(toCommandError(new TypeError('x is undefined'))).toEqual({ key: null, message: 'x is undefined' });
  });
  it('treats an empty key as no key', () => {
    expect(toCommandError({ key: '', message: 'm' }).key).toBeNull();
  });
  it('stringifies anything else', () => {
    expect(toCommandError({ code: 5 }).message).toBe('{"code":5}');
    expect(toCommandError(undefined).message).toBe('unknown error');
  });
});

describe('errorText', () => {
  it('prefixes the key when there is one', () => {
    expect(errorText({ key: 'storage.bucket', message: 'required' })).toBe('storage.bucket: required');
    expect(errorText('plain')).toBe('plain');
  });
});
