import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DrawGate, throttle } from './throttle';

describe('throttle', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());
  const timers = { now: () => Date.now(), setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms) };

  it('runs the first call on the next tick', () => {
    const fn = vi.fn();
    const t = throttle(fn, 250, timers);
    t();
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(0);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('coalesces a burst into one run', () => {
    const fn = vi.fn();
    const t = throttle(fn, 250, timers);
    for (let i = 0; i < 50; i++) t();
    vi.advanceTimersByTime(0);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('runs at most once per interval and always once after the last call', () => {
    const fn = vi.fn();
    const t = throttle(fn, 250, timers);
    // a call every 50 ms for 1 s
    for (let ms = 0; ms < 1000; ms += 50) {
      t();
      vi.advanceTimersByTime(50);
    }
    vi.advanceTimersByTime(1000);
    // ~4 per second (+1 trailing) — never one per call
    expect(fn.mock.calls.length).toBeGreaterThanOrEqual(4);
    expect(fn.mock.calls.length).toBeLessThanOrEqual(5);
  });

  it('does not delay a call that comes after a quiet period', () => {
    const fn = vi.fn();
    const t = throttle(fn, 250, timers);
    t();
    vi.advanceTimersByTime(1000);
    t();
    vi.advanceTimersByTime(0);
    expect(fn).toHaveBeenCalledTimes(2);
  });
});

describe('DrawGate', () => {
  it('passes requests through while visible', () => {
    const schedule = vi.fn();
    const gate = new DrawGate(schedule);
    gate.request();
    gate.request();
    expect(schedule).toHaveBeenCalledTimes(2);
  });

  it('holds requests while hidden and draws once on show', () => {
    const schedule = vi.fn();
    const gate = new DrawGate(schedule);
    gate.setVisible(false);
    for (let i = 0; i < 10; i++) gate.request();
    expect(schedule).not.toHaveBeenCalled();
    gate.setVisible(true);
    expect(schedule).toHaveBeenCalledTimes(1);
  });

  it('does not draw on show when nothing changed while hidden', () => {
    const schedule = vi.fn();
    const gate = new DrawGate(schedule);
    gate.setVisible(false);
    gate.setVisible(true);
    gate.setVisible(true);
    expect(schedule).not.toHaveBeenCalled();
  });
});
