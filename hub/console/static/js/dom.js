// DOM helpers. Everything is built with createElement and textContent:
// data from the API is never parsed as HTML, and nothing sets a style
// attribute (the CSP allows no inline style).

const SVG = 'http://www.w3.org/2000/svg';

// h builds an element: h('a', {href: '#/x', class: 'btn', onclick: fn}, 'text', child).
export function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'style') throw new Error('inline style is not allowed by the CSP; use a class');
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'required' || k === 'readOnly') {
      el[k] = !!v;
    } else if (k === 'testid') {
      el.setAttribute('data-testid', v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// replace puts children in el instead of what it held.
export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

export function fmtTime(s) {
  if (!s) return '—';
  const d = new Date(s);
  if (isNaN(d)) return String(s);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function fmtAge(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.round(seconds);
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
}

export function fmtPercent(x) {
  if (x === null || x === undefined || isNaN(x)) return '—';
  return (Math.round(x * 1000) / 10).toFixed(1) + ' %';
}

// code renders JSON (or text) in a pre block.
export function code(v, attrs) {
  const text = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
  return h('pre', Object.assign({class: 'code'}, attrs || {}), text === undefined ? '' : text);
}

// table renders rows with columns [{title, cell: row => node|string}].
export function table(columns, rows, opts = {}) {
  const body = h('tbody');
  for (const row of rows) {
    const tr = h('tr', opts.rowAttrs ? opts.rowAttrs(row) : null);
    for (const col of columns) tr.append(h('td', {class: col.class}, col.cell(row)));
    body.append(tr);
  }
  if (rows.length === 0) {
    body.append(h('tr', null, h('td', {class: 'empty', colspan: columns.length}, opts.empty || 'Nothing here yet.')));
  }
  return h('table', {class: 'table', testid: opts.testid},
    h('thead', null, h('tr', null, columns.map(c => h('th', {class: c.class}, c.title)))), body);
}

export function badge(text, kind) {
  return h('span', {class: ['badge', kind && 'badge-' + kind]}, text);
}

export function statusBadge(status) {
  const kind = {enabled: 'ok', active: 'ok', running: 'ok', delivered: 'ok', succeeded: 'ok',
    disabled: 'bad', failed: 'bad', crashed: 'bad', exhausted: 'bad', invalid: 'bad',
    pending: 'warn', retrying: 'warn', starting: 'warn', restarting: 'warn'}[status];
  return badge(status || '—', kind);
}

// errorBox shows an API error: its message and, for validation errors,
// each field's reason.
export function errorBox(err, attrs) {
  const box = h('div', Object.assign({class: 'alert alert-error', role: 'alert'}, attrs || {}));
  box.append(h('strong', null, err.title || 'Error'), ' ', err.message || String(err));
  const fields = err.fields || [];
  if (fields.length > 1) {
    box.append(h('ul', null, fields.map(f => h('li', null, h('code', null, f.field), ' ', f.reason))));
  }
  return box;
}

export function notice(text, kind = 'info', attrs) {
  return h('div', Object.assign({class: 'alert alert-' + kind}, attrs || {}), text);
}

let toastTimer;
export function toast(text, kind = 'ok') {
  let el = document.getElementById('toast');
  if (!el) {
    el = h('div', {id: 'toast', role: 'status', 'aria-live': 'polite'});
    document.body.append(el);
  }
  el.className = 'toast toast-' + kind + ' show';
  el.textContent = text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 4000);
}

export function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// field wraps an input with its label and help text.
export function field(label, input, help) {
  return h('label', {class: 'field'}, h('span', {class: 'field-label'}, label), input,
    help ? h('span', {class: 'field-help'}, help) : null);
}

// copyable is a read-only value with a copy button.
export function copyable(value, attrs) {
  const input = h('input', Object.assign({class: 'mono', readOnly: true, value}, attrs || {}));
  const btn = h('button', {type: 'button', class: 'btn btn-small', onclick: async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(value);
      toast('Copied');
    } catch {
      document.execCommand && document.execCommand('copy');
    }
  }}, 'Copy');
  return h('div', {class: 'copyable'}, input, btn);
}

export function section(title, ...children) {
  return h('section', {class: 'card'}, title ? h('h2', null, title) : null, children);
}

// button runs an async action, disabling itself while it runs and showing
// a failure as a toast. With confirm set, the first click only arms it
// (the label asks to click again): no blocking browser dialog.
export function button(label, action, attrs = {}) {
  const {confirm, ...rest} = attrs;
  const btn = h('button', Object.assign({type: 'button', class: 'btn'}, rest));
  btn.textContent = label;
  let armed = false;
  let disarm;
  btn.addEventListener('click', async (e) => {
    e.preventDefault();
    if (confirm && !armed) {
      armed = true;
      btn.textContent = confirm;
      btn.classList.add('armed');
      disarm = setTimeout(() => { armed = false; btn.textContent = label; btn.classList.remove('armed'); }, 5000);
      return;
    }
    clearTimeout(disarm);
    armed = false;
    btn.textContent = label;
    btn.classList.remove('armed');
    btn.disabled = true;
    try {
      await action(e);
    } catch (err) {
      toast(err.message || String(err), 'bad');
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}
