// Tiny DOM helpers. Never build markup with innerHTML: the CSP forbids
// inline styles and textContent keeps host-provided strings inert.

export function $<T extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document): T {
  const el = root.querySelector<T>(sel);
  if (!el) throw new Error(`missing element ${sel}`);
  return el;
}

export function $all<T extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document): T[] {
  return Array.from(root.querySelectorAll<T>(sel));
}

type Child = Node | string | null | undefined;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { class?: string; text?: string; title?: string } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  if (props.title !== undefined) el.title = props.title;
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** Fill a `.tile` (value + optional sub line). */
export function setTile(id: string, value: string, sub = ''): void {
  const tile = document.getElementById(id);
  if (!tile) return;
  const v = tile.querySelector('.tile-value');
  const s = tile.querySelector('.tile-sub');
  if (v && v.textContent !== value) v.textContent = value;
  if (s && s.textContent !== sub) s.textContent = sub;
}

/** Set text and one of a set of state classes. */
export function setStatusText(el: HTMLElement, text: string, cls: string, all: readonly string[]): void {
  el.textContent = text;
  for (const c of all) el.classList.toggle(c, c === cls);
}
