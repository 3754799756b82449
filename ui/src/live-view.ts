import type { MetricSample, SyncStatus } from './api';
import { COLORS, coreColor, TimeChart, type ChartSpec } from './charts';
import { $, setTile } from './dom';
import {
  formatBytes,
  formatBytesAxis,
  formatCelsius,
  formatCount,
  formatPct,
  formatPctAxis,
  formatRate,
  formatRateAxis,
  formatRelative,
} from './format';
import { LiveBuffer } from './live-buffer';
import { DrawGate, throttle } from './throttle';

// Live tab: "at a glance" tiles + five rolling charts fed by sample events.

const REDRAW_MS = 250; // at most ~4 redraws per second

function coresSpec(n: number): ChartSpec {
  return {
    lines: Array.from({ length: n }, (_, i) => ({ label: `cpu${i}`, color: coreColor(i, n), fmt: formatPct })),
    yFmt: formatPctAxis,
    yRange: [0, 100],
    syncKey: 'live',
  };
}

export class LiveView {
  readonly buffer = new LiveBuffer();
  private readonly cpu: TimeChart;
  private readonly cores: TimeChart;
  private readonly mem: TimeChart;
  private readonly disk: TimeChart;
  private readonly net: TimeChart;
  private readonly gate = new DrawGate(throttle(() => this.draw(), REDRAW_MS));

  constructor() {
    this.cpu = new TimeChart($('#chart-cpu'), {
      lines: [{ label: 'CPU', color: COLORS.cpu, fmt: formatPct }],
      yFmt: formatPctAxis,
      yRange: [0, 100],
      syncKey: 'live',
    });
    this.cores = new TimeChart($('#chart-cores'), coresSpec(0));
    this.mem = new TimeChart($('#chart-mem'), {
      lines: [
        { label: 'used', color: COLORS.mem, fmt: formatBytes },
        { label: 'swap used', color: COLORS.swap, fmt: formatBytes },
      ],
      yFmt: formatBytesAxis,
      bytes: true,
      syncKey: 'live',
    });
    this.disk = new TimeChart($('#chart-disk'), {
      lines: [
        { label: 'read', color: COLORS.read, fmt: formatRate },
        { label: 'write', color: COLORS.write, fmt: formatRate },
      ],
      yFmt: formatRateAxis,
      bytes: true,
      syncKey: 'live',
    });
    this.net = new TimeChart($('#chart-net'), {
      lines: [
        { label: 'rx', color: COLORS.rx, fmt: formatRate },
        { label: 'tx', color: COLORS.tx, fmt: formatRate },
      ],
      yFmt: formatRateAxis,
      bytes: true,
      syncKey: 'live',
    });
  }

  setSamplingInterval(ms: number): void {
    this.buffer.gapUs = LiveBuffer.gapFor(ms);
    this.gate.request();
  }

  addSamples(samples: readonly MetricSample[]): void {
    if (this.buffer.addMany(samples) > 0) this.gate.request();
  }

  addSample(s: MetricSample): void {
    if (this.buffer.add(s)) this.gate.request();
  }

  /** Redraw only while the Live tab is shown and the window is not hidden. */
  setVisible(visible: boolean): void {
    this.gate.setVisible(visible);
  }

  /** #now-pending tile, from the periodic sync_status poll. */
  setPending(st: SyncStatus): void {
    const nowUs = Date.now() * 1000;
    const parts: string[] = [];
    if (st.oldest_pending_us !== null) parts.push(`oldest ${formatRelative(st.oldest_pending_us, nowUs)}`);
    if (st.dropped_total > 0) parts.push(`${formatCount(st.dropped_total)} dropped`);
    setTile('now-pending', formatCount(st.pending), parts.join(' · ') || 'all synced');
  }

  private draw(): void {
    const c = this.buffer.columns();
    this.cpu.setData(c.x, [c.cpu]);
    if (this.cores.lineCount !== c.cores.length) this.cores.setSpec(coresSpec(c.cores.length));
    this.cores.setData(c.x, c.cores);
    this.mem.setData(c.x, [c.memUsed, c.swapUsed]);
    this.disk.setData(c.x, [c.diskRead, c.diskWrite]);
    this.net.setData(c.x, [c.netRx, c.netTx]);
    const last = this.buffer.latest();
    if (last) this.drawTiles(last);
  }

  private drawTiles(s: MetricSample): void {
    setTile('now-cpu', formatPct(s.cpu_total_pct), `${s.cpu_core_pct.length} cores · ${formatCount(s.process_count)} procs`);
    const memPct = s.mem_total_bytes > 0 ? (100 * s.mem_used_bytes) / s.mem_total_bytes : NaN;
    setTile('now-mem', `${formatBytes(s.mem_used_bytes)} / ${formatBytes(s.mem_total_bytes)}`, `${formatPct(memPct)} used`);
    if (s.swap_total_bytes > 0) {
      const swapPct = (100 * s.swap_used_bytes) / s.swap_total_bytes;
      setTile('now-swap', `${formatBytes(s.swap_used_bytes)} / ${formatBytes(s.swap_total_bytes)}`, `${formatPct(swapPct)} used`);
    } else {
      setTile('now-swap', '—', 'no swap');
    }
    setTile('now-disk', `R ${formatRate(s.disk_read_bps)}`, `W ${formatRate(s.disk_write_bps)}`);
    setTile('now-net', `↓ ${formatRate(s.net_rx_bps)}`, `↑ ${formatRate(s.net_tx_bps)}`);
    setTile('now-load', [s.load_1, s.load_5, s.load_15].map((v) => v.toFixed(2)).join('  '), '1 · 5 · 15 min');
    const hottest = s.temperatures.reduce<MetricSample['temperatures'][number] | null>(
      (best, t) => (best === null || t.celsius > best.celsius ? t : best),
      null,
    );
    if (hottest) setTile('now-temp', formatCelsius(hottest.celsius), hottest.label);
    else setTile('now-temp', '—', 'no sensors');
  }
}
