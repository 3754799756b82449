// A small W3C WebDriver client (enough for tauri-driver + WebKitWebDriver), on Node's fetch.
// Every failure throws an Error naming the command and the driver's error and message.

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class WebDriverError extends Error {
  constructor(what, error, message) {
    super(`${what}: ${error}${message ? `: ${message}` : ''}`);
    this.error = error; // W3C error code, e.g. "no such element"
  }
}

async function request(base, method, path, body, timeoutMs = 30_000) {
  const what = `${method} ${path}`;
  let res;
  try {
    res = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new WebDriverError(what, 'request failed', e.cause?.message ?? e.message);
  }
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WebDriverError(what, `HTTP ${res.status}`, `not JSON: ${text.slice(0, 200)}`);
  }
  const v = json.value;
  if (!res.ok || (v && typeof v === 'object' && typeof v.error === 'string')) {
    throw new WebDriverError(what, v?.error ?? `HTTP ${res.status}`, v?.message);
  }
  return v;
}

/** GET /status until the driver says it is ready (or the deadline passes). */
export async function waitForDriver(base, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const v = await request(base, 'GET', '/status', undefined, 2000);
      if (v?.ready !== false) return v;
      last = `not ready: ${v?.message ?? ''}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(200);
  }
  throw new Error(`WebDriver at ${base} did not become ready within ${timeoutMs} ms (${last})`);
}

export class Element {
  constructor(session, id, selector) {
    this.s = session;
    this.id = id;
    this.selector = selector;
  }
  cmd(method, suffix, body) {
    return this.s.cmd(method, `/element/${this.id}${suffix}`, body);
  }
  click() {
    return this.cmd('POST', '/click', {});
  }
  text() {
    return this.cmd('GET', '/text');
  }
  attr(name) {
    return this.cmd('GET', `/attribute/${encodeURIComponent(name)}`);
  }
  prop(name) {
    return this.cmd('GET', `/property/${encodeURIComponent(name)}`);
  }
  clear() {
    return this.cmd('POST', '/clear', {});
  }
  type(text) {
    return this.cmd('POST', '/value', { text });
  }
  displayed() {
    return this.cmd('GET', '/displayed');
  }
}

export class Session {
  constructor(base, id, capabilities) {
    this.base = base;
    this.id = id;
    this.capabilities = capabilities;
  }

  static async create(base, capabilities, timeoutMs = 60_000) {
    const v = await request(base, 'POST', '/session', { capabilities }, timeoutMs);
    return new Session(base, v.sessionId, v.capabilities);
  }

  cmd(method, suffix, body) {
    return request(this.base, method, `/session/${this.id}${suffix}`, body);
  }

  /** The first element matching a CSS selector; throws "no such element: <css>" if none. */
  async $(css) {
    try {
      const v = await this.cmd('POST', '/element', { using: 'css selector', value: css });
      return new Element(this, v[ELEMENT], css);
    } catch (e) {
      if (e.error === 'no such element') throw new WebDriverError(`find ${css}`, 'no such element', 'nothing matches this selector');
      throw e;
    }
  }

  /** All elements matching a CSS selector (maybe none). */
  async $$(css) {
    const v = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return v.map((e) => new Element(this, e[ELEMENT], css));
  }

  /** Runs `body` (a function body) in the page; arguments are `arguments[0]`…. */
  exec(body, ...args) {
    return this.cmd('POST', '/execute/sync', { script: body, args });
  }

  /** Base64 PNG of the web view. */
  screenshot() {
    return this.cmd('GET', '/screenshot');
  }

  title() {
    return this.cmd('GET', '/title');
  }

  delete() {
    return request(this.base, 'DELETE', `/session/${this.id}`, undefined, 20_000);
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Reads `read()` until `done(observation)` holds and returns that observation. On timeout
 * throws "timed out after N ms waiting for <what>; last seen: <observation or error>".
 */
export async function waitFor(what, read, done = Boolean, { timeoutMs = 10_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing yet';
  for (;;) {
    try {
      const v = await read();
      if (done(v)) return v;
      last = JSON.stringify(v);
    } catch (e) {
      last = `error: ${e.message}`;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${last}`);
    await sleep(intervalMs);
  }
}
