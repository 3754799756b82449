// uPlot calls `new Intl.NumberFormat(navigator.language)` when its module is
// evaluated. WebKitGTK started with LANG=C reports navigator.language = "C",
// which Intl rejects with a RangeError — killing the whole bundle. This module
// must be imported before anything that imports uplot (see main.ts).

/** Turn a POSIX-ish or broken locale name into a BCP 47 tag Intl accepts. */
export function safeLocale(tag: string | undefined | null, fallback = 'en-US'): string {
  const candidates: string[] = [];
  if (tag) {
    candidates.push(tag);
    // "de_DE.UTF-8@euro" → "de-DE"
    const cleaned = tag.split(/[.@]/)[0].replace(/_/g, '-');
    if (cleaned !== tag) candidates.push(cleaned);
  }
  for (const c of candidates) {
    if (c === '' || c === 'C' || c === 'POSIX') continue;
    try {
      new Intl.NumberFormat(c); // throws RangeError for invalid tags
      return c;
    } catch {
      // try the next candidate
    }
  }
  return fallback;
}

/** Patch navigator.language in place when the engine reports an invalid tag. */
export function ensureValidNavigatorLanguage(): void {
  if (typeof navigator === 'undefined') return;
  const current = navigator.language;
  const safe = safeLocale(current);
  if (safe === current) return;
  try {
    Object.defineProperty(navigator, 'language', { configurable: true, get: () => safe });
  } catch {
    // read-only in this engine: nothing more we can do
  }
}
