import { describe, expect, it } from 'vitest';
import { safeLocale } from './locale';

describe('safeLocale', () => {
  it('keeps valid BCP 47 tags', () => {
    expect(safeLocale('de-DE')).toBe('de-DE');
    expect(safeLocale('en')).toBe('en');
  });
  it('repairs POSIX locale names', () => {
    expect(safeLocale('de_DE.UTF-8')).toBe('de-DE');
    expect(safeLocale('fr_FR@euro')).toBe('fr-FR');
  });
  it('falls back for C, POSIX, empty and garbage', () => {
    expect(safeLocale('C')).toBe('en-US');
    expect(safeLocale('POSIX')).toBe('en-US');
    expect(safeLocale('')).toBe('en-US');
    expect(safeLocale(undefined)).toBe('en-US');
    expect(safeLocale('!!')).toBe('en-US');
  });
});
