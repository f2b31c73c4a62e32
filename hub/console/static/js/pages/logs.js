// Delivery logs: every filter GET /webhook/logs has, and one try's request
// and response.

import {get, seg} from '../api.js';
import {h, replace, statusBadge, fmtTime, errorBox, section, field, code} from '../dom.js';
import {pagedTable} from '../list.js';

export async function render(main, params, ctx) {
  const q = ctx.route.query;
  const inputs = {
    event_type: h('input', {placeholder: 'accounting.invoice.paid', testid: 'logs-event-type'}),
    consumer_id: h('input', {placeholder: 'any', testid: 'logs-consumer'}),
    service_id: h('input', {placeholder: 'any', testid: 'logs-service'}),
    subscription_id: h('input', {value: q.get('subscription') || '', placeholder: 'any', testid: 'logs-subscription'}),
    event_id: h('input', {value: q.get('event') || '', placeholder: 'any', testid: 'logs-event'}),
  };
  const success = h('select', {testid: 'logs-success'}, h('option', {value: ''}, 'any'), h('option', {value: 'true'}, 'succeeded'), h('option', {value: 'false'}, 'failed'));
  const detailEl = h('div', {testid: 'log-detail'});
  let wanted = q.get('id');

  const list = pagedTable('/webhook/logs', [
    {title: 'time', cell: l => fmtTime(l.timestamp)},
    {title: 'event', cell: l => h('a', {href: '#/events/' + seg(l.event_id)}, l.event_type)},
    {title: 'consumer', cell: l => l.consumer_id},
    {title: 'endpoint', cell: l => h('span', {class: 'mono'}, l.endpoint)},
    {title: 'try', cell: l => String(l.execution_attempt), class: 'num'},
    {title: 'result', cell: l => statusBadge(l.success ? 'delivered' : 'failed')},
    {title: 'status', cell: l => l.status_code === null ? 'none' : String(l.status_code), class: 'num'},
    {title: '', cell: l => h('button', {type: 'button', class: 'btn btn-small', testid: 'log-open', onclick: () => show(l)}, 'Open')},
  ], {testid: 'logs', empty: 'No delivery tries match.', query: () => {
    const f = {};
    for (const [k, el] of Object.entries(inputs)) f['filter[' + k + ']'] = el.value.trim();
    f['filter[success]'] = success.value;
    return f;
  }, onRows: rows => {
    if (!wanted) return;
    const l = rows.find(r => r.id === wanted);
    wanted = null;
    if (l) show(l);
  }});

  async function show(l) {
    let ev = null;
    try {
      ev = (await get('/webhook/events/' + seg(l.event_id))).data;
    } catch {
      // purged or out of scope: the try's own record still shows
    }
    const body = ev ? (({deliveries, ...rest}) => ({payload: Object.assign({}, rest, {execution_attempt: l.execution_attempt})}))(ev) : null;
    replace(detailEl, section('Try ' + l.execution_attempt + ' of event ' + l.event_id,
      h('div', {class: 'grid2'},
        h('div', null, h('h3', null, 'Request'),
          h('p', {class: 'mono'}, 'POST ' + l.endpoint),
          code({'content-type': 'application/json', 'webhook-id': l.event_id, 'x-event-type': l.event_type, 'webhook-timestamp': Math.floor(new Date(l.timestamp).getTime() / 1000)}),
          body ? code(body, {testid: 'log-request-body'}) : h('p', {class: 'muted'}, 'The event is no longer stored.')),
        h('div', null, h('h3', null, 'Response'),
          h('p', null, statusBadge(l.success ? 'delivered' : 'failed'), ' ',
            h('span', {testid: 'log-status'}, l.status_code === null ? 'no response' : 'HTTP ' + l.status_code), ' in ' + l.duration_ms + ' ms',
            l.retry_scheduled ? ' · a retry is scheduled' : ''),
          l.error ? h('p', {class: 'alert alert-error'}, l.error) : null,
          code(l.response_body || '(empty body)', {testid: 'log-response-body'})))));
    detailEl.scrollIntoView({block: 'nearest'});
  }

  const filters = h('form', {class: 'filters', testid: 'logs-filter', onsubmit: (e) => {
    e.preventDefault();
    list.reload();
  }}, Object.entries(inputs).map(([k, el]) => field(k.replace('_', ' '), el)), field('result', success),
  h('button', {type: 'submit', class: 'btn'}, 'Filter'));
  replace(main, h('h1', null, 'Delivery logs'), section(null, filters, list.el), detailEl);
  await list.reload();
}
