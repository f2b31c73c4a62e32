// The console's shell: who is signed in, the navigation, and a hash router
// (#/overview, #/events/<id>, ...). A consumer arriving through a
// session_uri (#session=<token>) is taken to the portal and sees nothing
// else.

import {auth, get, ApiError} from './api.js';
import {h, replace, errorBox, notice, field} from './dom.js';

const operatorPages = [
  {path: 'overview', title: 'Overview', load: () => import('./pages/overview.js')},
  {path: 'subscriptions', title: 'Subscriptions', load: () => import('./pages/subscriptions.js')},
  {path: 'events', title: 'Events', load: () => import('./pages/events.js')},
  {path: 'logs', title: 'Delivery logs', load: () => import('./pages/logs.js')},
  {path: 'connections', title: 'Connections', load: () => import('./pages/connections.js')},
  {path: 'keys', title: 'Keys & sessions', load: () => import('./pages/keys.js')},
  {path: 'studio', title: 'Mapping studio', load: () => import('./pages/studio.js')},
];
const portalPage = {path: 'portal', title: 'Connections', load: () => import('./pages/portal.js')};

// Problems the page meets are kept (and logged) so they are visible to
// whoever looks, the browser tests included: a CSP violation means the
// console tried to load or run something the policy forbids.
window.switchboardProblems = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const p = 'CSP: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline');
  window.switchboardProblems.push(p);
  console.error(p);
});
window.addEventListener('error', (e) => window.switchboardProblems.push('error: ' + e.message));
window.addEventListener('unhandledrejection', (e) => window.switchboardProblems.push('rejection: ' + (e.reason && e.reason.message || e.reason)));

const root = document.getElementById('app');
let cleanup = null;

// takeSessionFromURL moves a session token out of the address bar (and so
// out of the history and any screenshot) into session storage.
function takeSessionFromURL() {
  const m = /^#session=([^&]+)/.exec(window.location.hash);
  if (!m) return;
  auth.useSession(decodeURIComponent(m[1]));
  history.replaceState(null, '', window.location.pathname + '#/portal');
}

function parseRoute() {
  const raw = window.location.hash.replace(/^#\/?/, '');
  const [pathPart, queryPart] = raw.split('?');
  const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  return {page: parts[0] || '', params: parts.slice(1), query: new URLSearchParams(queryPart || '')};
}

function shell(mode, active) {
  const nav = mode === 'operator'
    ? operatorPages.map(p => h('a', {href: '#/' + p.path, class: p.path === active ? 'active' : null, testid: 'nav-' + p.path}, p.title))
    : [h('a', {href: '#/portal', class: 'active', testid: 'nav-portal'}, 'Your connections')];
  const main = h('main', {id: 'main', tabindex: '-1'});
  const header = h('header', {class: 'topbar'},
    h('a', {class: 'brand', href: mode === 'session' ? '#/portal' : '#/overview'}, 'Switchboard'),
    h('span', {class: 'mode', testid: 'mode'}, mode === 'session' ? 'Consumer portal' : 'Operator console'),
    h('nav', {class: 'nav'}, nav),
    h('button', {type: 'button', class: 'btn btn-ghost', testid: 'sign-out', onclick: () => {
      auth.signOut();
      window.location.hash = '#/';
      render();
    }}, mode === 'session' ? 'Leave' : 'Sign out'));
  replace(root, header, main);
  return main;
}

function signInPage(message) {
  const input = h('input', {type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', required: true,
    placeholder: 'sk_… or your SWITCHBOARD_API_KEY', testid: 'api-key'});
  const status = h('div');
  const form = h('form', {class: 'card signin', testid: 'signin-form', onsubmit: async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    try {
      // Any route the key may read proves it; the connector list needs
      // only webhooks:read.
      await get('/connector/connectors', {token: key, noAuthRedirect: true});
    } catch (err) {
      replace(status, errorBox(err.status === 401
        ? Object.assign(err, {message: 'The hub does not accept this key.'})
        : err, {testid: 'signin-error'}));
      return;
    }
    auth.signIn(key);
    const want = parseRoute().page;
    window.location.hash = want && want !== 'portal' ? window.location.hash : '#/overview';
    render();
  }},
  h('h1', null, 'Switchboard console'),
  message ? notice(message, 'warn') : null,
  h('p', null, 'Sign in with an API key. It stays in this tab (session storage) and is sent only to this hub.'),
  field('API key', input),
  h('button', {type: 'submit', class: 'btn btn-primary', testid: 'signin-submit'}, 'Sign in'),
  status,
  h('p', {class: 'muted'}, 'Consumers do not sign in here: the application opens the portal for them with a session link.'));
  replace(root, h('main', {class: 'center'}, form));
  input.focus();
}

async function render() {
  if (cleanup) {
    try {
      cleanup();
    } catch {
      // a page's cleanup must not stop navigation
    }
    cleanup = null;
  }
  takeSessionFromURL();
  const mode = auth.mode;
  const route = parseRoute();
  if (!mode) {
    signInPage();
    return;
  }
  let page;
  if (mode === 'session') {
    if (route.page && route.page !== 'portal') {
      const main = shell(mode, 'portal');
      replace(main, h('section', {class: 'card', testid: 'forbidden'},
        h('h1', null, 'Not available'),
        h('p', null, 'This link opens your own connections only; operator pages are not part of it.'),
        h('a', {href: '#/portal', class: 'btn'}, 'Back to your connections')));
      return;
    }
    page = portalPage;
  } else {
    if (!route.page) {
      window.location.hash = '#/overview';
      return;
    }
    if (route.page === 'portal') {
      const main = shell(mode, '');
      replace(main, h('section', {class: 'card', testid: 'portal-needs-session'},
        h('h1', null, 'Consumer portal'),
        h('p', null, 'The portal opens through a session link: create a session for a consumer (Keys & sessions, or POST /vault/sessions) and open its session_uri.')));
      return;
    }
    page = operatorPages.find(p => p.path === route.page);
    if (!page) {
      const main = shell(mode, '');
      replace(main, notice('No page ' + route.page + '.', 'warn'));
      return;
    }
  }
  const main = shell(mode, page.path);
  document.title = page.title + ' · Switchboard';
  main.append(h('p', {class: 'muted'}, 'Loading…'));
  try {
    const mod = await page.load();
    const ctx = {route, mode, rerender: render};
    const done = await mod.render(main, route.params, ctx);
    if (typeof done === 'function') cleanup = done;
  } catch (err) {
    replace(main, err instanceof ApiError ? errorBox(err, {testid: 'page-error'}) : errorBox({message: String(err && err.stack || err)}));
  }
}

window.addEventListener('hashchange', render);
window.addEventListener('switchboard:unauthorized', () => {
  if (auth.mode === 'session') {
    auth.signOut();
    replace(root, h('main', {class: 'center'}, h('section', {class: 'card', testid: 'session-ended'},
      h('h1', null, 'This link has expired'),
      h('p', null, 'Ask the application for a new link to manage your connections.'))));
    return;
  }
  auth.signOut();
  signInPage('The hub no longer accepts the key (revoked or expired). Sign in again.');
});

render();
