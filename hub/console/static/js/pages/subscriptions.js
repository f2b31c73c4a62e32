// Subscriptions: list, create, and one subscription's page (edit,
// enable/disable, rotate secret, test, delete, success rate and recent
// tries).

import {get, post, patch, del, seg} from '../api.js';
import {h, replace, table, statusBadge, fmtTime, fmtPercent, errorBox, notice, section, field, copyable, button, toast, code} from '../dom.js';
import {pagedTable} from '../list.js';

export async function render(main, params) {
  if (params[0]) return detail(main, params[0]);
  const list = pagedTable('/webhook/webhooks', [
    {title: 'subscription', cell: s => h('a', {href: '#/subscriptions/' + seg(s.id), testid: 'sub-link'}, s.description || s.id)},
    {title: 'status', cell: s => statusBadge(s.status)},
    {title: 'delivery url', cell: s => h('span', {class: 'mono'}, s.delivery_url)},
    {title: 'events', cell: s => s.events.join(', ')},
    {title: 'consumer', cell: s => s.consumer_id || 'application-wide'},
    {title: 'created', cell: s => fmtTime(s.created_at)},
  ], {testid: 'subscriptions', empty: 'No subscriptions yet: create one below.'});
  const created = h('div');
  replace(main, h('h1', null, 'Subscriptions'), section(null, list.el),
    section('New subscription', form(created, list.reload), created));
  await list.reload();
}

function eventsList(text) {
  return text.split(/[\s,]+/).map(s => s.trim()).filter(Boolean);
}

function form(out, reload) {
  const desc = h('input', {name: 'description', testid: 'sub-description'});
  const api = h('input', {name: 'unified_api', value: '*', required: true, testid: 'sub-unified-api'});
  const url = h('input', {name: 'delivery_url', type: 'url', required: true, placeholder: 'https://app.example.com/webhooks', testid: 'sub-url'});
  const events = h('input', {name: 'events', value: '*', required: true, testid: 'sub-events'});
  const consumer = h('input', {name: 'consumer_id', placeholder: 'all consumers', testid: 'sub-consumer'});
  return h('form', {class: 'form', testid: 'sub-create', onsubmit: async (e) => {
    e.preventDefault();
    const body = {description: desc.value || undefined, unified_api: api.value.trim(), status: 'enabled',
      delivery_url: url.value.trim(), events: eventsList(events.value)};
    if (consumer.value.trim()) body.consumer_id = consumer.value.trim();
    try {
      const s = (await post('/webhook/webhooks', body)).data;
      replace(out, h('div', {class: 'alert alert-ok', testid: 'sub-created'},
        h('p', null, 'Created ', h('a', {href: '#/subscriptions/' + seg(s.id), testid: 'sub-created-link'}, s.id),
          '. Its signing secret is shown this once: give it to the receiver.'),
        copyable(s.secret, {testid: 'new-secret'})));
      e.target.reset();
      api.value = '*';
      events.value = '*';
      reload();
    } catch (err) {
      replace(out, errorBox(err, {testid: 'sub-create-error'}));
    }
  }},
  h('div', {class: 'grid2'},
    field('Delivery URL', url),
    field('Description', desc),
    field('Unified API', api, 'accounting, crm, … or * for every one'),
    field('Events', events, 'comma-separated event types, or *'),
    field('Consumer', consumer, 'optional: only this consumer\'s events')),
  h('button', {type: 'submit', class: 'btn btn-primary', testid: 'sub-submit'}, 'Create subscription'));
}

async function detail(main, id) {
  const s = (await get('/webhook/webhooks/' + seg(id))).data;
  const out = h('div');
  const tries = h('div');

  const desc = h('input', {value: s.description || '', testid: 'edit-description'});
  const url = h('input', {type: 'url', value: s.delivery_url, testid: 'edit-url'});
  const events = h('input', {value: (s.events || []).join(', '), testid: 'edit-events'});
  const edit = h('form', {class: 'form', testid: 'sub-edit', onsubmit: async (e) => {
    e.preventDefault();
    try {
      await patch('/webhook/webhooks/' + seg(id), {description: desc.value, delivery_url: url.value.trim(), events: eventsList(events.value)});
      toast('Saved');
      render(main, [id]);
    } catch (err) {
      replace(out, errorBox(err, {testid: 'sub-edit-error'}));
    }
  }},
  h('div', {class: 'grid2'}, field('Delivery URL', url), field('Description', desc), field('Events', events)),
  h('button', {type: 'submit', class: 'btn btn-primary', testid: 'sub-save'}, 'Save'));

  const enabled = s.status === 'enabled';
  const actions = h('div', {class: 'actions'},
    button(enabled ? 'Disable' : 'Enable', async () => {
      await patch('/webhook/webhooks/' + seg(id), {status: enabled ? 'disabled' : 'enabled'});
      toast(enabled ? 'Disabled' : 'Enabled');
      render(main, [id]);
    }, {testid: 'sub-toggle'}),
    button('Rotate secret', async () => {
      const r = (await post('/webhook/webhooks/' + seg(id) + '/rotate-secret', {})).data;
      replace(out, h('div', {class: 'alert alert-ok', testid: 'sub-rotated'},
        h('p', null, 'New secret (shown once). The old one keeps signing during the grace period.'), copyable(r.secret, {testid: 'rotated-secret'})));
    }, {testid: 'sub-rotate', confirm: 'Click again to rotate'}),
    button('Send test event', async () => {
      const r = (await post('/webhook/webhooks/' + seg(id) + '/test', {})).data;
      replace(out, h('div', {class: 'alert alert-info', testid: 'sub-tested'}, 'Test sent: ', code(r)));
      setTimeout(loadTries, 1000);
    }, {testid: 'sub-test'}),
    button('Delete', async () => {
      await del('/webhook/webhooks/' + seg(id));
      toast('Deleted');
      window.location.hash = '#/subscriptions';
    }, {class: 'btn btn-danger', testid: 'sub-delete', confirm: 'Click again to delete'}));

  async function loadTries() {
    let logs;
    try {
      logs = (await get('/webhook/logs', {query: {'filter[subscription_id]': id, limit: 100}})).data || [];
    } catch (err) {
      replace(tries, errorBox(err));
      return;
    }
    const ok = logs.filter(l => l.success).length;
    replace(tries,
      h('div', {class: 'stats'},
        h('div', {class: 'stat', testid: 'success-rate'}, h('div', {class: 'stat-value'}, logs.length ? fmtPercent(ok / logs.length) : '—'),
          h('div', {class: 'stat-label'}, 'success rate, last ' + logs.length + ' tries'))),
      table([
        {title: 'time', cell: l => fmtTime(l.timestamp)},
        {title: 'event', cell: l => h('a', {href: '#/events/' + seg(l.event_id)}, l.event_type)},
        {title: 'try', cell: l => String(l.execution_attempt), class: 'num'},
        {title: 'answer', cell: l => statusBadge(l.success ? 'delivered' : 'failed')},
        {title: 'status', cell: l => l.status_code === null ? (l.error || 'no answer') : String(l.status_code), class: 'num'},
        {title: '', cell: l => h('a', {href: '#/logs?id=' + seg(l.id) + '&subscription=' + seg(id)}, 'details')},
      ], logs.slice(0, 20), {testid: 'sub-tries', empty: 'No tries yet.'}));
  }

  replace(main,
    h('p', null, h('a', {href: '#/subscriptions'}, '← Subscriptions')),
    h('h1', null, s.description || s.id, ' ', statusBadge(s.status)),
    s.disabled_reason ? notice('Disabled: ' + s.disabled_reason, 'warn') : null,
    s.unknown_events && s.unknown_events.length ? notice('Unknown event names (kept, but nothing publishes them): ' + s.unknown_events.join(', '), 'warn') : null,
    section(null,
      h('dl', {class: 'props'},
        h('dt', null, 'id'), h('dd', {class: 'mono', testid: 'sub-id'}, s.id),
        h('dt', null, 'unified api'), h('dd', null, s.unified_api),
        h('dt', null, 'consumer'), h('dd', null, s.consumer_id || 'application-wide'),
        h('dt', null, 'retry schedule'), h('dd', null, (s.retry_schedule || []).join(' s, ') + ' s'),
        h('dt', null, 'fail streak'), h('dd', null, String(s.fail_streak || 0)),
        h('dt', null, 'created'), h('dd', null, fmtTime(s.created_at))),
      actions, out),
    section('Edit', edit),
    section('Recent tries', tries));
  await loadTries();
}
