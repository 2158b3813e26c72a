// Building DOM nodes without innerHTML: text is always text, never markup.

/** h('td', {class: 'num', onclick: fn}, child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else if (key === 'checked') el.checked = !!value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** SVG elements need their namespace. */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A status badge: ok (green), warn (amber), bad (red), idle (grey). */
export function badge(kind, text) {
  return h('span', { class: `badge ${kind}` }, text);
}

export function fmtTime(rfc3339) {
  if (!rfc3339) return '—';
  const d = new Date(rfc3339);
  return isNaN(d) ? rfc3339 : d.toLocaleString(undefined, { hour12: false });
}

export function ago(rfc3339) {
  if (!rfc3339) return '—';
  const s = Math.max(0, (Date.now() - new Date(rfc3339).getTime()) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** 1234567 → 1.2 M (binary units for bytes). */
export function fmtNum(n, bytes = false) {
  if (n === undefined || n === null) return '—';
  const base = bytes ? 1024 : 1000;
  const units = bytes ? ['B', 'KiB', 'MiB', 'GiB', 'TiB'] : ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= base && i < units.length - 1) { v /= base; i++; }
  const text = i === 0 ? String(Math.round(v * 10) / 10) : v.toFixed(v < 10 ? 1 : 0);
  return bytes ? `${text} ${units[i]}` : `${text}${units[i] ? ' ' + units[i] : ''}`;
}
