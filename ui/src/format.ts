// Pure display formatting. Binary (IEC) units throughout: 1 KiB = 1024 B.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
const DASH = '—';

function isBad(v: number | null | undefined): v is null | undefined {
  return v === null || v === undefined || !Number.isFinite(v);
}

/** 1536 → "1.5 KiB", 512 → "512 B", 5.6e9 → "5.2 GiB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (isBad(bytes)) return DASH;
  const sign = bytes < 0 ? '-' : '';
  let v = Math.abs(bytes);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${sign}${Math.round(v)} B`;
  // Rounding can push 1023.96 to "1024.0": carry into the next unit instead.
  if (v >= 1023.95 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const digits = v < 100 ? 1 : 0;
  return `${sign}${v.toFixed(digits)} ${UNITS[u]}`;
}

/** Bytes per second → "1.5 MiB/s". */
export function formatRate(bps: number | null | undefined): string {
  if (isBad(bps)) return DASH;
  return `${formatBytes(bps)}/s`;
}

/** Integer with space-separated thousands: 12000 → "12 000". */
export function formatCount(n: number | null | undefined): string {
  if (isBad(n)) return DASH;
  const sign = n < 0 ? '-' : '';
  const s = Math.round(Math.abs(n)).toString();
  return sign + s.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

/** 23.456 → "23.5 %" (0 decimals at ≥ 10 is too coarse for CPU, so always 1). */
export function formatPct(p: number | null | undefined): string {
  if (isBad(p)) return DASH;
  return `${p.toFixed(1)} %`;
}

export function formatCelsius(c: number | null | undefined): string {
  if (isBad(c)) return DASH;
  return `${Math.round(c)} °C`;
}

/**
 * Elapsed time in milliseconds: "12 ms", "0.4 s", "12.3 s", "2 min 5 s", "1 h 5 min", "3 d 4 h".
 */
export function formatDuration(ms: number | null | undefined): string {
  if (isBad(ms)) return DASH;
  if (ms < 0) ms = 0;
  if (ms < 100) return `${Math.round(ms)} ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  const totalS = Math.round(ms / 1000);
  const d = Math.floor(totalS / 86400);
  const h = Math.floor((totalS % 86400) / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  return s > 0 ? `${m} min ${s} s` : `${m} min`;
}

/** Coarse single-unit span for relative times: "12 s", "4 min", "2 h", "3 d". */
function coarseSpan(absUs: number): string {
  const s = Math.floor(absUs / 1e6);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

/**
 * Relative time of `tsUs` as seen at `nowUs` (both µs since epoch):
 * "just now", "12 s ago", "4 min ago", "in 2 min".
 */
export function formatRelative(tsUs: number | null | undefined, nowUs: number): string {
  if (isBad(tsUs)) return DASH;
  const diff = nowUs - tsUs;
  if (Math.abs(diff) < 5e6) return 'just now';
  return diff > 0 ? `${coarseSpan(diff)} ago` : `in ${coarseSpan(-diff)}`;
}

/** Local wall-clock time of a µs timestamp: "14:03:27", with date when not today. */
export function formatClock(tsUs: number, nowUs: number = Date.now() * 1000): string {
  const d = new Date(tsUs / 1000);
  const now = new Date(nowUs / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const sameDay =
    d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  return sameDay ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** Compact axis label for byte values (no decimals for big numbers). */
export function formatBytesAxis(v: number): string {
  return v === 0 ? '0' : formatBytes(v);
}

/** Axis label for percentages: "50%". */
export function formatPctAxis(v: number): string {
  return `${v}%`;
}

/** Compact axis label for byte rates. */
export function formatRateAxis(v: number): string {
  return v === 0 ? '0' : formatRate(v);
}

/** "1 file" / "3 files". */
export function plural(n: number, one: string, many: string = one + 's'): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}
