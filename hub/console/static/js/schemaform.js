// A form generated from a connector's settings or credentials JSON Schema.
// Fields marked x-switchboard-operator-only (a base_url that aims the hub
// at a network address) are left out: consumers cannot set them, and the
// API refuses them from a session anyway.

import {h, field} from './dom.js';

function typeOf(s) {
  const t = s.type;
  if (Array.isArray(t)) return t.find(x => x !== 'null') || 'string';
  if (t) return t;
  if (s.enum) return 'string';
  if (s.properties) return 'object';
  return 'string';
}

function label(name, s) {
  return s.title || name.replace(/_/g, ' ');
}

// schemaForm returns {el, value, empty}: value() collects the entered
// values, leaving out empty fields and untouched defaults (the hub applies
// those itself).
export function schemaForm(schema, opts = {}) {
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const getters = [];
  const fields = [];
  for (const [name, s] of Object.entries(props)) {
    if (s['x-switchboard-operator-only']) continue;
    const id = (opts.prefix || 'f') + '-' + name;
    const req = required.has(name);
    const help = s.description;
    const t = typeOf(s);
    const title = label(name, s) + (req ? ' *' : '');
    if (t === 'boolean') {
      const input = h('input', {type: 'checkbox', id, name, checked: s.default === true, testid: id});
      getters.push(() => (input.checked === (s.default === true) ? undefined : [name, input.checked]));
      fields.push(h('label', {class: 'field check'}, input, ' ', h('span', {class: 'field-label'}, title), help ? h('span', {class: 'field-help'}, help) : null));
    } else if (t === 'array' && s.items && s.items.enum) {
      const def = Array.isArray(s.default) ? s.default : s.items.enum;
      const boxes = s.items.enum.map(v => h('label', {class: 'check'}, h('input', {type: 'checkbox', value: v, checked: def.includes(v)}), ' ' + v));
      getters.push(() => {
        const picked = boxes.map(b => b.querySelector('input')).filter(i => i.checked).map(i => i.value);
        const same = picked.length === def.length && picked.every(v => def.includes(v));
        return same ? undefined : [name, picked];
      });
      fields.push(h('fieldset', {class: 'field', testid: id}, h('legend', {class: 'field-label'}, title),
        help ? h('span', {class: 'field-help'}, help) : null, h('div', {class: 'checks'}, boxes)));
    } else if (t === 'array') {
      const input = h('input', {id, name, placeholder: 'comma-separated', testid: id});
      getters.push(() => {
        const v = input.value.split(',').map(x => x.trim()).filter(Boolean);
        return v.length ? [name, v] : undefined;
      });
      fields.push(field(title, input, help));
    } else if (s.enum) {
      const select = h('select', {id, name, testid: id}, req ? null : h('option', {value: ''}, '—'),
        s.enum.map(v => h('option', {value: String(v), selected: v === s.default}, String(v))));
      getters.push(() => (select.value === '' ? undefined : [name, s.enum.find(v => String(v) === select.value)]));
      fields.push(field(title, select, help));
    } else if (t === 'integer' || t === 'number') {
      const input = h('input', {type: 'number', id, name, required: req, min: s.minimum, max: s.maximum, step: t === 'integer' ? 1 : 'any',
        placeholder: s.default !== undefined ? 'default ' + s.default : '', testid: id});
      getters.push(() => (input.value === '' ? undefined : [name, Number(input.value)]));
      fields.push(field(title, input, help));
    } else if (t === 'object') {
      const input = h('textarea', {id, name, rows: 3, class: 'mono', placeholder: '{}', testid: id});
      getters.push(() => {
        if (!input.value.trim()) return undefined;
        try {
          return [name, JSON.parse(input.value)];
        } catch (err) {
          throw new Error(label(name, s) + ' is not JSON: ' + err.message);
        }
      });
      fields.push(field(title, input, help));
    } else {
      const secret = opts.secret || /secret|token|key|password/i.test(name);
      const input = h('input', {type: secret ? 'password' : (s.format === 'uri' ? 'url' : (s.format === 'email' ? 'email' : 'text')),
        id, name, required: req, maxlength: s.maxLength, autocomplete: 'off',
        placeholder: s.default !== undefined ? 'default ' + s.default : '', testid: id});
      getters.push(() => (input.value === '' ? undefined : [name, input.value]));
      fields.push(field(title, input, help));
    }
  }
  return {
    el: h('div', {class: 'schema-form'}, fields),
    empty: fields.length === 0,
    value() {
      const out = {};
      for (const g of getters) {
        const kv = g();
        if (kv) out[kv[0]] = kv[1];
      }
      return out;
    },
  };
}
