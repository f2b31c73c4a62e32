// Mapping studio: edit a connector's mapping file against a sample webhook.
// As you type, the draft is linted (POST /mapping/validate, errors at their
// line:column and JSON pointer) and previewed (POST /mapping/preview with
// the draft mapping): the unified event it produces, side by side, and the
// coverage of the entity's schema fields. Save writes the file
// (PUT /mapping/mappings/{service_id}); the hub's hot reload applies it.

import {get, post, put, seg} from '../api.js';
import {h, replace, errorBox, notice, section, field, debounce, code, button, toast} from '../dom.js';

export async function render(main, params) {
  const [connectors, files] = await Promise.all([
    get('/connector/connectors').then(r => r.data || []),
    get('/mapping/mappings').then(r => r.data || []).catch(() => []),
  ]);
  const ids = [...new Set([...files.map(f => f.service_id).filter(Boolean), ...connectors.map(c => c.id)])].sort();
  const service = params[0] || ids[0] || '';
  const pick = h('select', {testid: 'studio-service', onchange: () => {
    window.location.hash = '#/studio/' + seg(pick.value);
  }}, ids.map(id => h('option', {value: id, selected: id === service}, id)));

  const payload = h('textarea', {rows: 14, class: 'mono', spellcheck: false, testid: 'studio-payload',
    placeholder: 'Paste a webhook body the provider sent (JSON)'});
  const nativeType = h('input', {placeholder: 'found by the mapping', testid: 'studio-event-type'});
  const headers = h('textarea', {rows: 2, class: 'mono', spellcheck: false, placeholder: '{"x-header": "value"}', testid: 'studio-headers'});
  const query = h('input', {class: 'mono', placeholder: 'e=CREATE_INVOICE', testid: 'studio-query'});
  const sampleHint = h('div');
  const samplePick = h('select', {testid: 'studio-sample'}, h('option', {value: ''}, 'paste your own below'));

  const editor = h('textarea', {class: 'editor-text mono', spellcheck: false, wrap: 'off', testid: 'studio-mapping',
    'aria-label': 'mapping JSON'});
  const gutter = h('div', {class: 'gutter', 'aria-hidden': 'true'});
  const lint = h('div', {class: 'lint', testid: 'studio-lint'});
  const preview = h('div', {class: 'preview', testid: 'studio-preview'});
  const coverage = h('div', {testid: 'studio-coverage'});
  const saveOut = h('div', {testid: 'studio-save-result'});
  const status = files.find(f => f.service_id === service);

  let errLines = new Set();
  function drawGutter() {
    const n = editor.value.split('\n').length;
    const frag = document.createDocumentFragment();
    for (let i = 1; i <= n; i++) frag.append(h('div', {class: errLines.has(i) ? 'ln err' : 'ln'}, String(i)));
    replace(gutter, frag);
    gutter.scrollTop = editor.scrollTop;
  }
  editor.addEventListener('scroll', () => {
    gutter.scrollTop = editor.scrollTop;
  });

  function goTo(line, column) {
    const lines = editor.value.split('\n');
    let off = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) off += lines[i].length + 1;
    off += Math.max(0, (column || 1) - 1);
    editor.focus();
    editor.setSelectionRange(off, Math.min(off + 1, editor.value.length));
    const lh = editor.scrollHeight / Math.max(lines.length, 1);
    editor.scrollTop = Math.max(0, (line - 5) * lh);
  }

  let seq = 0;
  async function check() {
    const my = ++seq;
    const text = editor.value;
    let result;
    try {
      result = (await post('/mapping/validate', {mapping: text, service_id: service})).data;
    } catch (err) {
      if (my !== seq) return;
      if (err.status === 404 || err.status === 405) {
        result = localLint(text);
      } else {
        replace(lint, errorBox(err));
        return;
      }
    }
    if (my !== seq) return;
    const errors = result.errors || [];
    errLines = new Set(errors.map(e => e.line).filter(Boolean));
    drawGutter();
    if (result.valid) {
      replace(lint, h('div', {class: 'alert alert-ok', testid: 'lint-ok'}, 'Valid mapping' + (result.service_id ? ' for ' + result.service_id : '') + '.'));
    } else {
      replace(lint, h('div', {class: 'alert alert-error', testid: 'lint-errors'},
        h('strong', null, errors.length + ' problem' + (errors.length === 1 ? '' : 's')),
        h('ul', null, errors.map(e => h('li', {testid: 'lint-error'},
          e.line ? h('button', {type: 'button', class: 'linkish', testid: 'lint-pos', onclick: () => goTo(e.line, e.column)}, 'line ' + e.line + ':' + (e.column || 1)) : null,
          e.pointer !== undefined && e.pointer !== null ? h('code', {class: 'pointer', testid: 'lint-pointer'}, e.pointer || '/') : null,
          ' ', e.message)))));
    }
    await runPreview(my, result.valid);
  }

  let lastEvent = null;
  async function runPreview(my, valid) {
    const sample = payload.value.trim();
    if (!sample) {
      replace(preview, h('p', {class: 'muted'}, 'Paste a sample webhook to see the unified event this mapping makes of it.'));
      replace(coverage);
      return;
    }
    let body;
    try {
      body = {service_id: service, payload: JSON.parse(sample)};
      if (nativeType.value.trim()) body.event_type = nativeType.value.trim();
      if (headers.value.trim()) body.headers = JSON.parse(headers.value);
      if (query.value.trim()) {
        const q = {};
        for (const [k, v] of new URLSearchParams(query.value.trim())) (q[k] = q[k] || []).push(v);
        body.query = q;
      }
    } catch (err) {
      replace(preview, errorBox({message: 'The sample is not JSON: ' + err.message}));
      return;
    }
    if (!valid) {
      preview.classList.add('stale');
      return;
    }
    body.mapping = editor.value;
    let ev;
    try {
      ev = (await post('/mapping/preview', body)).data;
    } catch (err) {
      if (my !== seq) return;
      preview.classList.remove('stale');
      replace(preview, errorBox(err, {testid: 'preview-error'}));
      replace(coverage);
      return;
    }
    if (my !== seq) return;
    preview.classList.remove('stale');
    lastEvent = ev;
    replace(preview, h('p', {class: 'muted'}, 'Unified event: ', h('strong', {testid: 'preview-type'}, ev.event_type || '—')), code(ev, {testid: 'preview-json'}));
    await drawCoverage(ev);
  }

  async function drawCoverage(ev) {
    let cov = ev.coverage;
    if (!cov && ev.event_type && ev.entity) {
      try {
        const t = (await get('/webhook/event-types/' + seg(ev.event_type))).data;
        cov = schemaCoverage(t.schema, ev.entity);
      } catch {
        cov = null;
      }
    }
    if (!cov) {
      replace(coverage, h('p', {class: 'muted'}, 'No catalogue schema for ' + (ev.event_type || 'this event') + '.'));
      return;
    }
    const entries = Object.entries(cov).sort((a, b) => a[0].localeCompare(b[0]));
    const filled = entries.filter(e => e[1]).length;
    replace(coverage, h('p', null, h('strong', {testid: 'coverage-count'}, filled + ' of ' + entries.length), ' schema fields filled'),
      h('ul', {class: 'coverage'}, entries.map(([k, v]) => h('li', {class: v ? 'yes' : 'no'}, (v ? '✓ ' : '· ') + k))));
  }

  const schedule = debounce(check, 350);
  editor.addEventListener('input', () => {
    drawGutter();
    preview.classList.add('stale');
    schedule();
  });
  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Tab' && !e.shiftKey) {
      e.preventDefault();
      editor.setRangeText('  ', editor.selectionStart, editor.selectionEnd, 'end');
      editor.dispatchEvent(new Event('input'));
    }
  });
  for (const el of [payload, nativeType, headers, query]) el.addEventListener('input', schedule);

  // The provider's sample webhooks (GET /mapping/samples/{service_id}):
  // picking one fills the body and the request details its mapping reads.
  let samples = [];
  function useSample(s) {
    payload.value = JSON.stringify(s.payload, null, 2);
    headers.value = s.headers ? JSON.stringify(s.headers) : '';
    const q = new URLSearchParams();
    for (const [k, vs] of Object.entries(s.query || {})) for (const v of vs) q.append(k, v);
    query.value = q.toString();
    nativeType.value = '';
  }
  samplePick.addEventListener('change', () => {
    const s = samples.find(x => x.event === samplePick.value);
    if (!s) return;
    useSample(s);
    schedule();
  });

  const save = button('Save mapping', async () => {
    replace(saveOut);
    try {
      const r = (await put('/mapping/mappings/' + seg(service), {mapping: editor.value})).data;
      replace(saveOut, h('div', {class: 'alert alert-ok', testid: 'save-ok'},
        'Saved ' + ((r && r.file) || service + '.json') + '. The hub reloads it now; ' + (r && r.ok === false ? 'it was rejected: ' + r.error : 'new webhooks use it.')));
      toast('Mapping saved');
    } catch (err) {
      replace(saveOut, saveError(err));
    }
  }, {class: 'btn btn-primary', testid: 'studio-save'});

  replace(main,
    h('h1', null, 'Mapping studio'),
    h('div', {class: 'studio-bar'}, field('Connector', pick),
      status ? h('span', {class: 'muted'}, (status.file || '') + ' · ' + (status.ok ? 'active' : 'last edit rejected: ' + (status.error || ''))) : null,
      save),
    saveOut,
    h('div', {class: 'studio'},
      section('Mapping', h('div', {class: 'editor'}, gutter, editor), lint),
      h('div', null,
        section('Sample webhook', field('Sample', samplePick, 'the provider\'s sample webhooks shipped with the hub'), payload, h('div', {class: 'grid2'}, field('Native event type', nativeType, 'optional'), field('Query', query, 'optional')),
          field('Headers', headers, 'optional'), sampleHint),
        section('Unified event', preview),
        section('Schema coverage', coverage))));

  // The mapping in force: the file the hub runs.
  try {
    const text = await loadMapping(service);
    editor.value = text;
  } catch (err) {
    replace(lint, notice('Could not load the current ' + service + ' mapping (' + err.message + '); paste it to edit.', 'warn'));
  }
  try {
    samples = (await get('/mapping/samples/' + seg(service))).data || [];
  } catch {
    samples = [];
  }
  for (const sm of samples) samplePick.append(h('option', {value: sm.event}, sm.event));
  if (samples.length && !payload.value) {
    samplePick.value = samples[0].event;
    useSample(samples[0]);
  }
  drawGutter();
  await check();
}

async function loadMapping(service) {
  const r = await get('/mapping/mappings/' + seg(service));
  const d = r.data;
  if (typeof d === 'string') return d;
  if (d && typeof d.content === 'string') return d.content;
  if (d && d.mapping !== undefined) return typeof d.mapping === 'string' ? d.mapping : JSON.stringify(d.mapping, null, 2) + '\n';
  return JSON.stringify(d, null, 2) + '\n';
}

function saveError(err) {
  if (err.status === 409) {
    return h('div', {class: 'alert alert-warn', testid: 'save-conflict'},
      h('strong', null, 'Not saved. '), err.message,
      h('p', null, 'The studio writes mapping files only when the hub runs with --mappings-dir on the embedded store. ' +
        'With the built-in mappings there is no file to write (start the hub with --mappings-dir DIR); on PostgreSQL a file saved on one node would be missing on the others ' +
        '(copy it into every node\'s mappings directory instead, the hub hot-reloads it).'));
  }
  if (err.status === 403) {
    return h('div', {class: 'alert alert-warn', testid: 'save-forbidden'}, 'Saving a mapping needs an admin key. ', err.message);
  }
  return errorBox(err, {testid: 'save-error'});
}

// localLint is the fallback when the hub has no /mapping/validate: JSON
// syntax only, with the position from the parser's message.
function localLint(text) {
  try {
    const m = JSON.parse(text);
    return {valid: true, service_id: m && m.service_id, errors: []};
  } catch (err) {
    const pos = /position (\d+)/.exec(err.message);
    let line = 1, column = 1;
    if (pos) {
      const before = text.slice(0, Number(pos[1]));
      line = before.split('\n').length;
      column = before.length - before.lastIndexOf('\n');
    }
    return {valid: false, errors: [{message: err.message, pointer: '', line, column}]};
  }
}

// schemaCoverage says, for each field of the entity's schema (nested
// objects one level down, as customer.id), whether the entity has a value.
function schemaCoverage(schema, entity) {
  const out = {};
  const props = (schema && schema.properties) || {};
  for (const [k, s] of Object.entries(props)) {
    const v = entity ? entity[k] : undefined;
    if (s && s.properties) {
      for (const sub of Object.keys(s.properties)) {
        out[k + '.' + sub] = v !== null && v !== undefined && typeof v === 'object' && v[sub] !== null && v[sub] !== undefined;
      }
    } else {
      out[k] = v !== null && v !== undefined;
    }
  }
  return out;
}
