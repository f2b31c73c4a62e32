// A cursor-paged list: fetches a page of a list route and draws it with
// previous/next buttons from meta.cursors.

import {get} from './api.js';
import {h, replace, errorBox, table} from './dom.js';

// pagedTable returns an element that shows path's pages as a table, and a
// reload function. query() gives the current filters.
export function pagedTable(path, columns, opts = {}) {
  const el = h('div', {class: 'paged'});
  let cursor = '';
  const history = [];

  async function load() {
    let res;
    try {
      res = await get(path, {query: Object.assign({limit: opts.limit || 25, cursor}, opts.query ? opts.query() : {}), consumer: opts.consumer && opts.consumer()});
    } catch (err) {
      replace(el, errorBox(err, {testid: (opts.testid || 'list') + '-error'}));
      return;
    }
    const rows = res.data || [];
    const next = res.meta && res.meta.cursors && res.meta.cursors.next;
    const prevBtn = h('button', {type: 'button', class: 'btn btn-small', disabled: history.length === 0, onclick: () => {
      cursor = history.pop() || '';
      load();
    }}, '← Newer');
    const nextBtn = h('button', {type: 'button', class: 'btn btn-small', disabled: !next, testid: (opts.testid || 'list') + '-next', onclick: () => {
      history.push(cursor);
      cursor = next;
      load();
    }}, 'Older →');
    replace(el, table(columns, rows, {testid: opts.testid, empty: opts.empty, rowAttrs: opts.rowAttrs}),
      h('div', {class: 'pager'}, prevBtn, nextBtn, h('span', {class: 'muted'}, rows.length + ' shown')));
    if (opts.onRows) opts.onRows(rows);
  }

  function reload() {
    cursor = '';
    history.length = 0;
    return load();
  }
  return {el, reload};
}
