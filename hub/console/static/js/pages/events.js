// Events: filtered list, publish, and one event's payload, deliveries and
// replay.

import {get, post, seg} from '../api.js';
import {h, replace, table, statusBadge, fmtTime, errorBox, section, field, button, code, toast} from '../dom.js';
import {pagedTable} from '../list.js';

export async function render(main, params, ctx) {
  if (params[0]) return detail(main, params[0]);
  const q = ctx.route.query;
  const type = h('input', {name: 'event_type', value: q.get('event_type') || '', placeholder: 'accounting.invoice.paid', testid: 'filter-event-type'});
  const consumer = h('input', {name: 'consumer_id', value: q.get('consumer_id') || '', placeholder: 'any', testid: 'filter-consumer'});
  const service = h('input', {name: 'service_id', value: q.get('service_id') || '', placeholder: 'any', testid: 'filter-service'});
  const list = pagedTable('/webhook/events', [
    {title: 'event', cell: e => h('a', {href: '#/events/' + seg(e.id), testid: 'event-link'}, e.event_type)},
    {title: 'entity', cell: e => (e.entity_type || '') + ' ' + (e.entity_id || '')},
    {title: 'consumer', cell: e => e.consumer_id},
    {title: 'service', cell: e => e.service_id || '—'},
    {title: 'source', cell: e => e.event_source},
    {title: 'occurred', cell: e => fmtTime(e.occurred_at)},
  ], {testid: 'events', empty: 'No events match.', query: () => ({
    'filter[event_type]': type.value.trim(), 'filter[consumer_id]': consumer.value.trim(), 'filter[service_id]': service.value.trim(),
  })});
  const filters = h('form', {class: 'filters', testid: 'events-filter', onsubmit: (e) => {
    e.preventDefault();
    list.reload();
  }}, field('Event type', type), field('Consumer', consumer), field('Service', service),
  h('button', {type: 'submit', class: 'btn'}, 'Filter'));
  replace(main, h('h1', null, 'Events'), section(null, filters, list.el), section('Publish an event', publishForm(list.reload)));
  await list.reload();
}

function publishForm(reload) {
  const out = h('div');
  const type = h('input', {required: true, placeholder: 'accounting.invoice.paid', testid: 'pub-event-type'});
  const consumer = h('input', {required: true, placeholder: 'acme', testid: 'pub-consumer'});
  const entityID = h('input', {required: true, placeholder: 'inv_123', testid: 'pub-entity-id'});
  const entity = h('textarea', {rows: 4, class: 'mono', placeholder: '{"id": "inv_123", "status": "paid"}', testid: 'pub-entity'});
  return h('form', {class: 'form', testid: 'pub-form', onsubmit: async (e) => {
    e.preventDefault();
    const body = {event_type: type.value.trim(), consumer_id: consumer.value.trim(), entity_id: entityID.value.trim()};
    if (entity.value.trim()) {
      try {
        body.entity = JSON.parse(entity.value);
      } catch (err) {
        replace(out, errorBox({message: 'entity is not JSON: ' + err.message}));
        return;
      }
    }
    try {
      const r = (await post('/webhook/events', body)).data;
      replace(out, h('div', {class: 'alert alert-ok', testid: 'pub-done'}, 'Published ',
        h('a', {href: '#/events/' + seg(r.id), testid: 'pub-link'}, r.id), ' to ' + r.deliveries + ' subscription(s).'));
      reload();
    } catch (err) {
      replace(out, errorBox(err, {testid: 'pub-error'}));
    }
  }},
  h('div', {class: 'grid2'}, field('Event type', type), field('Consumer', consumer), field('Entity id', entityID), field('Entity (JSON)', entity)),
  h('button', {type: 'submit', class: 'btn btn-primary', testid: 'pub-submit'}, 'Publish'), out);
}

async function detail(main, id) {
  const ev = (await get('/webhook/events/' + seg(id))).data;
  const deliveries = ev.deliveries || [];
  const out = h('div');
  const target = h('select', {testid: 'replay-target'},
    h('option', {value: ''}, 'every matching subscription'),
    deliveries.map(d => h('option', {value: d.subscription_id}, 'only ' + d.subscription_id)));
  const {deliveries: _omit, ...payload} = ev;
  replace(main,
    h('p', null, h('a', {href: '#/events'}, '← Events')),
    h('h1', null, ev.event_type),
    section(null,
      h('dl', {class: 'props'},
        h('dt', null, 'id'), h('dd', {class: 'mono', testid: 'event-id'}, ev.id),
        h('dt', null, 'consumer'), h('dd', null, ev.consumer_id),
        h('dt', null, 'service'), h('dd', null, ev.service_id || '—'),
        h('dt', null, 'entity'), h('dd', null, (ev.entity_type || '') + ' ' + ev.entity_id),
        h('dt', null, 'occurred'), h('dd', null, fmtTime(ev.occurred_at)),
        h('dt', null, 'stored'), h('dd', null, fmtTime(ev.created_at))),
      h('div', {class: 'actions'}, target, button('Replay', async () => {
        const body = target.value ? {subscription_id: target.value} : {};
        const r = (await post('/webhook/events/' + seg(id) + '/replay', body)).data;
        replace(out, h('div', {class: 'alert alert-ok', testid: 'replay-done'}, 'Replayed to ' + r.deliveries + ' subscription(s).'));
        toast('Replayed');
        setTimeout(() => loadLogs(), 1000);
      }, {class: 'btn btn-primary', testid: 'replay'})), out),
    section('Deliveries', table([
      {title: 'subscription', cell: d => h('a', {href: '#/subscriptions/' + seg(d.subscription_id)}, d.subscription_id)},
      {title: 'status', cell: d => statusBadge(d.status)},
      {title: 'tries', cell: d => String(d.attempts), class: 'num'},
      {title: 'next try', cell: d => fmtTime(d.next_attempt_at)},
      {title: 'updated', cell: d => fmtTime(d.updated_at)},
    ], deliveries, {testid: 'event-deliveries', empty: 'No subscription matched this event.'})),
    section('Tries', h('div', {testid: 'event-tries-wrap'}, logsEl)),
    section('Payload', code(payload, {testid: 'event-payload'})));
  await loadLogs();
}

const logsEl = h('div');

async function loadLogs() {
  const id = document.querySelector('[data-testid="event-id"]')?.textContent;
  if (!id) return;
  try {
    const logs = (await get('/webhook/logs', {query: {'filter[event_id]': id, limit: 50}})).data || [];
    replace(logsEl, table([
      {title: 'time', cell: l => fmtTime(l.timestamp)},
      {title: 'subscription', cell: l => l.subscription_id},
      {title: 'try', cell: l => String(l.execution_attempt), class: 'num'},
      {title: 'result', cell: l => statusBadge(l.success ? 'delivered' : 'failed')},
      {title: 'status', cell: l => l.status_code === null ? (l.error || 'no answer') : String(l.status_code), class: 'num'},
      {title: '', cell: l => h('a', {href: '#/logs?id=' + seg(l.id) + '&event=' + seg(id)}, 'details')},
    ], logs, {testid: 'event-tries', empty: 'No tries yet.'}));
  } catch (err) {
    replace(logsEl, errorBox(err));
  }
}
