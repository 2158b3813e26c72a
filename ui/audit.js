// The audit log, filtered by actor, action, outcome and time, for this
// cluster or all of them.

import { get } from './api.js';
import { h, replace, badge, fmtTime } from './dom.js';

export function create(ctx) {
  const root = h('section', { class: 'view', id: 'audit' });
  const actor = h('input', { id: 'audit-actor', placeholder: 'actor' });
  const action = h('input', { id: 'audit-action', placeholder: 'action, e.g. revision.commit', list: 'audit-actions' });
  const outcome = h('select', { id: 'audit-outcome' }, ['', 'ok', 'refused', 'failed'].map((o) => h('option', { value: o }, o || 'any outcome')));
  const since = h('input', { id: 'audit-since', type: 'datetime-local' });
  const everywhere = h('input', { id: 'audit-all', type: 'checkbox' });
  const actions = h('datalist', { id: 'audit-actions' });
  const table = h('div');
  const form = h('form', { class: 'card form-row filters', onsubmit: (e) => { e.preventDefault(); refresh(); } },
    actor, action, outcome, h('label', {}, 'since ', since), h('label', {}, everywhere, ' all clusters'),
    h('button', { type: 'submit' }, 'Filter'), actions);
  for (const input of [outcome, everywhere]) input.addEventListener('change', () => refresh());
  root.append(form, table);

  async function refresh() {
    const query = new URLSearchParams({ limit: '200' });
    if (!everywhere.checked && ctx.cluster()) query.set('cluster', ctx.cluster());
    if (actor.value.trim()) query.set('actor', actor.value.trim());
    if (action.value.trim()) query.set('action', action.value.trim());
    if (since.value) query.set('since', new Date(since.value).toISOString());
    let entries = await get(`/v1/audit?${query}`);
    replace(actions, [...new Set(entries.map((e) => e.action))].sort().map((a) => h('option', { value: a })));
    if (outcome.value) entries = entries.filter((e) => e.outcome === outcome.value);
    replace(table, render(entries));
  }

  /** Live too, unless the user is reading an entry's detail or typing a filter. */
  function poll() {
    if (root.querySelector('details[open]') || root.contains(document.activeElement)) return Promise.resolve();
    return refresh();
  }

  return { root, refresh, poll };
}

function render(entries) {
  if (!entries.length) return h('p', { class: 'empty' }, 'No entries match.');
  const kind = { ok: 'ok', refused: 'warn', failed: 'bad' };
  const rows = entries.map((e) => h('tr', {},
    h('td', { class: 'muted nowrap' }, fmtTime(e.at)),
    h('td', {}, e.actor),
    h('td', { class: 'mono' }, e.action),
    h('td', {}, e.cluster || '—'),
    h('td', { class: 'mono' }, e.target),
    h('td', {}, badge(kind[e.outcome] || 'idle', e.outcome)),
    h('td', {}, h('details', {}, h('summary', {}, 'detail'), h('pre', {}, JSON.stringify(e.detail, null, 2))))));
  return h('table', { class: 'grid-table audit' },
    h('thead', {}, h('tr', {}, ['When', 'Actor', 'Action', 'Cluster', 'Target', 'Outcome', ''].map((t) => h('th', {}, t)))),
    h('tbody', {}, rows));
}
