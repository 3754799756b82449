import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatCelsius,
  formatClock,
  formatCount,
  formatDuration,
  formatPct,
  formatRate,
  formatRelative,
  plural,
} from './format';

describe('formatBytes', () => {
  it('keeps small values in bytes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1023)).toBe('1023 B');
  });
  it('uses binary units with one decimal below 100', () => {
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5.2 * 1024 ** 3)).toBe('5.2 GiB');
    expect(formatBytes(15.5 * 1024 ** 3)).toBe('15.5 GiB');
  });
  it('drops decimals at 100 and above', () => {
    expect(formatBytes(300 * 1024)).toBe('300 KiB');
    expect(formatBytes(512 * 1024 ** 2)).toBe('512 MiB');
  });
  it('carries into the next unit instead of printing 1024.0', () => {
    expect(formatBytes(1024 * 1024 - 1)).toBe('1.0 MiB');
  });
  it('handles negatives and non-finite input', () => {
    expect(formatBytes(-2048)).toBe('-2.0 KiB');
    expect(formatBytes(NaN)).toBe('—');
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(Infinity)).toBe('—');
  });
});

describe('formatRate', () => {
  it('appends /s', () => {
    expect(formatRate(0)).toBe('0 B/s');
    expect(formatRate(1.5 * 1024 * 1024)).toBe('1.5 MiB/s');
    expect(formatRate(undefined)).toBe('—');
  });
});

describe('formatCount', () => {
  it('groups thousands with spaces', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1234)).toBe('1 234');
    expect(formatCount(12000)).toBe('12 000');
    expect(formatCount(1234567)).toBe('1 234 567');
    expect(formatCount(-40000)).toBe('-40 000');
    expect(formatCount(1234.6)).toBe('1 235');
  });
});

describe('formatPct / formatCelsius', () => {
  it('formats with fixed precision', () => {
    expect(formatPct(23.456)).toBe('23.5 %');
    expect(formatPct(100)).toBe('100.0 %');
    expect(formatPct(NaN)).toBe('—');
    expect(formatCelsius(54.4)).toBe('54 °C');
  });
});

describe('formatDuration', () => {
  it('shows milliseconds for very short spans', () => {
    expect(formatDuration(0)).toBe('0 ms');
    expect(formatDuration(12.4)).toBe('12 ms');
    expect(formatDuration(-5)).toBe('0 ms');
  });
  it('shows seconds with one decimal below a minute', () => {
    expect(formatDuration(400)).toBe('0.4 s');
    expect(formatDuration(12_345)).toBe('12.3 s');
    expect(formatDuration(59_900)).toBe('59.9 s');
  });
  it('switches to minutes, hours and days', () => {
    expect(formatDuration(60_000)).toBe('1 min');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
    expect(formatDuration(300_000)).toBe('5 min');
    expect(formatDuration(3_900_000)).toBe('1 h 5 min');
    expect(formatDuration(7_200_000)).toBe('2 h');
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe('3 d 4 h');
  });
});

describe('formatRelative', () => {
  const now = 1_700_000_000_000_000;
  it('says just now within 5 s either way', () => {
    expect(formatRelative(now, now)).toBe('just now');
    expect(formatRelative(now - 4_000_000, now)).toBe('just now');
    expect(formatRelative(now + 4_000_000, now)).toBe('just now');
  });
  it('describes the past', () => {
    expect(formatRelative(now - 12e6, now)).toBe('12 s ago');
    expect(formatRelative(now - 4 * 60e6, now)).toBe('4 min ago');
    expect(formatRelative(now - 2 * 3600e6, now)).toBe('2 h ago');
    expect(formatRelative(now - 3 * 86400e6, now)).toBe('3 d ago');
  });
  it('describes the future', () => {
    expect(formatRelative(now + 2 * 60e6, now)).toBe('in 2 min');
  });
  it('handles missing timestamps', () => {
    expect(formatRelative(null, now)).toBe('—');
  });
});

describe('formatClock', () => {
  it('omits the date for today and shows it otherwise', () => {
    const d = new Date(2024, 4, 17, 9, 5, 3); // local time
    const us = d.getTime() * 1000;
    expect(formatClock(us, us + 60e6)).toBe('09:05:03');
    expect(formatClock(us, us + 2 * 86400e6)).toBe('2024-05-17 09:05:03');
  });
});

describe('plural', () => {
  it('picks singular only for exactly one', () => {
    expect(plural(1, 'file')).toBe('1 file');
    expect(plural(0, 'file')).toBe('0 files');
    expect(plural(1200, 'row')).toBe('1 200 rows');
  });
});
