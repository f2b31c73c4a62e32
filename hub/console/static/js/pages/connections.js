// Connections per consumer: the consumers (GET /vault/consumers) and one
// consumer's connections, with a portal link for that consumer.

import {get, post, del, seg} from '../api.js';
import {h, replace, table, statusBadge, fmtTime, errorBox, notice, section, field, button, copyable, toast} from '../dom.js';
import {pagedTable} from '../list.js';

export async function render(main, params, ctx) {
  const consumer = params[0] || ctx.route.query.get('consumer') || '';
  const pick = h('input', {value: consumer, placeholder: 'acme', required: true, testid: 'conn-consumer'});
  const picker = h('form', {class: 'filters', testid: 'conn-pick', onsubmit: (e) => {
    e.preventDefault();
    if (pick.value.trim()) window.location.hash = '#/connections/' + seg(pick.value.trim());
  }}, field('Consumer id', pick), h('button', {type: 'submit', class: 'btn', testid: 'conn-show'}, 'Show'));

  const consumers = h('div');
  replace(main, h('h1', null, 'Connections'), section('Consumers', consumers, picker), consumer ? await consumerSection(consumer) : null);

  const list = pagedTable('/vault/consumers', [
    {title: 'consumer', cell: c => h('a', {href: '#/connections/' + seg(c.consumer_id), testid: 'consumer-link'}, c.consumer_id)},
    {title: 'name', cell: c => (c.metadata && (c.metadata.account_name || c.metadata.user_name)) || '—'},
    {title: 'connections', cell: c => String(c.connection_count ?? 0), class: 'num'},
    {title: 'services', cell: c => (c.services || []).join(', ') || '—'},
    {title: 'since', cell: c => fmtTime(c.created_at)},
  ], {testid: 'consumers', empty: 'No consumer has a connection yet.'});
  replace(consumers, list.el);
  await list.reload();
  const err = consumers.querySelector('[data-testid="consumers-error"]');
  if (err && /404|no route/i.test(err.textContent)) {
    replace(consumers, notice('This hub does not list consumers (GET /vault/consumers); type a consumer id.', 'info'));
  }
}

async function consumerSection(consumer) {
  const out = h('div');
  let conns;
  try {
    conns = (await get('/vault/connections', {consumer, query: {limit: 200}})).data || [];
  } catch (err) {
    return section('Consumer ' + consumer, errorBox(err));
  }
  const sessionOut = h('div');
  return section('Consumer ' + consumer,
    table([
      {title: 'connection', cell: c => h('span', {class: 'mono'}, c.id)},
      {title: 'service', cell: c => c.service_id},
      {title: 'status', cell: c => statusBadge(c.status)},
      {title: 'inbound url', cell: c => c.webhook_url ? h('span', {class: 'mono small'}, c.webhook_url) : '—'},
      {title: 'created', cell: c => fmtTime(c.created_at)},
      {title: '', cell: c => button('Delete', async () => {
        await del('/vault/connections/' + seg(c.id), {consumer});
        toast('Connection deleted');
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      }, {class: 'btn btn-small btn-danger', confirm: 'Click again to delete'})},
    ], conns, {testid: 'consumer-connections', empty: 'This consumer has no connections.'}),
    h('div', {class: 'actions'},
      h('a', {class: 'btn', href: '#/events?consumer_id=' + seg(consumer)}, 'Events'),
      button('Open a portal link', async () => {
        const s = (await post('/vault/sessions', {}, {consumer})).data;
        replace(sessionOut, h('div', {class: 'alert alert-ok'},
          h('p', null, 'A session link for ' + consumer + ', valid until ' + fmtTime(s.expires_at) + '. It is a credential: hand it only to this consumer.'),
          copyable(s.session_uri, {testid: 'session-uri'})));
      }, {testid: 'conn-session'})),
    sessionOut, out);
}
