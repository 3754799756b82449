import { describe, expect, it } from 'vitest';
import { LiveBuffer } from './live-buffer';
import { sample } from './test-fixtures';

const T0 = 1_700_000_000; // seconds

describe('LiveBuffer ordering and dedupe', () => {
  it('appends in-order samples', () => {
    const b = new LiveBuffer();
    expect(b.add(sample(T0))).toBe(true);
    expect(b.add(sample(T0 + 1))).toBe(true);
    expect(b.size).toBe(2);
    expect(b.latest()!.ts_us).toBe((T0 + 1) * 1e6);
  });

  it('merges a backfill that arrives after live events, without duplicates', () => {
    const b = new LiveBuffer();
    // live events came first (subscribe answered before get_overview)
    b.add(sample(T0 + 3));
    b.add(sample(T0 + 4));
    // backfill overlaps the live events by one sample
    const added = b.addMany([sample(T0), sample(T0 + 1), sample(T0 + 2), sample(T0 + 3)]);
    expect(added).toBe(3);
    expect(b.columns().x).toEqual([0, 1, 2, 3, 4].map((i) => T0 + i));
  });

  it('rejects exact duplicates', () => {
    const b = new LiveBuffer();
    b.add(sample(T0));
    b.add(sample(T0 + 1));
    expect(b.add(sample(T0 + 1))).toBe(false);
    expect(b.add(sample(T0))).toBe(false);
    expect(b.size).toBe(2);
  });
});

describe('LiveBuffer window', () => {
  it('keeps only the last N minutes relative to the newest sample', () => {
    const b = new LiveBuffer(10 * 60e6);
    for (let i = 0; i <= 900; i++) b.add(sample(T0 + i)); // 15 minutes at 1 Hz
    const x = b.columns().x;
    expect(x[0]).toBe(T0 + 300);
    expect(x[x.length - 1]).toBe(T0 + 900);
    expect(b.size).toBe(601);
  });

  it('ignores late samples older than the window', () => {
    const b = new LiveBuffer(60e6);
    b.add(sample(T0 + 100));
    expect(b.add(sample(T0))).toBe(false);
    expect(b.size).toBe(1);
  });
});

describe('LiveBuffer.columns', () => {
  it('produces one column per metric, aligned with x in seconds', () => {
    const b = new LiveBuffer();
    b.add(sample(T0, { cpu_total_pct: 12, mem_used_bytes: 5, swap_used_bytes: 6, disk_read_bps: 7, disk_write_bps: 8, net_rx_bps: 9, net_tx_bps: 10 }));
    b.add(sample(T0 + 1, { cpu_total_pct: 34 }));
    const c = b.columns();
    expect(c.x).toEqual([T0, T0 + 1]);
    expect(c.cpu).toEqual([12, 34]);
    expect(c.memUsed[0]).toBe(5);
    expect(c.swapUsed[0]).toBe(6);
    expect(c.diskRead[0]).toBe(7);
    expect(c.diskWrite[0]).toBe(8);
    expect(c.netRx[0]).toBe(9);
    expect(c.netTx[0]).toBe(10);
  });

  it('builds one series per core and pads missing cores with null', () => {
    const b = new LiveBuffer();
    b.add(sample(T0, { cpu_core_pct: [] })); // first sample often has no per-core data
    b.add(sample(T0 + 1, { cpu_core_pct: [10, 20, 30] }));
    b.add(sample(T0 + 2, { cpu_core_pct: [11, 21, 31] }));
    const c = b.columns();
    expect(c.cores).toHaveLength(3);
    expect(c.cores[0]).toEqual([null, 10, 11]);
    expect(c.cores[2]).toEqual([null, 30, 31]);
  });

  it('inserts an all-null row where samples are further apart than the gap threshold', () => {
    const b = new LiveBuffer(10 * 60e6, 1000); // 1 s sampling → 5 s gap threshold
    b.add(sample(T0));
    b.add(sample(T0 + 1));
    b.add(sample(T0 + 61)); // paused for a minute
    const c = b.columns();
    expect(c.x).toEqual([T0, T0 + 1, T0 + 31, T0 + 61]);
    expect(c.cpu).toEqual([10, 10, null, 10]);
    expect(c.cores[1]).toEqual([15, 15, null, 15]);
  });

  it('scales the gap threshold with the sampling interval', () => {
    expect(LiveBuffer.gapFor(1000)).toBe(5e6);
    expect(LiveBuffer.gapFor(10_000)).toBe(30e6);
    const b = new LiveBuffer(10 * 60e6, 10_000);
    b.add(sample(T0));
    b.add(sample(T0 + 10)); // normal spacing at 10 s sampling
    expect(b.columns().x).toHaveLength(2);
  });

  it('is empty for an empty buffer', () => {
    const c = new LiveBuffer().columns();
    expect(c.x).toEqual([]);
    expect(c.cores).toEqual([]);
  });
});
