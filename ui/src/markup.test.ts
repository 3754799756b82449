// Static checks of index.html and the sources: CSP hygiene, the element ids
// the end-to-end test relies on, and the api.ts isolation rule.
import { describe, expect, it } from 'vitest';
import indexHtml from '../index.html?raw';
import { FIELDS } from './settings-form';

const sources = import.meta.glob<string>(['./**/*.ts', '!./**/*.test.ts', '!./test-fixtures.ts'], {
  query: '?raw',
  import: 'default',
  eager: true,
});
// Present only after `npm run build`.
const built = import.meta.glob<string>('../dist/index.html', { query: '?raw', import: 'default', eager: true });

function cspProblems(html: string): string[] {
  const problems: string[] = [];
  if (/<style[\s>]/i.test(html)) problems.push('inline <style> block');
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    if (!/\bsrc=/.test(m[1]) || m[2].trim() !== '') problems.push(`inline script: ${m[0].slice(0, 60)}`);
  }
  if (/\sstyle\s*=/i.test(html)) problems.push('style="" attribute');
  if (/\son[a-z]+\s*=/i.test(html)) problems.push('inline event handler');
  if (/(src|href)\s*=\s*["']?(https?:)?\/\//i.test(html)) problems.push('remote resource');
  return problems;
}

describe('index.html', () => {
  it('has nothing the CSP would block', () => {
    expect(cspProblems(indexHtml)).toEqual([]);
  });

  it('detects violations (self-test of the checker)', () => {
    expect(cspProblems('<div style="color:red"></div>')).toHaveLength(1);
    expect(cspProblems('<script>alert(1)</script>')).toHaveLength(1);
    expect(cspProblems('<link href="https://fonts.example/x.css">')).toHaveLength(1);
  });

  it.each([
    'pause-toggle', 'status-pill', 'error-banner',
    'tab-live', 'tab-history', 'tab-sync', 'tab-settings',
    'view-live', 'view-history', 'view-sync', 'view-settings',
    'now-cpu', 'now-mem', 'now-swap', 'now-disk', 'now-net', 'now-load', 'now-temp', 'now-pending',
    'chart-cpu', 'chart-cores', 'chart-mem', 'chart-disk', 'chart-net',
    'hist-cpu', 'hist-mem', 'hist-disk', 'hist-net', 'hist-load', 'history-info',
    'sync-pending', 'sync-oldest', 'sync-last', 'sync-target', 'sync-table', 'sync-maintenance', 'sync-now', 'sync-result', 'sync-runs',
    'settings-form', 'settings-save', 'settings-test', 'settings-message',
  ])('has #%s', (id) => {
    expect(indexHtml).toContain(`id="${id}"`);
  });

  it('has a range button for every range', () => {
    for (const r of ['1h', '6h', '24h', '7d', '30d', '90d', '365d']) {
      expect(indexHtml).toMatch(new RegExp(`<button[^>]*class="range"[^>]*data-range="${r}"`));
    }
  });

  it('has an input and an error slot for every settings field', () => {
    for (const f of FIELDS) {
      expect(indexHtml, f.field).toContain(`id="f-${f.field}"`);
      expect(indexHtml, f.key).toContain(`data-error-for="${f.key}"`);
    }
  });

  it('renders secrets as password inputs', () => {
    for (const f of FIELDS.filter((f) => f.type === 'secret')) {
      expect(indexHtml).toMatch(new RegExp(`id="f-${f.field}"[^>]*type="password"`));
    }
  });
});

describe('sources', () => {
  const files = Object.entries(sources);

  it('found the app sources', () => {
    expect(files.map(([p]) => p)).toContain('./api.ts');
    expect(files.length).toBeGreaterThan(8);
  });

  it('only api.ts imports @tauri-apps/api', () => {
    const importers = files.filter(([, src]) => /from\s+['"]@tauri-apps\/api/.test(src)).map(([p]) => p);
    expect(importers).toEqual(['./api.ts']);
  });

  it('never builds markup from strings or evaluates code', () => {
    for (const [path, src] of files) {
      expect(src, path).not.toMatch(/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|setAttribute\(\s*['"]style|\beval\(|new Function\(/);
      expect(src, path).not.toMatch(/https?:\/\//);
    }
  });
});

describe.runIf(Object.keys(built).length > 0)('dist/index.html (after build)', () => {
  const html = Object.values(built)[0];
  it('has no inline script or style and uses relative asset paths', () => {
    expect(cspProblems(html)).toEqual([]);
    expect(html).toMatch(/<script[^>]+src="\.\/assets\/[^"]+\.js"/);
    expect(html).toMatch(/<link[^>]+href="\.\/assets\/[^"]+\.css"/);
  });
});
