// Overview: GET /admin/overview, refreshed every 10 seconds.

import {get, seg} from '../api.js';
import {h, replace, table, statusBadge, fmtAge, fmtPercent, fmtTime, errorBox, notice, section} from '../dom.js';

export async function render(main) {
  const body = h('div', {testid: 'overview'});
  replace(main, h('h1', null, 'Overview'), body);
  let timer = null;
  let stopped = false;

  async function load() {
    let data;
    try {
      data = (await get('/admin/overview')).data;
    } catch (err) {
      if (err.status === 403) {
        replace(body, notice('The overview needs an admin key; this key can use the other pages.', 'warn', {testid: 'overview-forbidden'}));
      } else {
        replace(body, errorBox(err));
      }
      return;
    }
    if (stopped) return;
    draw(body, data);
  }
  await load();
  timer = setInterval(load, 10000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

function stat(label, value, testid, kind) {
  return h('div', {class: ['stat', kind && 'stat-' + kind], testid}, h('div', {class: 'stat-value'}, value), h('div', {class: 'stat-label'}, label));
}

function draw(body, d) {
  const t = d.totals || {};
  const q = d.queue || {};
  const subs = d.subscriptions || {};
  const connectors = d.connectors || [];
  const windowMin = d.window_minutes || 60;
  const failing = (t.failure_rate || 0) > 0.05;
  // The queue: deliveries waiting for a try (pending) and how long the
  // oldest has waited; finer states when the hub reports them.
  const depth = q.pending ?? ((q.available || 0) + (q.retryable || 0) + (q.scheduled || 0));
  const oldest = q.oldest_pending_seconds ?? q.oldest_available_age_seconds;
  const states = ['pending', 'available', 'running', 'retryable', 'scheduled'].filter(k => q[k] !== undefined).map(k => [k, q[k]]);
  replace(body,
    h('div', {class: 'stats'},
      stat('events, last ' + windowMin + ' min', t.events ?? 0, 'total-events'),
      stat('deliveries', t.deliveries ?? 0, 'total-deliveries'),
      stat('failed tries', t.failures ?? 0, 'total-failures', t.failures ? 'warn' : null),
      stat('failure rate', fmtPercent(t.failure_rate), 'failure-rate', failing ? 'bad' : null),
      stat('queued deliveries', depth, 'queue-depth'),
      stat('oldest waiting', depth ? fmtAge(oldest) : '—', 'queue-oldest', (oldest || 0) > 300 ? 'warn' : null)),
    section('Per minute', chart(d.minutes || []),
      h('p', {class: 'legend'}, h('span', {class: 'key key-events'}), 'events ', h('span', {class: 'key key-deliveries'}), 'deliveries ',
        h('span', {class: 'key key-failures'}, ''), 'failed tries', h('span', {class: 'muted'}, ' · updated ' + fmtTime(d.generated_at)))),
    h('div', {class: 'grid2'},
      section('Queue', table([
        {title: 'state', cell: r => r[0]},
        {title: '', cell: r => String(r[1] ?? 0), class: 'num'},
      ], states.concat([['oldest waiting', depth ? fmtAge(oldest) : '—']]), {testid: 'queue'})),
      section('Connectors', table([
        {title: 'connector', cell: c => c.name || c.id},
        {title: 'status', cell: c => statusBadge(c.status)},
        {title: 'restarts', cell: c => String(c.restarts ?? 0), class: 'num'},
      ], connectors, {testid: 'connectors', empty: 'No connectors loaded.'}))),
    section('Disabled subscriptions (' + (subs.disabled || 0) + ' of ' + (subs.total || 0) + ')',
      table([
        {title: 'subscription', cell: s => h('a', {href: '#/subscriptions/' + seg(s.id)}, s.id)},
        {title: 'url', cell: s => h('span', {class: 'mono'}, s.url || s.delivery_url || '')},
        {title: 'consumer', cell: s => s.consumer_id || 'application-wide'},
        {title: 'reason', cell: s => s.disabled_reason || '—'},
      ], subs.disabled_list || [], {testid: 'disabled-subscriptions', empty: 'None: every subscription is enabled.'})));
}

// chart draws events, deliveries and failures per minute as grouped bars in
// SVG (no library; attributes only, no inline style).
function chart(minutes) {
  const W = 720, H = 160, pad = 24;
  const max = Math.max(1, ...minutes.map(m => Math.max(m.events || 0, m.deliveries || 0, m.failures || 0)));
  const n = Math.max(minutes.length, 1);
  const slot = (W - pad) / n;
  const bw = Math.max(1, slot / 3 - 0.5);
  const svg = h('svg:svg', {viewBox: `0 0 ${W} ${H + 18}`, class: 'chart', role: 'img', 'aria-label': 'events, deliveries and failed tries per minute', testid: 'chart'});
  svg.append(h('svg:line', {x1: pad, y1: H, x2: W, y2: H, class: 'axis'}));
  svg.append(h('svg:text', {x: 0, y: 10, class: 'tick'}, String(max)));
  svg.append(h('svg:text', {x: 0, y: H, class: 'tick'}, '0'));
  minutes.forEach((m, i) => {
    const x = pad + i * slot;
    [['events', m.events], ['deliveries', m.deliveries], ['failures', m.failures]].forEach(([cls, v], j) => {
      const bh = ((v || 0) / max) * (H - 12);
      if (bh <= 0) return;
      svg.append(h('svg:rect', {x: x + j * (bw + 0.5), y: H - bh, width: bw, height: bh, class: 'bar bar-' + cls},
        h('svg:title', null, `${fmtTime(m.minute)}: ${v} ${cls}`)));
    });
    if (i % 10 === 0 && m.minute) {
      svg.append(h('svg:text', {x, y: H + 14, class: 'tick'}, new Date(m.minute).toISOString().slice(11, 16)));
    }
  });
  return svg;
}
