// Revision history: every revision, the diff between any two, and one-click
// rollback (after a confirmation).

import { get, request, clusterPath } from './api.js';
import { h, replace, badge, fmtTime } from './dom.js';

export function create(ctx) {
  const root = h('section', { class: 'view', id: 'history' });
  const notice = h('div', { class: 'notices' });
  const list = h('div');
  const compare = h('div', { class: 'card', id: 'compare' });
  const diffBox = h('div', { id: 'diff' });
  root.append(notice, list, compare, diffBox);
  let revisions = [];
  let shownKey = '';

  async function refresh() {
    const page = await get(`${clusterPath(ctx.cluster())}/revisions?limit=200`);
    const key = page.revisions.map((r) => `${r.number}${r.active ? '*' : ''}`).join();
    revisions = page.revisions;
    if (key === shownKey) return; // nothing new: keep the user's selections
    shownKey = key;
    replace(list, table());
    replace(compare, compareForm());
  }

  function table() {
    if (!revisions.length) return h('p', { class: 'empty' }, 'No revisions yet: commit the draft first.');
    const rows = revisions.map((r) => h('tr', { 'data-revision': r.number, class: r.active ? 'active-row' : '' },
      h('td', { class: 'num' }, `#${r.number}`),
      h('td', {}, r.active ? badge('ok', 'active') : '',
        r.kind === 'rollback' ? badge('idle', `rollback to #${r.rollback_of}`) : ''),
      h('td', { class: 'message' }, r.message),
      h('td', {}, r.author),
      h('td', { class: 'muted' }, fmtTime(r.created_at)),
      h('td', { class: 'num' }, `${r.services} / ${r.servers}`),
      h('td', { class: 'actions' },
        h('button', { class: 'small show-diff', onclick: () => showDiff(r.parent, r.number) }, 'Diff'),
        r.active ? '' : h('button', { class: 'small danger rollback', onclick: () => rollback(r) }, `Roll back to #${r.number}`))));
    return h('table', { class: 'grid-table' },
      h('thead', {}, h('tr', {}, ['Rev', '', 'Message', 'Author', 'When', 'Svc / RS', ''].map((t, i) => h('th', { class: i === 0 || i === 5 ? 'num' : '' }, t)))),
      h('tbody', {}, rows));
  }

  function compareForm() {
    if (revisions.length < 2) return h('p', { class: 'muted' }, 'Compare any two revisions once there are two.');
    const options = (selected) => revisions.map((r) => h('option', { value: r.number, selected: r.number === selected }, `#${r.number} ${r.message}`.slice(0, 60)));
    const from = h('select', { id: 'diff-from' }, options(revisions[1].number));
    const to = h('select', { id: 'diff-to' }, options(revisions[0].number));
    return h('form', { class: 'form-row', onsubmit: (e) => { e.preventDefault(); showDiff(Number(from.value), Number(to.value)); } },
      h('h3', {}, 'Compare'), 'from ', from, ' to ', to, h('button', { id: 'compare-button', type: 'submit' }, 'Show diff'));
  }

  /** The diff from revision `from` (its parent when null) to `to`. */
  async function showDiff(from, to) {
    const against = from ? `?against=${from}` : '';
    try {
      replace(diffBox, renderDiff(await get(`${clusterPath(ctx.cluster())}/revisions/${to}/diff${against}`)));
    } catch (err) {
      replace(diffBox, h('div', { class: 'notice error', role: 'alert' }, h('b', {}, 'No diff: '), err.message));
    }
  }

  async function rollback(r) {
    const cluster = ctx.cluster();
    const ok = await ctx.confirm(`Roll back ${cluster} to revision #${r.number}?`,
      `A new revision is made with revision #${r.number}'s spec ("${r.message}") and becomes active: every director of ${cluster} applies it.`,
      `Roll back to #${r.number}`);
    if (!ok) return;
    try {
      const { body } = await request('POST', `${clusterPath(cluster)}/rollback`, { body: { to: r.number, expected_base: revisions[0].number } });
      replace(notice, h('div', { class: 'notice ok', role: 'status' }, `Revision #${body.revision.number} restores #${r.number} and is active.`));
    } catch (err) {
      replace(notice, h('div', { class: `notice ${err.conflict ? 'conflict' : 'error'}`, role: 'alert' },
        h('b', {}, err.conflict ? 'Conflict: ' : 'Refused: '), err.message));
    }
    ctx.refreshClusters();
    await refresh();
  }

  return { root, refresh, poll: refresh };
}

const show = (value) => value === undefined || value === null ? '(unset)' : typeof value === 'object' ? JSON.stringify(value) : String(value);

function fieldLines(changes, indent = '') {
  return (changes || []).map((c) => h('div', { class: 'diff-line changed' }, `${indent}~ ${c.field}: ${show(c.from)} → ${show(c.to)}`));
}

function serviceLines(service, sign, cls) {
  return [
    h('div', { class: `diff-line ${cls}` }, `${sign} service ${service.id} ${service.scheduler || ''}`),
    (service.servers || []).map((s) => h('div', { class: `diff-line ${cls}` }, `${sign}   ${s.id || s.address} ${s.forwarding} weight ${s.weight}`)),
  ];
}

export function renderDiff(view) {
  const d = view.diff;
  const lines = [
    d.services_added.map((s) => serviceLines(s, '+', 'added')),
    d.services_removed.map((s) => serviceLines(s, '-', 'removed')),
    d.services_changed.map((s) => [
      h('div', { class: 'diff-line' }, `  service ${s.id}`),
      fieldLines(s.changes, '  '),
      s.servers_added.map((rs) => h('div', { class: 'diff-line added' }, `+   ${rs.id || rs.address} ${rs.forwarding} weight ${rs.weight}`)),
      s.servers_removed.map((rs) => h('div', { class: 'diff-line removed' }, `-   ${rs.id || rs.address} ${rs.forwarding} weight ${rs.weight}`)),
      s.servers_changed.map((rs) => [h('div', { class: 'diff-line' }, `    ${rs.id}`), fieldLines(rs.changes, '    ')]),
    ]),
    fieldLines(d.timeouts), fieldLines(d.sync_daemons),
  ].flat(Infinity);
  return h('div', { class: 'card' },
    h('h3', {}, `Diff #${view.from || '∅'} → #${view.to}`),
    lines.length ? h('pre', { class: 'diff' }, lines) : h('p', { class: 'muted' }, 'No difference.'));
}
