// The consumer portal: what a session (POST /vault/sessions) may see and do
// for its one consumer. Its connections, connecting a provider through a
// form generated from the connector's schemas, a manual provider's setup
// (webhook URL, signing secret, steps), a connection's status and recent
// events, and disconnecting. Every call carries the session token; the
// hub scopes the answers to the session's consumer.

import {get, post, del, seg} from '../api.js';
import {h, replace, table, statusBadge, fmtTime, errorBox, notice, section, button, copyable, toast} from '../dom.js';
import {schemaForm} from '../schemaform.js';

export async function render(main, params) {
  if (params[0] === 'connect' && params[1]) return connect(main, params[1]);
  if (params[0] === 'connection' && params[1]) return connection(main, params[1]);
  return home(main);
}

async function home(main) {
  const [conns, connectors] = await Promise.all([
    get('/vault/connections', {query: {limit: 200}}).then(r => r.data || []),
    get('/connector/connectors').then(r => r.data || []),
  ]);
  const names = Object.fromEntries(connectors.map(c => [c.id, c.name]));
  replace(main,
    h('h1', null, 'Your connections'),
    section(null, table([
      {title: 'provider', cell: c => h('a', {href: '#/portal/connection/' + seg(c.id), testid: 'portal-connection'}, names[c.service_id] || c.service_id)},
      {title: 'status', cell: c => statusBadge(c.status)},
      {title: 'connected', cell: c => fmtTime(c.created_at)},
    ], conns, {testid: 'portal-connections', empty: 'Nothing connected yet: pick a provider below.'})),
    section('Connect a provider',
      h('div', {class: 'providers', testid: 'providers'}, connectors.map(c => h('a', {class: 'provider', href: '#/portal/connect/' + seg(c.id), testid: 'provider-' + c.id},
        h('strong', null, c.name),
        h('span', {class: 'muted'}, (c.unified_apis || []).join(', ')),
        c.status !== 'running' ? statusBadge(c.status) : null)))));
}

function isManual(c) {
  return c.webhook_support && c.webhook_support.managed_via === 'manual';
}

async function connect(main, serviceID) {
  const c = (await get('/connector/connectors/' + seg(serviceID))).data;
  const settings = schemaForm(c.settings_schema, {prefix: 'settings'});
  const credentials = schemaForm(c.credentials_schema, {prefix: 'credentials'});
  const out = h('div');
  const manual = isManual(c);
  const form = h('form', {class: 'form', testid: 'connect-form', onsubmit: async (e) => {
    e.preventDefault();
    let body;
    try {
      body = {service_id: c.id, settings: settings.value(), credentials: credentials.value()};
    } catch (err) {
      replace(out, errorBox({message: err.message}));
      return;
    }
    const submit = e.target.querySelector('button[type=submit]');
    submit.disabled = true;
    try {
      const conn = (await post('/vault/connections', body)).data;
      replace(main, connected(c, conn));
    } catch (err) {
      replace(out, errorBox(err, {testid: 'connect-error'}));
    } finally {
      submit.disabled = false;
    }
  }},
  settings.empty ? null : h('h3', null, 'Settings'), settings.el,
  credentials.empty ? null : h('h3', null, 'Credentials'),
  manual && !credentials.empty ? h('p', {class: 'muted'}, 'Leave the signing secret empty and the hub generates one for you to enter in ' + c.name + '.') : null,
  credentials.el,
  h('button', {type: 'submit', class: 'btn btn-primary', testid: 'connect-submit'}, 'Connect ' + c.name), out);
  replace(main,
    h('p', null, h('a', {href: '#/portal'}, '← Your connections')),
    h('h1', null, 'Connect ' + c.name),
    c.status !== 'running' ? notice(c.name + ' is ' + c.status + ' on this hub right now; connecting may fail.', 'warn') : null,
    section(null,
      manual
        ? h('p', null, c.name + ' sends its webhooks to an address you enter in ' + c.name + ' yourself. Connect first; the next page shows the address, the signing secret and the steps.')
        : h('p', null, 'Enter your ' + c.name + ' API credentials. The hub registers its webhooks with ' + c.name + ' for you.'),
      form));
}

// manualSteps are the setup steps of a provider configured by hand.
function manualSteps(c, conn) {
  const steps = [
    h('li', null, 'Sign in to ' + c.name + ' as an administrator and open Settings → Webhooks.'),
    h('li', null, 'Create an outgoing webhook with this URL:', copyable(conn.webhook_url || '', {testid: 'webhook-url'})),
    h('li', null, 'Choose the events to send (all of them is fine: the hub ignores nothing it can map).'),
  ];
  if (conn.signing_secret) {
    steps.push(h('li', null, 'Enter this signing secret (shown only now; keep it in ' + c.name + ', not elsewhere):', copyable(conn.signing_secret, {testid: 'signing-secret'})));
  } else {
    steps.push(h('li', null, 'Enter the signing secret you gave when connecting (it is never shown again).'));
  }
  steps.push(h('li', null, 'Save. Events appear under this connection as soon as ' + c.name + ' sends them.'));
  return h('ol', {class: 'steps', testid: 'manual-steps'}, steps);
}

function connected(c, conn) {
  return h('div', {testid: 'connected'},
    h('p', null, h('a', {href: '#/portal'}, '← Your connections')),
    h('h1', null, c.name + ' connected ', statusBadge(conn.status)),
    isManual(c)
      ? section('Finish in ' + c.name, manualSteps(c, conn))
      : section(null, h('p', null, conn.registered ? 'The hub registered its webhooks with ' + c.name + '. Nothing else to do.' : (conn.message || 'Connected.'))),
    h('p', null, h('a', {class: 'btn', href: '#/portal/connection/' + seg(conn.id), testid: 'connection-link'}, 'View the connection')));
}

async function connection(main, id) {
  let conn;
  try {
    conn = (await get('/vault/connections/' + seg(id))).data;
  } catch (err) {
    replace(main, h('p', null, h('a', {href: '#/portal'}, '← Your connections')), errorBox(err, {testid: 'connection-error'}));
    return;
  }
  const c = (await get('/connector/connectors/' + seg(conn.service_id)).catch(() => ({data: {id: conn.service_id, name: conn.service_id}}))).data;
  const eventsEl = h('div');
  replace(main,
    h('p', null, h('a', {href: '#/portal'}, '← Your connections')),
    h('h1', null, c.name + ' ', statusBadge(conn.status)),
    section(null,
      h('dl', {class: 'props'},
        h('dt', null, 'connection'), h('dd', {class: 'mono', testid: 'connection-id'}, conn.id),
        h('dt', null, 'status'), h('dd', {testid: 'connection-status'}, conn.status),
        h('dt', null, 'connected'), h('dd', null, fmtTime(conn.created_at)),
        conn.last_polled_at ? [h('dt', null, 'last polled'), h('dd', null, fmtTime(conn.last_polled_at))] : null,
        conn.poll_error ? [h('dt', null, 'poll error'), h('dd', null, conn.poll_error)] : null),
      isManual(c) && conn.webhook_url ? [h('h3', null, 'Webhook address for ' + c.name), copyable(conn.webhook_url, {testid: 'webhook-url'})] : null,
      h('div', {class: 'actions'}, button('Disconnect', async () => {
        await del('/vault/connections/' + seg(id));
        toast('Disconnected');
        window.location.hash = '#/portal';
      }, {class: 'btn btn-danger', testid: 'disconnect', confirm: 'Click again to disconnect'}))),
    section('Recent events', eventsEl));
  try {
    const evs = ((await get('/webhook/events', {query: {'filter[service_id]': conn.service_id, limit: 50}})).data || [])
      .filter(e => !e.connection_id || e.connection_id === conn.id);
    replace(eventsEl, table([
      {title: 'event', cell: e => e.event_type},
      {title: 'entity', cell: e => (e.entity_type || '') + ' ' + e.entity_id},
      {title: 'occurred', cell: e => fmtTime(e.occurred_at)},
    ], evs.slice(0, 20), {testid: 'connection-events', empty: 'No events from ' + c.name + ' yet.'}));
  } catch (err) {
    replace(eventsEl, err.status === 403 ? notice('This link may not read events.', 'info') : errorBox(err));
  }
}
