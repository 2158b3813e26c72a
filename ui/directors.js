// Directors of the cluster: the revision each applied against the one it
// should run, and whether it is healthy. Fields only agents report (a
// heartbeat, VRRP state) show when present; a banner says when a VRRP
// instance has no master or two.

import { get, clusterPath } from './api.js';
import { h, replace, badge, fmtTime, ago } from './dom.js';

export function create(ctx) {
  const root = h('section', { class: 'view', id: 'directors' });

  async function refresh() {
    const path = clusterPath(ctx.cluster());
    // An older server has no HA view: the directors alone then.
    const [directors, ha] = await Promise.all([
      get(`${path}/directors`),
      get(`${path}/ha`).catch(() => null),
    ]);
    replace(root, haBanners(ha), render(directors));
  }

  return { root, refresh, poll: refresh };
}

const HEALTH_KIND = { ok: 'ok', applying: 'warn', drift: 'warn', refused: 'bad', failed: 'bad', stale: 'bad' };

/** Its state in one word, as the server says it (older servers: derived here). */
function health(d) {
  if (d.health) return badge(HEALTH_KIND[d.health] || 'idle', d.health);
  if (d.result && d.result !== 'applied') return badge('bad', d.result);
  if (d.drift && d.drift.length) return badge('warn', 'drift');
  return d.in_sync ? badge('ok', 'ok') : badge('warn', 'applying');
}

/** The latest sign of life: a heartbeat (agents), else the last drift check or apply. */
function lastSeen(d) {
  if (d.last_heartbeat) return `heartbeat ${ago(d.last_heartbeat)}`;
  if (d.checked_at) return `checked ${ago(d.checked_at)}`;
  if (d.applied_at) return `applied ${ago(d.applied_at)}`;
  return '—';
}

const VRRP_KIND = { master: 'ok', backup: 'idle', fault: 'bad', stopped: 'warn' };

/** Its VRRP instances, one badge each: `VI_1 master`. */
function vrrp(d) {
  const instances = (d.ha && d.ha.vrrp) || [];
  if (!instances.length) return '—';
  return instances.map((v) => h('span', { title: `vrid ${v.vrid}, priority ${v.priority}, since ${fmtTime(v.since)}, ${v.transitions} transitions` },
    badge(VRRP_KIND[v.state] || 'idle', `${v.instance} ${v.state}`)));
}

/** A loud line per VRRP instance the server flags: no master, or two. */
function haBanners(ha) {
  if (!ha) return [];
  return ha.instances.flatMap((i) => [
    i.split_brain ? h('div', { class: 'notice error ha-flag', 'data-instance': i.instance },
      `Split brain: ${i.instance} (vrid ${i.vrid}) has ${i.masters.length} masters (${i.masters.join(', ')}); each answers for its VIPs.`) : null,
    i.no_master ? h('div', { class: 'notice error ha-flag', 'data-instance': i.instance },
      `No master: ${i.instance} (vrid ${i.vrid}) has no director in MASTER state; its VIPs are served by none.`) : null,
  ]).filter(Boolean);
}

function render(directors) {
  if (!directors.length) {
    return h('div', { class: 'empty' },
      h('p', {}, 'No director has reported for this cluster yet.'),
      h('p', { class: 'muted' }, 'Run lvsd serve --apply-local on a director, or an lvsd agent.'));
  }
  const desired = (d) => d.desired_revision ?? d.active_revision;
  const lag = (d) => d.lag_revisions ?? (desired(d) != null ? Math.max(0, desired(d) - (d.applied_revision ?? 0)) : null);
  const rows = directors.map((d) => h('tr', { 'data-director': d.name },
    h('td', { class: 'mono' }, d.name),
    h('td', {}, d.mode),
    h('td', { class: 'health' }, health(d), d.in_sync ? badge('ok', 'in sync') : '',
      d.blocked_revision ? badge('bad', `blocked at #${d.blocked_revision}`) : ''),
    h('td', { class: 'num applied' }, d.applied_revision != null ? `#${d.applied_revision}` : '—'),
    h('td', { class: 'num' }, desired(d) != null ? `#${desired(d)}` : '—'),
    h('td', { class: 'num' }, lag(d) ?? '—'),
    h('td', {}, lastSeen(d)),
    h('td', { class: 'muted' }, fmtTime(d.applied_at)),
    h('td', { class: 'vrrp' }, vrrp(d)),
    h('td', {}, d.draining && d.draining.length ? d.draining.map((x) => `${x.server} (${x.active_conns} active)`).join(', ') : '—'),
    d.errors && d.errors.length ? h('td', { class: 'errors' }, d.errors.join('; ')) : h('td', { class: 'muted' }, '—')));
  const numeric = new Set(['Applied', 'Should run', 'Lag']);
  return h('table', { class: 'grid-table' },
    h('thead', {}, h('tr', {}, ['Director', 'Mode', 'Health', 'Applied', 'Should run', 'Lag', 'Last seen', 'Applied at', 'VRRP', 'Draining', 'Errors']
      .map((t) => h('th', { class: numeric.has(t) ? 'num' : '' }, t)))),
    h('tbody', {}, rows));
}
