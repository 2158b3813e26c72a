// The active revision: its services and real servers with live counters,
// and plots of connections and traffic per real server over recent minutes.

import { get, clusterPath } from './api.js';
import { h, replace, badge, fmtNum, fmtTime } from './dom.js';
import { lineChart } from './chart.js';

const SPAN_MS = 10 * 60 * 1000;

/** Counter samples per cluster, newest last: [{t, directors: [DirectorCounters]}]. */
const history = new Map();

function remember(cluster, directors) {
  const samples = history.get(cluster) || [];
  const at = directors.map((d) => d.counters.at).join();
  if (samples.length && samples[samples.length - 1].at === at) return samples;
  samples.push({ t: Date.now(), at, directors });
  while (samples.length && samples[0].t < Date.now() - SPAN_MS) samples.shift();
  history.set(cluster, samples);
  return samples;
}

export function create(ctx) {
  const root = h('section', { class: 'view', id: 'overview' });
  let revision = null;

  async function refresh() {
    const cluster = ctx.cluster();
    const view = ctx.clusterView();
    if (!view) return;
    if (view.active_revision && (!revision || revision.number !== view.active_revision || revision.cluster !== cluster)) {
      revision = await get(`${clusterPath(cluster)}/revisions/${view.active_revision}`);
    }
    if (!view.active_revision) revision = null;
    let counters = [];
    try { counters = await get(`${clusterPath(cluster)}/counters`); } catch (err) { if (err.status !== 404) throw err; }
    const samples = remember(cluster, counters);
    replace(root, render(view, revision, counters, samples));
  }

  return { root, refresh };
}

function render(view, revision, counters, samples) {
  if (!revision) {
    return h('div', { class: 'empty' },
      h('p', {}, `Cluster ${view.name} has no active revision yet.`),
      h('p', {}, 'Add services and real servers in the Draft tab, then commit.'));
  }
  const head = h('div', { class: 'title-row' },
    h('h2', {}, 'Active revision ', h('span', { id: 'active-number' }, `#${revision.number}`)),
    h('span', { class: 'muted' }, `${revision.message || '(no message)'} — ${revision.author}, ${fmtTime(revision.created_at)}`),
    counters.length
      ? badge('ok', `live: ${counters.map((d) => d.director).join(', ')}`)
      : badge('idle', 'no director reports counters'));
  const services = (revision.spec.services || []).map((service) => serviceCard(service, counters, samples));
  return [head, services.length ? services : h('p', { class: 'empty' }, 'This revision has no services.')];
}

/** Live counters of one real server on every director that reports it. */
function liveOf(counters, serviceId, serverId) {
  return counters.flatMap((d) => {
    const service = d.counters.services.find((s) => s.service === serviceId);
    const server = service && service.servers.find((s) => s.server === serverId);
    return server ? [{ director: d.director, ...server }] : [];
  });
}

function sum(list, pick) { return list.reduce((total, item) => total + pick(item), 0); }

function serviceCard(service, counters, samples) {
  const id = service.id;
  const persistence = service.persistence ? ` persistent ${service.persistence.timeout ?? ''}s` : '';
  const rows = (service.servers || []).map((server) => {
    const live = liveOf(counters, id, server.id);
    const has = live.length > 0;
    const kernelWeight = has ? [...new Set(live.map((l) => l.weight))].join('/') : '—';
    const weightDiffers = has && live.some((l) => l.weight !== server.weight);
    return h('tr', { 'data-server': server.id },
      h('td', { class: 'mono' }, server.id),
      h('td', {}, server.forwarding),
      h('td', { class: 'num weight' }, String(server.weight)),
      h('td', { class: `num kernel-weight ${weightDiffers ? 'warn-text' : ''}` }, kernelWeight),
      h('td', { class: 'num active-conns' }, has ? fmtNum(sum(live, (l) => l.active_conns)) : '—'),
      h('td', { class: 'num' }, has ? fmtNum(sum(live, (l) => l.inactive_conns)) : '—'),
      h('td', { class: 'num' }, has ? fmtNum(sum(live, (l) => l.traffic.conns)) : '—'),
      h('td', { class: 'num' }, has ? fmtNum(sum(live, (l) => l.traffic.cps)) : '—'),
      h('td', { class: 'num' }, has ? fmtNum(sum(live, (l) => l.traffic.in_bps), true) + '/s' : '—'),
      h('td', { class: 'num' }, has ? fmtNum(sum(live, (l) => l.traffic.out_bps), true) + '/s' : '—'));
  });
  const table = h('table', { class: 'grid-table' },
    h('thead', {}, h('tr', {},
      ['Real server', 'Fwd', 'Weight', 'Kernel wt', 'Active', 'Inactive', 'Conns', 'Conn/s', 'In', 'Out'].map((t, i) => h('th', { class: i > 1 ? 'num' : '' }, t)))),
    h('tbody', {}, rows));
  const servers = (service.servers || []).map((s) => s.id);
  const plots = counters.length ? h('div', { class: 'plots' },
    lineChart('Active connections', seriesOf(samples, id, servers, (s) => s.active_conns), { spanMs: SPAN_MS }),
    lineChart('New connections/s', seriesOf(samples, id, servers, (s) => s.traffic.cps), { spanMs: SPAN_MS }),
    lineChart('Traffic in+out', seriesOf(samples, id, servers, (s) => s.traffic.in_bps + s.traffic.out_bps), { spanMs: SPAN_MS, bytes: true, unit: '/s' })) : null;
  return h('article', { class: 'card service', 'data-service': id },
    h('header', {}, h('h3', { class: 'mono' }, id), h('span', { class: 'muted' }, `${service.scheduler || 'wlc'}${persistence}`)),
    table, plots);
}

function seriesOf(samples, serviceId, servers, pick) {
  return servers.map((server) => ({
    name: server,
    points: samples.map((sample) => [sample.t, sum(liveOf(sample.directors, serviceId, server), pick)]),
  }));
}
