// End-to-end test of the pcmetrics tray app: the real binary, driven through its
// dashboard window (tauri-driver + WebKitWebDriver) and its tray menu (D-Bus), on a
// fresh data dir. Run it through scripts/e2e.sh (which builds everything and provides
// Xvfb and a session bus); exits non-zero on the first failed check.
//
// Environment (all optional): E2E_APP, E2E_CLI (binaries; default target/debug/…),
// TAURI_DRIVER (default: tauri-driver on PATH), E2E_ARTIFACTS (default e2e/artifacts),
// E2E_KEEP_TMP=1 (keep the temp dir), E2E_LIVE_BOUND_MS (default 5000).

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Session, sleep, waitFor, waitForDriver } from './webdriver.mjs';
import { clickItem, findTray, menuItems } from './tray.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const APP = resolve(process.env.E2E_APP ?? join(ROOT, 'target/debug/pcmetrics-tray'));
const CLI = resolve(process.env.E2E_CLI ?? join(ROOT, 'target/debug/pcmetrics'));
const DRIVER = process.env.TAURI_DRIVER ?? 'tauri-driver';
const ARTIFACTS = resolve(process.env.E2E_ARTIFACTS ?? join(ROOT, 'e2e/artifacts'));
// The requirement is live charts within 2 s of the window showing; the assertion allows
// 5 s so a loaded CI machine does not fail it, and the measured figure is printed.
const LIVE_BOUND_MS = Number(process.env.E2E_LIVE_BOUND_MS ?? 5000);

const TMP = mkdtempSync(join(tmpdir(), 'pcmetrics-e2e-'));
const DATA = join(TMP, 'data');
const CONFIG = join(TMP, 'config.toml');
const XDG = join(TMP, 'xdg'); // config/data/cache homes: keeps autostart files and WebKit caches out of $HOME

const t0 = Date.now();
const summary = {};
let session = null;
let driver = null;
let driverPorts = null;
let currentStep = 'setup';

// ---------------------------------------------------------------- helpers

const elapsed = (from = t0) => `${((Date.now() - from) / 1000).toFixed(1)} s`;
const log = (...a) => console.log(...a);

/** Environment for the app (through tauri-driver) and the CLI: no inherited PCMETRICS_*. */
function isolatedEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PCMETRICS_')) env[k] = v;
  return {
    ...env,
    XDG_CONFIG_HOME: join(XDG, 'config'),
    XDG_DATA_HOME: join(XDG, 'data'),
    XDG_CACHE_HOME: join(XDG, 'cache'),
    ...extra,
  };
}

async function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** Processes as { pid, ppid, comm, cmdline } from /proc. */
function processes() {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z') continue; // zombies hold no resources and cannot be killed
      out.push({ pid: Number(d), ppid: Number(rest[1]), comm, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** What this run started: the app (by its unique data dir), the drivers (by their ports). */
function ourProcesses() {
  return processes().filter(
    (p) =>
      p.pid !== process.pid &&
      (p.cmdline.some((a) => a.includes(TMP)) ||
        (driver && p.pid === driver.pid) ||
        (driverPorts &&
          p.comm.startsWith('WebKitWebDrive') &&
          p.cmdline.includes(`--port=${driverPorts.native}`))),
  );
}

function appPid() {
  const p = processes().find((q) => q.cmdline[0] && q.cmdline.includes(DATA) && !q.comm.startsWith('WebKit'));
  return p?.pid ?? null;
}

const run = promisify(execFile);

/** `pcmetrics status --json` on the app's data dir (read-only, runs next to the app). */
async function cliStatus() {
  const args = ['--data-dir', DATA];
  if (existsSync(CONFIG)) args.push('--config', CONFIG);
  args.push('status', '--json');
  try {
    const { stdout } = await run(CLI, args, { env: isolatedEnv(), timeout: 30_000 });
    return JSON.parse(stdout);
  } catch (e) {
    throw new Error(`${CLI} ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/** Digits of "1 234" (thin/normal spaces as group separators) → 1234. */
const num = (s) => Number(String(s).replace(/[\s\u00a0\u202f]/g, ''));

/** Visible text, as WebDriver computes it ("" while the element is not displayed). */
async function text(css) {
  return (await session.$(css)).text();
}
/**
 * textContent, for elements WebKitWebDriver wrongly reports as not displayed: its
 * "displayed" check fails elements styled `overflow: hidden` (the tiles' values), so
 * their WebDriver text is "". Pair with a displayed() check on a container.
 */
async function content(css) {
  return (await session.$(css)).prop('textContent');
}
async function attr(css, name) {
  return (await session.$(css)).attr(name);
}
async function click(css) {
  await (await session.$(css)).click();
}
async function count(css) {
  return (await session.$$(css)).length;
}

async function screenshot(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, name);
  const png = Buffer.from(await session.screenshot(), 'base64');
  assert.equal(png.subarray(1, 4).toString(), 'PNG', `${name}: the driver did not return a PNG`);
  const w = png.readUInt32BE(16);
  const h = png.readUInt32BE(20);
  assert.ok(w >= 400 && h >= 300, `${name}: screenshot is only ${w}x${h}`);
  writeFileSync(file, png);
  return `${name} ${w}x${h}`;
}

async function step(name, fn) {
  currentStep = name;
  const start = Date.now();
  log(`\n▶ ${name}`);
  await fn();
  log(`✓ ${name} (${elapsed(start)})`);
}

// ---------------------------------------------------------------- steps

async function startDriver() {
  assert.ok(existsSync(APP), `app binary ${APP} is missing: build it with cargo build -p pcmetrics-tray`);
  assert.ok(existsSync(CLI), `CLI binary ${CLI} is missing: build it with cargo build -p pcmetrics-cli`);
  assert.ok(process.env.DISPLAY, 'DISPLAY is not set: run under xvfb-run (scripts/e2e.sh does)');
  assert.ok(process.env.DBUS_SESSION_BUS_ADDRESS, 'no session bus: run under dbus-run-session (scripts/e2e.sh does)');
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of readdirSync(ARTIFACTS)) if (/\.(png|log|json)$/.test(f)) rmSync(join(ARTIFACTS, f));

  // Fresh free ports rather than the fixed 4444/4445: a stale driver left on a fixed
  // port would answer in place of ours. The spawned driver must still be alive after
  // /status answers, or someone else is on the port.
  driverPorts = { port: await freePort(), native: await freePort() };
  const logFile = createWriteStream(join(ARTIFACTS, 'app.log'));
  driver = spawn(DRIVER, ['--port', String(driverPorts.port), '--native-port', String(driverPorts.native)], {
    env: isolatedEnv({
      // Only the Sync now clicks sync (besides the one sync the app runs at launch).
      PCMETRICS_SYNC__INTERVAL: '1h',
      PCMETRICS_SAMPLING__INTERVAL: '1s',
      PCMETRICS_LOG: 'info',
      NO_COLOR: '1', // plain app.log
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group: the cleanup kills driver, WebKitWebDriver and app together
  });
  driver.stdout.pipe(logFile);
  driver.stderr.pipe(logFile);
  let exited = null;
  driver.on('exit', (code, sig) => (exited = `tauri-driver exited (${code ?? sig})`));
  driver.on('error', (e) => (exited = `cannot start ${DRIVER}: ${e.message}`));
  const base = `http://127.0.0.1:${driverPorts.port}`;
  await waitForDriver(base).catch((e) => {
    throw new Error(exited ?? e.message);
  });
  await sleep(200);
  assert.equal(exited, null, `${exited}; see ${join(ARTIFACTS, 'app.log')}`);
  log(`  tauri-driver on :${driverPorts.port} (WebKitWebDriver on :${driverPorts.native}), temp dir ${TMP}`);
  return base;
}

async function launch(base) {
  const requested = Date.now();
  session = await Session.create(base, {
    alwaysMatch: {
      'tauri:options': { application: APP, args: ['--data-dir', DATA, '--config', CONFIG] },
    },
  });
  const ready = Date.now();
  log(`  session ${session.id} ready ${ready - requested} ms after the launch request`);
  const pid = await waitFor('the app process', appPid, Boolean, { timeoutMs: 5000 });
  log(`  app pid ${pid}`);
  return { requested, ready };
}

async function checkHooks() {
  // Every hook the test relies on, up front: a renamed id fails here, by name, at once.
  const hooks = [
    '#tab-live', '#tab-history', '#tab-sync', '#tab-settings',
    '#view-live', '#view-history', '#view-sync', '#view-settings',
    '#chart-cpu', '#chart-cores', '#chart-mem', '#chart-disk', '#chart-net',
    '#now-cpu .tile-value', '#now-mem .tile-value', '#now-pending .tile-value',
    'button.range[data-range="1h"]', 'button.range[data-range="30d"]', '#history-info', '#hist-cpu',
    '#sync-now', '#sync-result', '#sync-pending', '#sync-runs tbody',
    '#settings-form', '#settings-save', '#settings-message', '#f-sync_interval',
    '[data-error-for="sync.interval"]', '#settings-config-path', '#pause-toggle', '#error-banner',
  ];
  const missing = await session.exec('return arguments[0].filter((s) => !document.querySelector(s));', hooks);
  assert.deepEqual(missing, [], `UI hooks missing from the page: ${missing.join(', ')}`);
  assert.equal(await session.title(), 'pcmetrics');
  log(`  all ${hooks.length} UI hooks present`);
}

async function live({ requested, ready }) {
  const cpuPoints = async () => Number(await attr('#chart-cpu', 'data-points'));
  await waitFor('#chart-cpu data-points > 0', cpuPoints, (n) => n > 0, { timeoutMs: 15_000, intervalMs: 25 });
  const first = Date.now();
  // "The window showing" from the page's own clock: navigation start and first paint.
  const page = await session.exec(
    "const p = performance.getEntriesByName('first-contentful-paint')[0] || performance.getEntriesByName('first-paint')[0];" +
      'return { origin: performance.timeOrigin, paint: p ? p.startTime : null };',
  );
  const sinceNav = Math.round(first - page.origin);
  const sincePaint = page.paint === null ? null : Math.round(sinceNav - page.paint);
  const figure = sincePaint ?? first - ready;
  summary.first_live_point_ms = figure;
  summary.first_live_point_basis = sincePaint === null ? 'after the WebDriver session was up' : 'after first paint';
  summary.launch_ms = ready - requested;
  summary.first_paint_ms = page.paint === null ? null : Math.round(page.paint);
  log(
    `  first live point: ${figure} ms ${summary.first_live_point_basis} ` +
      `(page: first paint ${summary.first_paint_ms ?? '?'} ms after navigation start, live point ${sinceNav} ms after it; ` +
      `${first - ready} ms after the session was up, ${first - requested} ms after the launch request)`,
  );
  assert.ok(
    figure <= LIVE_BOUND_MS,
    `live chart took ${figure} ms ${summary.first_live_point_basis} to show a point (bound ${LIVE_BOUND_MS} ms; requirement 2000 ms)`,
  );

  const n1 = await cpuPoints();
  await sleep(3000);
  const n2 = await waitFor('#chart-cpu to grow', cpuPoints, (n) => n >= n1 + 2, { timeoutMs: 3000 });
  log(`  #chart-cpu data-points ${n1} → ${n2} in ~3 s (samples arriving on the event channel)`);
  summary.live_points_growth = `${n1} → ${n2}`;
  for (const id of ['#chart-cores', '#chart-mem', '#chart-disk', '#chart-net']) {
    const n = Number(await attr(id, 'data-points'));
    assert.ok(n > 0, `${id} plots no points (data-points=${n})`);
  }
  assert.equal(await (await session.$('#now-cpu')).displayed(), true, '#now-cpu tile not displayed');
  const cpu = await waitFor('#now-cpu to show a percentage', () => content('#now-cpu .tile-value'), (t) => /^\d+(\.\d)? %$/.test(t));
  const mem = await content('#now-mem .tile-value');
  assert.match(mem, /\d.* \/ \d/, `#now-mem shows "${mem}"`);
  log(`  tiles: CPU ${cpu}, memory ${mem}`);
  assert.equal(await (await session.$('#error-banner')).displayed(), false, `error banner shown: ${await text('#error-banner')}`);
  log(`  ${await screenshot('live.png')}`);
}

async function history() {
  await click('#tab-history');
  assert.equal(await (await session.$('#view-history')).displayed(), true, '#view-history not shown after clicking its tab');
  // The live charts stop drawing while hidden: read the last plotted time once a draw
  // scheduled before the switch (throttled to 250 ms) has had its turn.
  const hiddenAt = Date.now();
  await sleep(400);
  const liveLastX = await attr('#chart-cpu', 'data-last-x');
  const load = async (range, label) => {
    await click(`button.range[data-range="${range}"]`);
    // The click handler replaces the text with "Loading…" synchronously, so an answer
    // seen after the click is this click's, not an earlier one.
    const info = await waitFor(
      `#history-info to answer ${range}`,
      () => text('#history-info'),
      (t) => t.startsWith(label) && /answered in \d+ ms$/.test(t),
      { timeoutMs: 15_000 },
    );
    assert.equal(await attr(`button.range[data-range="${range}"]`, 'aria-pressed'), 'true');
    const m = /^(.+?) · (\d+) points? · (raw samples|minute rollups) · answered in (\d+) ms$/.exec(info);
    if (!m) {
      assert.match(info, /^.+ · no samples in this range yet · answered in \d+ ms$/, `#history-info for ${range}`);
      assert.equal(await (await session.$('#history-empty')).displayed(), true, '#history-empty note not shown');
      return { info, points: 0, ms: Number(/answered in (\d+) ms/.exec(info)[1]) };
    }
    const points = Number(await attr('#hist-cpu', 'data-points'));
    const resolution = await attr('#hist-cpu', 'data-resolution');
    assert.ok(points > 0, `#hist-cpu plots no points for ${range} although "${info}"`);
    assert.match(resolution, /^(raw|minute)$/, `#hist-cpu data-resolution for ${range} is "${resolution}"`);
    assert.equal(m[3] === 'minute rollups' ? 'minute' : 'raw', resolution, 'info and data-resolution disagree');
    log(`  ${range}: "${info}" · #hist-cpu ${points} x values, data-resolution ${resolution}`);
    return { info, points: Number(m[2]), ms: Number(m[4]), resolution };
  };
  summary.history_1h = await load('1h', '1 hour');
  assert.ok(summary.history_1h.points > 0, `1h shows no points: "${summary.history_1h.info}"`);
  assert.equal(summary.history_1h.resolution, 'raw');

  // 30 d reads minute rollups, which leave out the minute in progress: on a fresh data
  // dir it has nothing to show until the first minute with samples has ended. Ask
  // again until it does (the app has run for ~25 s by now, so this waits 0–35 s).
  const first30d = Date.now();
  let r30 = await load('30d', '30 days');
  while (r30.points === 0) {
    assert.ok(Date.now() - first30d < 65_000, `30d still empty after 65 s: "${r30.info}"`);
    log(`  30d: "${r30.info}" — the first minute of samples has not ended yet; asking again in 5 s`);
    await sleep(5000);
    r30 = await load('30d', '30 days');
  }
  assert.equal(r30.resolution, 'minute');
  summary.history_30d = { ...r30, waited_s: Math.round((Date.now() - first30d) / 1000) };
  log(`  ${await screenshot('history.png')}`);

  // Samples arrive every second, so by now several came while the Live tab was hidden.
  await sleep(Math.max(0, 3000 - (Date.now() - hiddenAt)));
  assert.equal(await attr('#chart-cpu', 'data-last-x'), liveLastX, 'the hidden live chart was redrawn');
  await click('#tab-live');
  const shownAt = Date.now();
  const caughtUp = await waitFor('#chart-cpu to catch up once shown', () => attr('#chart-cpu', 'data-last-x'), (x) => Number(x) > Number(liveLastX), {
    timeoutMs: 5_000,
    intervalMs: 25,
  });
  log(`  live chart: unchanged over ${((shownAt - hiddenAt) / 1000).toFixed(1)} s on the History tab; caught up ${Date.now() - shownAt} ms after shown (last x ${liveLastX} → ${caughtUp})`);
}

async function sync() {
  await click('#tab-sync');
  const pendingText = await waitFor('#sync-pending', () => text('#sync-pending'), (t) => /^[\d  ]+ samples/.test(t));
  const pendingBefore = num(/^([\d  ]+) samples/.exec(pendingText)[1]);
  assert.ok(pendingBefore > 0, `nothing pending before Sync now ("${pendingText}") although the app samples every second`);
  const runsBefore = await count('#sync-runs tbody tr.sync-run');
  const statusBefore = await cliStatus();
  await waitFor('the Sync now button to be idle', async () => (await session.$('#sync-now')).prop('disabled'), (d) => d === false);
  log(`  before: "${pendingText}", ${runsBefore} run(s) listed, acked_seq ${statusBefore.buffer.acked_seq}`);

  const clicked = Date.now();
  await click('#sync-now');
  const runsAfter = await waitFor(
    'a new row in #sync-runs',
    () => count('#sync-runs tbody tr.sync-run'),
    (n) => n >= runsBefore + 1,
    { timeoutMs: 20_000 },
  );
  const result = await waitFor(
    '#sync-result.ok "Synced N rows"',
    async () => ({
      cls: await attr('#sync-result', 'class'),
      text: await text('#sync-result'),
      idle: !(await (await session.$('#sync-now')).prop('disabled')),
    }),
    (r) => r.idle && /\bok\b/.test(r.cls ?? '') && /^Synced [\d  ]+ rows in /.test(r.text),
    { timeoutMs: 20_000 },
  );
  const seen = Date.now() - clicked;
  const rows = num(/^Synced ([\d  ]+) rows/.exec(result.text)[1]);
  assert.ok(rows >= 1, `sync reported ${rows} rows: "${result.text}"`);
  assert.equal(runsAfter, runsBefore + 1, `expected one new run row, got ${runsAfter - runsBefore}`);
  const topRow = await content('#sync-runs tbody tr.sync-run:first-child td:nth-child(2)');
  assert.equal(num(topRow), rows, `newest run row says ${topRow} rows, #sync-result says ${rows}`);
  log(`  "${result.text}" (seen in the window ${seen} ms after the click); ${runsAfter} run(s) listed`);

  // Independently, from the buffer and the lakehouse on disk (the CLI only reads).
  const st = await cliStatus();
  assert.ok(st.metadata_location, `no table metadata after the sync: ${st.table_error}`);
  const metaPath = st.metadata_location.replace(/^file:\/\//, '');
  assert.ok(!metaPath.startsWith('/') || existsSync(metaPath), `table metadata ${metaPath} not on disk`);
  assert.ok(st.buffer.acked_seq >= rows, `acked_seq ${st.buffer.acked_seq} < ${rows} rows synced`);
  assert.ok(
    st.buffer.acked_seq - statusBefore.buffer.acked_seq >= rows,
    `acked_seq moved ${statusBefore.buffer.acked_seq} → ${st.buffer.acked_seq}, less than the ${rows} rows synced`,
  );
  const last = st.recent_syncs[0];
  assert.equal(last.error, null, `newest sync run in the buffer failed: ${last.error}`);
  assert.equal(last.rows, rows, `buffer's newest sync run has ${last.rows} rows, the window said ${rows}`);
  assert.equal(st.last_successful_sync?.rows, rows);
  assert.equal(st.recent_syncs.length, Math.min(runsAfter, 10), 'runs in the buffer ≠ runs in the window');
  const parquet = listFiles(join(DATA, 'lakehouse')).filter((f) => f.endsWith('.parquet'));
  assert.ok(parquet.length >= 1, `no Parquet file under ${join(DATA, 'lakehouse')}`);
  summary.sync = {
    rows,
    text: result.text,
    duration_ms: Math.round((last.finished_us - last.started_us) / 1000),
    acked_seq: st.buffer.acked_seq,
    pending_before: pendingBefore,
    parquet_files: parquet.length,
  };
  log(
    `  CLI: acked_seq ${statusBefore.buffer.acked_seq} → ${st.buffer.acked_seq}, pending ${st.buffer.pending}, ` +
      `${parquet.length} Parquet file(s), metadata ${metaPath.split('/').slice(-2).join('/')}`,
  );
  // The table as measured after the maintenance run that follows a committed sync.
  const health = st.last_maintenance?.health;
  assert.ok(health, `no table health after a sync: last_maintenance = ${JSON.stringify(st.last_maintenance)}`);
  const tableText = await waitFor('#sync-table to show the table', () => text('#sync-table'), (t) => / rows? · .* manifests? · /.test(t));
  assert.equal(num(tableText.split(' row')[0]), health.rows, `#sync-table says "${tableText}", the CLI ${health.rows} rows`);
  const maintText = await text('#sync-maintenance');
  assert.match(maintText, /ago|just now/, `#sync-maintenance says "${maintText}"`);
  log(`  table: "${tableText}"; maintenance: "${maintText}"`);
  log(`  ${await screenshot('sync.png')}`);
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

/** Clicks Save and waits for the answer: { cls, msg, fieldError }. */
async function save() {
  await click('#settings-save');
  return waitFor(
    'the settings save to answer',
    async () => ({
      busy: await (await session.$('#settings-save')).prop('disabled'),
      cls: (await attr('#settings-message', 'class')) ?? '',
      msg: await text('#settings-message'),
      fieldError: await text('[data-error-for="sync.interval"]'),
    }),
    (o) => !o.busy && o.msg !== '' && o.msg !== 'Saving…',
    { timeoutMs: 10_000 },
  );
}

const syncIntervalInFile = () => /^\[sync\][^[]*?^interval = (.*)$/m.exec(readFileSync(CONFIG, 'utf8'))?.[1];

async function settings() {
  await click('#tab-settings');
  await waitFor('the settings form to load', () => text('#settings-config-path'), (t) => t === CONFIG);
  assert.equal(existsSync(CONFIG), false, `${CONFIG} exists before any save`);
  const field = await session.$('#f-sync_interval');
  await field.clear();
  await field.type('soon');
  assert.equal(await field.prop('value'), 'soon');
  const bad = await save();
  if (/\bok\b/.test(bad.cls)) {
    const written = existsSync(CONFIG) ? `${CONFIG} now has [sync] interval = ${syncIntervalInFile()}` : 'no file written';
    assert.fail(
      `the app accepted sync interval "soon": #settings-message says "${bad.msg}", ${written}. ` +
        'PCMETRICS_SYNC__INTERVAL=1h is set for this run: an environment override seems to hide ' +
        'the invalid form value during validation (and a start without it would refuse the file)',
    );
  }
  assert.match(bad.fieldError, /not a duration/, `no "not a duration" field error (message "${bad.msg}")`);
  assert.match(bad.cls, /\berror\b/, `#settings-message is not an error: "${bad.msg}"`);
  assert.match((await attr('#f-sync_interval', 'class')) ?? '', /\binvalid\b/);
  assert.equal(existsSync(CONFIG), false, `${CONFIG} was written although the save was rejected`);
  log(`  "soon" rejected: "${bad.fieldError}" (message "${bad.msg}"); config not written`);
  await screenshot('settings-error.png');

  await field.clear();
  await field.type('1h');
  const good = await save();
  assert.match(good.cls, /\bok\b/, `saving "1h" failed: "${good.msg}" ${good.fieldError}`);
  assert.equal(good.fieldError, '', 'the field error stayed after a good save');
  assert.ok(existsSync(CONFIG), `${CONFIG} not written after "${good.msg}"`);
  assert.equal(syncIntervalInFile(), '"1h"', `[sync] interval in ${CONFIG}:\n${readFileSync(CONFIG, 'utf8')}`);
  assert.equal(await (await session.$('#f-sync_interval')).prop('value'), '1h');
  log(`  "1h" saved: "${good.msg}"; ${CONFIG} has [sync] interval = "1h"`);
  log(`  ${await screenshot('settings.png')}`);
}

async function tray() {
  const pid = appPid();
  assert.ok(pid, 'app process not found');
  const t = await findTray(pid);
  log(`  StatusNotifierItem ${t.dest} ${t.itemPath}, menu ${t.menuPath}`);
  const items = await menuItems(t);
  const labels = items.map((i) => (i.type === 'separator' ? '---' : i.label));
  log(`  menu: ${labels.map((l) => JSON.stringify(l)).join(', ')}`);
  assert.equal(items.length, 9, `expected 9 menu items, got ${items.length}`);
  const [status, lastSync, sep1, open, syncItem, pause, autostart, sep2, quit] = items;
  assert.match(status.label, /\d+ pending/, 'status line');
  assert.match(status.label, /^CPU \d+ % · memory \d+ % · /, 'status line');
  assert.equal(status.enabled, false, 'status line should be disabled');
  assert.match(lastSync.label, /^Last sync: [\d  ]+ rows in [\d.]+ s$/, 'last-sync line after our sync');
  assert.equal(lastSync.enabled, false);
  assert.equal(sep1.type, 'separator');
  assert.equal(open.label, 'Open dashboard');
  assert.equal(syncItem.label, 'Sync now');
  assert.equal(pause.label, 'Pause sampling');
  assert.equal(autostart.label, 'Launch at login');
  assert.equal(autostart.toggleState, 0, 'Launch at login should be unchecked in a fresh profile');
  assert.equal(sep2.type, 'separator');
  assert.equal(quit.label, 'Quit');

  // Click "Sync now" as a tray host would; the window and the buffer must both see a new run.
  // Saving settings restarts the pipeline, which syncs on its way down and up again: let
  // that settle (idle, same number of runs for 1 s) so the next run is the tray's.
  await click('#tab-sync');
  let same = 0;
  let prev = null;
  const runsBefore = await waitFor(
    'the sync runs to settle after the settings save',
    async () => {
      const n = await count('#sync-runs tbody tr.sync-run');
      const idle = !(await (await session.$('#sync-now')).prop('disabled'));
      same = idle && n === prev ? same + 1 : 0;
      prev = n;
      return n;
    },
    (n) => n > 0 && same >= 4,
    { timeoutMs: 15_000, intervalMs: 250 },
  );
  const before = await cliStatus();
  const clicked = Date.now();
  await clickItem(t, syncItem.id);
  const runsAfter = await waitFor(
    'a new row in #sync-runs after the tray click',
    () => count('#sync-runs tbody tr.sync-run'),
    (n) => n > runsBefore,
    { timeoutMs: 20_000 },
  );
  const seen = Date.now() - clicked;
  assert.equal(runsAfter, runsBefore + 1, `${runsAfter - runsBefore} new runs after one tray click`);
  const after = await cliStatus();
  const run = after.recent_syncs[0];
  assert.equal(run.error, null, `tray sync failed: ${run.error}`);
  assert.ok(run.started_us >= clicked * 1000 - 1e6, 'newest run in the buffer is older than the tray click');
  assert.equal(after.recent_syncs.length, Math.min(before.recent_syncs.length + 1, 10));
  assert.ok(run.rows >= 1, `tray sync synced ${run.rows} rows`);
  assert.equal(after.buffer.acked_seq - before.buffer.acked_seq >= run.rows, true, 'acked_seq did not move by the rows synced');
  const menuAfter = await waitFor(
    `the tray's last-sync line to say ${run.rows} rows`,
    async () => (await menuItems(t))[1].label,
    (l) => num(/^Last sync: ([\d  ]+) rows/.exec(l)?.[1] ?? 'x') === run.rows,
    { timeoutMs: 5000 },
  );
  log(`  tray "Sync now": run of ${run.rows} rows in the window after ${seen} ms; menu now "${menuAfter}"`);
  summary.tray_sync = { rows: run.rows, seen_in_window_ms: seen, last_sync_label: menuAfter };
  log(`  ${await screenshot('tray-sync.png')}`);
  return { t, quit };
}

async function close({ t, quit }) {
  // "Quit" from the tray is the app's own clean exit (stops the pipeline, then exits).
  const pid = appPid();
  await clickItem(t, quit.id);
  await waitFor('the app to exit after tray Quit', () => processes().some((p) => p.pid === pid), (alive) => !alive, {
    timeoutMs: 15_000,
  });
  log(`  app ${pid} exited after "Quit"`);
  try {
    await session.delete();
  } catch (e) {
    log(`  (deleting the session after the app quit: ${e.message})`);
  }
  session = null;
}

// ---------------------------------------------------------------- teardown

function killGroup(sig) {
  if (!driver?.pid) return;
  try {
    process.kill(-driver.pid, sig);
  } catch {
    // already gone
  }
}

/** Stops everything this run started; returns what had to be killed besides the driver. */
async function cleanup() {
  if (session) {
    await session.delete().catch(() => {});
    session = null;
  }
  killGroup('SIGTERM');
  for (let i = 0; i < 50 && ourProcesses().length > 0; i++) await sleep(100);
  const left = ourProcesses();
  killAll(left);
  killGroup('SIGKILL');
  return left;
}

function killAll(procs) {
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killGroup('SIGKILL');
    killAll(ourProcesses());
    process.exit(130);
  });
}

// ---------------------------------------------------------------- main

let failed = null;
try {
  let base;
  await step('start tauri-driver', async () => {
    base = await startDriver();
  });
  let times;
  await step('launch the app (fresh data dir, sync interval 1h)', async () => {
    times = await launch(base);
  });
  await step('UI hooks present', checkHooks);
  await step('live charts', () => live(times));
  await step('sync now from the window', sync);
  await step('settings: reject "soon", save "1h"', settings);
  let trayRef;
  await step('tray menu over D-Bus', async () => {
    trayRef = await tray();
  });
  await step('history', history);
  await step('quit from the tray and close the session', () => close(trayRef));
} catch (e) {
  failed = e;
  console.error(`\n✗ FAILED in step "${currentStep}":\n  ${e.message.split('\n').join('\n  ')}`);
  if (session) {
    try {
      log(`  ${await screenshot('failure.png')}`);
      const banner = await session.exec(
        "const b = document.querySelector('#error-banner'); return b && !b.hidden ? b.textContent.trim() : null;",
      );
      if (banner) console.error(`  error banner in the window: ${banner}`);
    } catch (se) {
      console.error(`  (no failure screenshot: ${se.message})`);
    }
  }
}

const left = await cleanup();
// The app is gone by now; anything of ours still running after the graceful stop is a leak.
if (left.length > 0 && !failed) {
  failed = new Error(`processes left running after close (killed now): ${left.map((p) => `${p.pid} ${p.comm}`).join(', ')}`);
  console.error(`\n✗ ${failed.message}`);
}
const stillThere = ourProcesses();
if (stillThere.length > 0) {
  failed ??= new Error('processes survive SIGKILL');
  console.error(`✗ still running: ${stillThere.map((p) => `${p.pid} ${p.comm}`).join(', ')}`);
}
if (!failed) log('\n✓ no app, WebKitWebDriver or tauri-driver process left');

summary.total_s = Number(((Date.now() - t0) / 1000).toFixed(1));
summary.result = failed ? `FAILED: ${failed.message.split('\n')[0]}` : 'passed';
writeFileSync(join(ARTIFACTS, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');

log('\n──────── summary ────────');
if (summary.first_live_point_ms !== undefined)
  log(
    `time to first live point: ${summary.first_live_point_ms} ms ${summary.first_live_point_basis} ` +
      `(asserted ≤ ${LIVE_BOUND_MS} ms; requirement 2000 ms); session up ${summary.launch_ms} ms after launch, first paint ${summary.first_paint_ms} ms after navigation start`,
  );
if (summary.live_points_growth) log(`live points over ~3 s:    ${summary.live_points_growth}`);
if (summary.history_1h) log(`history 1h:  ${summary.history_1h.points} point(s), ${summary.history_1h.resolution}, answered in ${summary.history_1h.ms} ms`);
if (summary.history_30d) log(`history 30d: ${summary.history_30d.points} point(s), ${summary.history_30d.resolution}, answered in ${summary.history_30d.ms} ms (waited ${summary.history_30d.waited_s} s for the first closed minute)`);
if (summary.sync) log(`sync now (window): ${summary.sync.rows} rows in ${summary.sync.duration_ms} ms — "${summary.sync.text}"`);
if (summary.tray_sync) log(`sync now (tray):   ${summary.tray_sync.rows} rows, in the window after ${summary.tray_sync.seen_in_window_ms} ms`);
log(`total: ${summary.total_s} s · artifacts in ${ARTIFACTS}`);
log(failed ? `RESULT: FAILED (${currentStep})` : 'RESULT: passed');

if (process.env.E2E_KEEP_TMP === '1' || failed) log(`temp dir kept: ${TMP}`);
else rmSync(TMP, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
