// API keys (admin) and consumer sessions.

import {get, post, del, seg} from '../api.js';
import {h, replace, table, statusBadge, fmtTime, errorBox, notice, section, field, button, copyable, toast} from '../dom.js';

const SCOPES = ['webhooks:read', 'webhooks:write', 'events:write', 'connections:write', 'admin'];

export async function render(main, params, ctx) {
  const keys = h('div');
  const sessions = h('div');
  replace(main, h('h1', null, 'Keys & sessions'), section('API keys', keys), section('Consumer sessions', sessions));
  await Promise.all([drawKeys(keys), drawSessions(sessions, ctx.route.query.get('consumer') || '')]);
}

async function drawKeys(el) {
  let list;
  try {
    list = (await get('/admin/api-keys')).data || [];
  } catch (err) {
    replace(el, err.status === 403 ? notice('Managing keys needs an admin key.', 'warn', {testid: 'keys-forbidden'}) : errorBox(err));
    return;
  }
  const out = h('div');
  const name = h('input', {required: true, placeholder: 'billing-service', testid: 'key-name'});
  const consumer = h('input', {placeholder: 'none: acts for the application', testid: 'key-consumer'});
  const boxes = SCOPES.map(s => h('label', {class: 'check'}, h('input', {type: 'checkbox', value: s, checked: s === 'webhooks:read'}), ' ' + s));
  const form = h('form', {class: 'form', testid: 'key-create', onsubmit: async (e) => {
    e.preventDefault();
    const body = {name: name.value.trim(), scopes: boxes.map(b => b.querySelector('input')).filter(i => i.checked).map(i => i.value)};
    if (consumer.value.trim()) body.consumer_id = consumer.value.trim();
    try {
      const k = (await post('/admin/api-keys', body)).data;
      replace(out, h('div', {class: 'alert alert-ok', testid: 'key-created'}, h('p', null, 'Key ' + k.name + ' (shown once):'), copyable(k.key, {testid: 'new-key'})));
      drawKeysTable();
    } catch (err) {
      replace(out, errorBox(err, {testid: 'key-error'}));
    }
  }}, h('div', {class: 'grid2'}, field('Name', name), field('Consumer', consumer, 'binds the key to one consumer (never admin)')),
  h('div', {class: 'checks'}, boxes), h('button', {type: 'submit', class: 'btn btn-primary', testid: 'key-submit'}, 'Create key'), out);

  const tableEl = h('div');
  async function drawKeysTable() {
    const rows = (await get('/admin/api-keys')).data || [];
    replace(tableEl, keyTable(rows, drawKeysTable));
  }
  replace(tableEl, keyTable(list, drawKeysTable));
  replace(el, tableEl, h('h3', null, 'New key'), form);
}

function keyTable(rows, redraw) {
  return table([
    {title: 'name', cell: k => k.name},
    {title: 'id', cell: k => h('span', {class: 'mono'}, k.id)},
    {title: 'scopes', cell: k => (k.scopes || []).join(', ')},
    {title: 'consumer', cell: k => k.consumer_id || '—'},
    {title: 'status', cell: k => statusBadge(k.status || 'active')},
    {title: 'created', cell: k => fmtTime(k.created_at)},
    {title: '', cell: k => k.revoked_at ? '' : button('Revoke', async () => {
      await del('/admin/api-keys/' + seg(k.id));
      toast('Key revoked');
      redraw();
    }, {class: 'btn btn-small btn-danger', confirm: 'Click again to revoke'})},
  ], rows, {testid: 'keys', empty: 'No stored keys (SWITCHBOARD_API_KEY is never listed).'});
}

async function drawSessions(el, initial) {
  const consumer = h('input', {value: initial, required: true, placeholder: 'acme', testid: 'sessions-consumer'});
  const out = h('div');
  const listEl = h('div');
  async function load() {
    const c = consumer.value.trim();
    if (!c) return;
    try {
      const rows = (await get('/vault/sessions', {consumer: c})).data || [];
      replace(listEl, table([
        {title: 'session', cell: s => h('span', {class: 'mono'}, s.id)},
        {title: 'scopes', cell: s => (s.scopes || []).join(', ')},
        {title: 'created', cell: s => fmtTime(s.created_at)},
        {title: 'expires', cell: s => fmtTime(s.expires_at)},
        {title: '', cell: s => button('Revoke', async () => {
          await del('/vault/sessions/' + seg(s.id), {consumer: c});
          toast('Session revoked');
          load();
        }, {class: 'btn btn-small btn-danger'})},
      ], rows, {testid: 'sessions', empty: 'No live sessions for ' + c + '.'}));
    } catch (err) {
      replace(listEl, errorBox(err));
    }
  }
  const form = h('form', {class: 'filters', onsubmit: (e) => {
    e.preventDefault();
    load();
  }}, field('Consumer id', consumer), h('button', {type: 'submit', class: 'btn'}, 'Show sessions'),
  button('New session link', async () => {
    const c = consumer.value.trim();
    if (!c) throw new Error('name the consumer first');
    const s = (await post('/vault/sessions', {}, {consumer: c})).data;
    replace(out, h('div', {class: 'alert alert-ok', testid: 'session-created'},
      h('p', null, 'Portal link for ' + c + ' until ' + fmtTime(s.expires_at) + ' (a credential: only for this consumer):'),
      copyable(s.session_uri, {testid: 'session-uri'})));
    load();
  }, {testid: 'session-create'}));
  replace(el, form, out, listEl);
  await load();
}
