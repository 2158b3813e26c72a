// The dashboard's shell: clusters, tabs, the token, confirmations, and the
// poll that keeps every view live (every 2 s).

import { get, post, token, whenUnauthenticated, ApiError } from './api.js';
import { h, replace, badge, fmtTime } from './dom.js';
import * as overview from './overview.js';
import * as draft from './draft.js';
import * as history from './history.js';
import * as directors from './directors.js';
import * as audit from './audit.js';

const POLL_MS = 2000;
const TABS = [
  ['overview', 'Active', overview],
  ['draft', 'Draft', draft],
  ['history', 'History', history],
  ['directors', 'Directors', directors],
  ['audit', 'Audit', audit],
];

const $ = (id) => document.getElementById(id);
const state = { clusters: [], cluster: null, tab: 'overview', view: null };

const ctx = {
  cluster: () => state.cluster,
  clusterView: () => state.clusters.find((c) => c.name === state.cluster),
  refreshClusters: () => loadClusters().catch(showError),
  confirm,
};

// --- theme -------------------------------------------------------------------
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $('theme').textContent = theme === 'dark' ? '☀ light' : '☾ dark';
}
$('theme').addEventListener('click', () => {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  localStorage.setItem('lvsd.theme', next);
  applyTheme(next);
});
applyTheme(localStorage.getItem('lvsd.theme') || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));

// --- token -------------------------------------------------------------------
function showTokenState() {
  $('token-button').textContent = token.get() ? 'Token ✓' : 'Token';
}
function askToken(reason) {
  const dialog = $('token-dialog');
  $('token-reason').textContent = reason || '';
  $('token-input').value = token.get();
  if (!dialog.open) dialog.showModal();
  $('token-input').focus();
}
$('token-button').addEventListener('click', () => askToken('The token is kept in this browser tab only (sessionStorage).'));
$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  token.set($('token-input').value);
  $('token-dialog').close();
  showTokenState();
  route();
});
$('token-clear').addEventListener('click', () => { token.set(''); $('token-input').value = ''; showTokenState(); });
whenUnauthenticated((err) => askToken(token.get()
  ? `The server refused this token: ${err.message}`
  : 'This server needs an access token (lvsd token create).'));
showTokenState();

// --- confirmations -------------------------------------------------------------
function confirm(title, text, action) {
  const dialog = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = action;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

// --- status line -------------------------------------------------------------
function showError(err) {
  if (err instanceof ApiError && err.status === 401) return;
  $('live').className = 'live bad';
  $('live').textContent = `offline: ${err.message}`;
}
function showLive() {
  $('live').className = 'live ok';
  $('live').textContent = `live · ${new Date().toLocaleTimeString(undefined, { hour12: false })}`;
}

// --- clusters ----------------------------------------------------------------
async function loadClusters() {
  state.clusters = await get('/v1/clusters');
  const select = $('cluster-select');
  const names = state.clusters.map((c) => c.name).join();
  if (select.dataset.names !== names || select.value !== (state.cluster || '')) {
    replace(select, h('option', { value: '' }, 'all clusters'),
      state.clusters.map((c) => h('option', { value: c.name, selected: c.name === state.cluster }, c.name)));
    select.dataset.names = names;
  }
}
$('cluster-select').addEventListener('change', (e) => { location.hash = e.target.value ? `#/c/${encodeURIComponent(e.target.value)}/${state.tab}` : '#/'; });

function home() {
  const name = h('input', { id: 'new-cluster-name', placeholder: 'name, e.g. web', required: true, pattern: '[a-z0-9][a-z0-9._-]{0,62}' });
  const description = h('input', { id: 'new-cluster-description', placeholder: 'description (optional)', class: 'wide' });
  const notice = h('div', { class: 'notices' });
  const create = async (event) => {
    event.preventDefault();
    try {
      await post('/v1/clusters', { name: name.value.trim(), description: description.value.trim() });
      location.hash = `#/c/${encodeURIComponent(name.value.trim())}/draft`;
    } catch (err) {
      replace(notice, h('div', { class: 'notice error', role: 'alert' }, h('b', {}, 'Refused: '), err.message));
    }
  };
  const cards = state.clusters.map((c) => h('a', { class: 'card cluster-card', href: `#/c/${encodeURIComponent(c.name)}/overview` },
    h('h3', {}, c.name), h('p', { class: 'muted' }, c.description || ''),
    h('p', {}, c.active_revision ? badge('ok', `active #${c.active_revision}`) : badge('idle', 'no active revision'), ' ',
      c.draft_dirty ? badge('warn', 'draft has changes') : '',
      c.pending_confirm ? badge('warn', `awaiting confirmation of #${c.pending_confirm.revision}`) : ''),
    h('p', { class: 'muted' }, `created ${fmtTime(c.created_at)} by ${c.created_by}`)));
  return h('section', { class: 'view', id: 'home' },
    h('h2', {}, 'Clusters'),
    h('div', { class: 'cluster-grid' }, cards.length ? cards : h('p', { class: 'empty' }, 'No clusters yet.')),
    h('form', { class: 'card form-row', onsubmit: create }, h('h3', {}, 'New cluster'), name, description,
      h('button', { id: 'create-cluster', type: 'submit', class: 'primary' }, 'Create cluster')),
    notice);
}

/** What the cluster list shows; it is drawn again only when this changes (keeping what is typed). */
const homeKey = () => JSON.stringify(state.clusters.map((c) => [c.name, c.active_revision, c.draft_dirty, c.pending_confirm]));
function showHome() {
  state.homeKey = homeKey();
  replace($('main'), home());
}

// --- routing -------------------------------------------------------------------
async function route() {
  const match = location.hash.match(/^#\/c\/([^/]+)\/?(\w+)?/);
  state.cluster = match ? decodeURIComponent(match[1]) : null;
  state.tab = match && TABS.some(([id]) => id === match[2]) ? match[2] : 'overview';
  try {
    await loadClusters();
  } catch (err) {
    showError(err);
    return;
  }
  replace($('tabs'), state.cluster ? TABS.map(([id, label]) =>
    h('a', { href: `#/c/${encodeURIComponent(state.cluster)}/${id}`, id: `tab-${id}`, class: id === state.tab ? 'current' : '' }, label)) : []);
  if (!state.cluster) {
    state.view = null;
    showHome();
    showLive();
    return;
  }
  if (!ctx.clusterView()) {
    state.view = null;
    replace($('main'), h('p', { class: 'notice error' }, `No cluster named ${state.cluster}.`));
    return;
  }
  const module = TABS.find(([id]) => id === state.tab)[2];
  state.view = module.create(ctx);
  replace($('main'), state.view.root);
  try {
    await state.view.refresh();
    showLive();
  } catch (err) {
    showError(err);
  }
}

let polling = false;
async function poll() {
  if (polling || document.hidden || $('confirm-dialog').open || $('token-dialog').open) return;
  polling = true;
  try {
    await loadClusters();
    const view = state.view;
    if (view) await (view.poll || (state.tab === 'overview' ? view.refresh : () => {}))();
    else if (!state.cluster && homeKey() !== state.homeKey) showHome();
    showLive();
  } catch (err) {
    showError(err);
  } finally {
    polling = false;
  }
}

window.addEventListener('hashchange', route);
setInterval(poll, POLL_MS);
route();
