// The tray menu over D-Bus, with `gdbus` (libglib2.0-bin): finds the app's
// StatusNotifierItem on the session bus, reads its com.canonical.dbusmenu layout and
// clicks items — what a tray host (GNOME Shell extension, KDE, waybar…) would do.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function gdbus(args) {
  try {
    const { stdout } = await run('gdbus', args, { timeout: 10_000 });
    return stdout.trim();
  } catch (e) {
    throw new Error(`gdbus ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/** `gdbus call` on the session bus; method arguments go after `--` so "-1" is not an option. */
function call(dest, path, method, ...args) {
  return gdbus(['call', '--session', '--dest', dest, '--object-path', path, '--method', method, '--', ...args]);
}

const BUS = ['org.freedesktop.DBus', '/org/freedesktop/DBus'];

/** Unique bus names (":1.23") owned by process `pid`. */
export async function connectionsOf(pid) {
  const out = await call(...BUS, 'org.freedesktop.DBus.ListNames');
  const names = [...out.matchAll(/'(:[^']+)'/g)].map((m) => m[1]);
  const mine = [];
  for (const n of names) {
    try {
      const r = await call(...BUS, 'org.freedesktop.DBus.GetConnectionUnixProcessID', n);
      if (Number(/uint32 (\d+)/.exec(r)?.[1]) === pid) mine.push(n);
    } catch {
      // the name went away meanwhile
    }
  }
  return { all: names, mine };
}

/** Object paths under `root` on `dest` implementing `iface` (walks Introspect). */
async function findObjects(dest, iface, root = '/', depth = 0) {
  if (depth > 12) return [];
  let xml;
  try {
    xml = await gdbus(['introspect', '--session', '--dest', dest, '--object-path', root, '--xml']);
  } catch {
    return [];
  }
  const found = xml.includes(`<interface name="${iface}">`) ? [root] : [];
  for (const m of xml.matchAll(/<node name="([^"]+)"\s*\/?>/g)) {
    const child = root === '/' ? `/${m[1]}` : `${root}/${m[1]}`;
    found.push(...(await findObjects(dest, iface, child, depth + 1)));
  }
  return found;
}

/**
 * The app's tray item: { dest, itemPath, menuPath }. Throws with what was seen on the bus
 * if the process exports no org.kde.StatusNotifierItem.
 */
export async function findTray(pid) {
  const { all, mine } = await connectionsOf(pid);
  if (mine.length === 0) throw new Error(`process ${pid} owns none of the ${all.length} names on the session bus`);
  for (const dest of mine) {
    for (const itemPath of await findObjects(dest, 'org.kde.StatusNotifierItem')) {
      const r = await call(dest, itemPath, 'org.freedesktop.DBus.Properties.Get', 'org.kde.StatusNotifierItem', 'Menu');
      const menuPath = /objectpath '([^']+)'/.exec(r)?.[1];
      if (!menuPath) throw new Error(`StatusNotifierItem ${dest} ${itemPath} has no Menu property: ${r}`);
      return { dest, itemPath, menuPath };
    }
  }
  throw new Error(`no org.kde.StatusNotifierItem object on the app's connections ${mine.join(', ')}`);
}

function unescape(s) {
  return s.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, e) =>
    e.length > 1 ? String.fromCodePoint(parseInt(e.slice(1), 16)) : e === 'n' ? '\n' : e === 't' ? '\t' : e,
  );
}

/**
 * The menu's items, in order, from com.canonical.dbusmenu.GetLayout:
 * [{ id, label, type, enabled, toggleState }] (the root item 0 left out).
 * Parses gdbus's GVariant text: each item is `(<id>, {<props>}, [<children>])`, and the
 * properties of our items hold no braces.
 */
export async function menuItems(tray) {
  await call(tray.dest, tray.menuPath, 'com.canonical.dbusmenu.AboutToShow', '0').catch(() => {});
  const out = await call(tray.dest, tray.menuPath, 'com.canonical.dbusmenu.GetLayout', '0', '-1', '@as []');
  const items = [];
  for (const m of out.matchAll(/\((\d+), \{([^{}]*)\}/g)) {
    const id = Number(m[1]);
    if (id === 0) continue;
    const props = m[2];
    const str = (k) => {
      const r = new RegExp(`'${k}': <'((?:[^'\\\\]|\\\\.)*)'>`).exec(props);
      return r ? unescape(r[1]) : null;
    };
    const bool = (k) => {
      const r = new RegExp(`'${k}': <(true|false)>`).exec(props);
      return r ? r[1] === 'true' : null;
    };
    const toggle = /'toggle-state': <(-?\d+)>/.exec(props);
    items.push({
      id,
      label: str('label'),
      type: str('type') ?? 'standard',
      enabled: bool('enabled') ?? true,
      toggleState: toggle ? Number(toggle[1]) : null,
    });
  }
  if (items.length === 0) throw new Error(`GetLayout returned no items: ${out.slice(0, 300)}`);
  return items;
}

/** Sends the "clicked" event for item `id`, as a tray host does when the user picks it. */
export async function clickItem(tray, id) {
  const ts = String(Math.floor(Date.now() / 1000) >>> 0);
  await call(tray.dest, tray.menuPath, 'com.canonical.dbusmenu.Event', String(id), 'clicked', '<int32 0>', ts);
}
