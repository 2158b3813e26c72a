// The draft: add, edit and remove services and real servers, then commit
// with a message. Every edit sends the draft's ETag in If-Match, so an edit
// made on a stale copy is refused (412) and shown as a conflict, never
// silently applied over someone else's.

import { request, clusterPath, seg } from './api.js';
import { h, replace, badge, fmtTime } from './dom.js';

const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];
const FORWARDING = ['nat', 'dr', 'tun'];

export function create(ctx) {
  const root = h('section', { class: 'view', id: 'draft' });
  const notice = h('div', { class: 'notices' });
  const body = h('div');
  root.append(notice, body);
  let draft = null;

  async function load() {
    const { body: view } = await request('GET', `${clusterPath(ctx.cluster())}/draft`);
    draft = view;
    replace(body, render());
  }

  function say(kind, ...text) {
    replace(notice, h('div', { class: `notice ${kind}`, role: 'alert' }, ...text,
      h('button', { class: 'link', onclick: () => replace(notice) }, 'dismiss')));
  }

  /** Runs one edit against the draft's ETag, then shows the draft as it now is. */
  async function edit(method, path, payload, done) {
    try {
      const opts = { ifMatch: draft.etag };
      if (payload !== undefined) {
        opts.body = payload;
        if (method === 'PATCH') opts.contentType = 'application/merge-patch+json';
      }
      await request(method, `${clusterPath(ctx.cluster())}/draft${path}`, opts);
      replace(notice);
      if (done) say('ok', done);
    } catch (err) {
      if (err.status === 412) {
        say('conflict', h('b', {}, 'Conflict: '), `someone changed the draft since you loaded it (version ${draft.version}). `,
          'Your change was not applied. The latest draft is shown below: check it and make your change again.');
      } else {
        say('error', h('b', {}, 'Refused: '), err.message, err.field ? ` (field: ${err.field})` : '');
      }
    }
    await load();
    ctx.refreshClusters();
  }

  async function commit(message) {
    try {
      const { body: outcome } = await request('POST', `${clusterPath(ctx.cluster())}/revisions`, {
        body: { message, expected_base: draft.base_revision ?? 0 },
        ifMatch: draft.etag,
      });
      const r = outcome.revision;
      say('ok', outcome.created ? `Committed revision ${r.number}` : `Nothing new: revision ${r.number} already has this spec`,
        r.active ? ' (active).' : '.');
    } catch (err) {
      if (err.conflict) {
        say('conflict', h('b', {}, 'Conflict: '), err.message,
          ' Nothing was committed. The latest draft is shown below: review it and commit again.');
      } else {
        say('error', h('b', {}, 'Commit refused: '), err.message, err.field ? ` (field: ${err.field})` : '');
      }
    }
    await load();
    ctx.refreshClusters();
  }

  function render() {
    const services = draft.spec.services || [];
    return [
      h('div', { class: 'title-row' },
        h('h2', {}, 'Draft'),
        h('span', { class: 'muted' }, `version ${draft.version}, based on revision ${draft.base_revision ?? '—'}, changed by ${draft.updated_by} ${fmtTime(draft.updated_at)}`),
        draft.dirty ? badge('warn', 'uncommitted changes') : badge('idle', 'same as latest revision')),
      services.map(serviceCard),
      addServiceForm(),
      commitForm(),
    ];
  }

  function serviceCard(service) {
    const base = `/services/${seg(service.id)}`;
    const scheduler = select('scheduler', SCHEDULERS, service.scheduler || 'wlc');
    scheduler.addEventListener('change', () => edit('PATCH', base, { scheduler: scheduler.value }, `Scheduler of ${service.id} is now ${scheduler.value}.`));
    const remove = async () => {
      if (await ctx.confirm(`Remove service ${service.id}?`, `It and its ${(service.servers || []).length} real servers leave the draft (nothing changes on directors until you commit).`, 'Remove')) {
        edit('DELETE', base, undefined, `Removed ${service.id}.`);
      }
    };
    const rows = (service.servers || []).map((server) => serverRow(base, server));
    return h('article', { class: 'card service', 'data-service': service.id },
      h('header', {}, h('h3', { class: 'mono' }, service.id), h('label', {}, 'scheduler ', scheduler),
        h('button', { class: 'danger small remove-service', onclick: remove }, 'Remove service')),
      h('table', { class: 'grid-table' },
        h('thead', {}, h('tr', {}, ['Real server', 'Forwarding', 'Weight', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, rows, addServerRow(base, service))));
  }

  function serverRow(base, server) {
    const path = `${base}/servers/${seg(server.id)}`;
    const weight = h('input', { name: 'weight', type: 'number', min: 0, max: 65535, value: server.weight, class: 'narrow' });
    const forwarding = select('forwarding', FORWARDING, server.forwarding);
    const save = () => edit('PATCH', path, { weight: Number(weight.value), forwarding: forwarding.value }, `Saved ${server.id}.`);
    const remove = async () => {
      if (await ctx.confirm(`Remove real server ${server.id}?`, 'It leaves the draft; commit to take it out of service.', 'Remove')) {
        edit('DELETE', path, undefined, `Removed ${server.id}.`);
      }
    };
    return h('tr', { 'data-server': server.id },
      h('td', { class: 'mono' }, server.id), h('td', {}, forwarding), h('td', {}, weight),
      h('td', { class: 'actions' }, h('button', { class: 'small save-server', onclick: save }, 'Save'),
        h('button', { class: 'small danger remove-server', onclick: remove }, 'Remove')));
  }

  function addServerRow(base, service) {
    const address = h('input', { name: 'address', placeholder: '172.25.0.31', required: true });
    const port = h('input', { name: 'port', type: 'number', min: 0, max: 65535, placeholder: String(service.port ?? ''), class: 'narrow' });
    const forwarding = select('forwarding', FORWARDING, 'nat');
    const weight = h('input', { name: 'weight', type: 'number', min: 0, max: 65535, value: 1, class: 'narrow' });
    const add = (event) => {
      event.preventDefault();
      const server = { address: address.value.trim(), forwarding: forwarding.value, weight: Number(weight.value) };
      if (port.value !== '') server.port = Number(port.value);
      edit('POST', `${base}/servers`, server, `Added ${server.address} to ${service.id}.`);
    };
    for (const input of [address, port, weight]) {
      input.addEventListener('keydown', (event) => { if (event.key === 'Enter') add(event); });
    }
    return h('tr', { class: 'add-row' },
      h('td', {}, address, ' : ', port),
      h('td', {}, forwarding), h('td', {}, weight),
      h('td', { class: 'actions' }, h('button', { class: 'small add-server', onclick: add }, 'Add real server')));
  }

  function addServiceForm() {
    const protocol = select('protocol', ['tcp', 'udp', 'sctp'], 'tcp');
    const address = h('input', { id: 'svc-address', name: 'address', placeholder: '192.168.31.100', required: true });
    const port = h('input', { id: 'svc-port', name: 'port', type: 'number', min: 0, max: 65535, value: 80, class: 'narrow' });
    const scheduler = select('scheduler', SCHEDULERS, 'wrr');
    protocol.id = 'svc-protocol';
    scheduler.id = 'svc-scheduler';
    const add = (event) => {
      event.preventDefault();
      const service = { protocol: protocol.value, address: address.value.trim(), port: Number(port.value), scheduler: scheduler.value };
      edit('POST', '/services', service, `Added service ${service.protocol}:${service.address}:${service.port}.`);
    };
    return h('form', { class: 'card form-row', id: 'add-service-form', onsubmit: add },
      h('h3', {}, 'Add a virtual service'), protocol, address, ' : ', port, h('label', {}, 'scheduler ', scheduler),
      h('button', { id: 'add-service', type: 'submit' }, 'Add service'));
  }

  function commitForm() {
    const message = h('input', { id: 'commit-message', name: 'message', placeholder: 'Why: it goes into the history', required: true, class: 'wide' });
    const submit = (event) => {
      event.preventDefault();
      commit(message.value.trim());
    };
    return h('form', { class: 'card form-row commit', onsubmit: submit },
      h('h3', {}, 'Commit'), message,
      h('button', { id: 'commit', type: 'submit', class: 'primary', disabled: !draft.dirty }, 'Commit draft'));
  }

  /** The list only notices a change made elsewhere; reloading is the user's call. */
  function poll() {
    const view = ctx.clusterView();
    if (draft && view && view.draft_etag !== draft.etag && !notice.querySelector('.stale')) {
      replace(notice, h('div', { class: 'notice conflict stale', role: 'status' },
        'The draft was changed elsewhere since you loaded it. ',
        h('button', { class: 'small', onclick: () => { replace(notice); load(); } }, 'Load the latest draft')));
    }
  }

  return { root, refresh: load, poll };
}

function select(name, options, value) {
  return h('select', { name }, options.map((o) => h('option', { value: o, selected: o === value }, o)));
}
