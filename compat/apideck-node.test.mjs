// Apideck's deprecated SDK, @apideck/node (a generated fetch client), driven
// against a real Switchboard hub through its /apideck edge: only basePath
// changes. Its FromJSON mappers read every field it models; errors are
// thrown as the fetch Response.
//
// Run by cmd/switchboard TestApideckSDKs with HUB_URL, APP_KEY, BOUND_KEY,
// APP_ID, LOG_CONSUMER and MULTI_CONSUMER (see apideck-unify.test.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Apideck } from "@apideck/node";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run through go test ./cmd/switchboard -run TestApideckSDKs`);
  return v;
};
const basePath = env("HUB_URL") + "/apideck";
const appId = env("APP_ID");
const sdk = (opts = {}) => new Apideck({ apiKey: env("APP_KEY"), appId, basePath, ...opts });

async function rejects(promise, status, typeName) {
  let res;
  try {
    await promise;
  } catch (err) {
    res = err;
  }
  assert.ok(res && typeof res.status === "number", `expected a thrown Response with status ${status}, got ${res}`);
  assert.equal(res.status, status);
  const body = await res.json();
  assert.equal(body.status_code, status);
  if (typeName) assert.equal(body.type_name, typeName);
  assert.match(body.ref, /^https:\/\/developers\.apideck\.com\/errors#/);
  return body;
}

// pages follows meta.cursors.next until it is null.
async function pages(call) {
  const items = [];
  let cursor, n = 0;
  do {
    const res = await call(cursor);
    assert.equal(res.status_code, 200);
    items.push(...res.data);
    assert.equal(res.meta.items_on_page, res.data.length);
    cursor = res.meta.cursors.next;
    if (cursor) assert.ok(res.links.next.includes("/apideck/"), res.links.next);
    n++;
  } while (cursor);
  return { items, pages: n };
}

test("webhooks CRUD and pages", async () => {
  const apideck = sdk();
  const made = [];
  for (const n of [1, 2]) {
    const res = await apideck.webhook.webhooksAdd({
      webhook: { description: `node ${n}`, unified_api: "accounting", status: "enabled", delivery_url: `https://example.com/node/${n}`, events: ["accounting.invoice.created"] },
    });
    assert.equal(res.status_code, 201);
    assert.equal(res.data.execute_base_url, env("HUB_URL") + "/webhook/inbound");
    assert.ok(res.data.created_at instanceof Date && !isNaN(res.data.created_at));
    made.push(res.data.id);
  }
  const one = await apideck.webhook.webhooksOne({ id: made[0] });
  assert.equal(one.data.description, "node 1");
  const upd = await apideck.webhook.webhooksUpdate({ id: made[1], webhook: { status: "disabled", events: ["accounting.invoice.updated"] } });
  assert.equal(upd.data.status, "disabled");
  assert.deepEqual(upd.data.events, ["accounting.invoice.updated"]);
  const { items, pages: n } = await pages((cursor) => apideck.webhook.webhooksAll({ limit: 1, cursor }));
  assert.ok(n >= 2);
  for (const id of made) assert.ok(items.some((w) => w.id === id));
  for (const id of made) assert.equal((await apideck.webhook.webhooksDelete({ id })).data.id, id);
  await rejects(apideck.webhook.webhooksOne({ id: made[0] }), 404, "EntityNotFoundError");
});

test("event logs with filters and pages", async () => {
  const apideck = sdk();
  const consumer = env("LOG_CONSUMER");
  const { items, pages: n } = await pages((cursor) => apideck.webhook.eventLogsAll({ limit: 2, cursor }));
  assert.ok(items.length >= 6 && n >= 3);
  const byType = await apideck.webhook.eventLogsAll({ limit: 50, filter: { event_type: "accounting.customer.created", consumer_id: consumer } });
  assert.ok(byType.data.length > 0 && byType.data.every((l) => l.event_type === "accounting.customer.created" && l.consumer_id === consumer));
  const byEntity = await apideck.webhook.eventLogsAll({ limit: 50, filter: { entity_type: "invoice" } });
  assert.ok(byEntity.data.length > 0 && byEntity.data.every((l) => l.entity_type === "invoice"));
  const excluded = await apideck.webhook.eventLogsAll({ limit: 50, filter: { exclude_apis: "accounting" } });
  assert.deepEqual(excluded.data, []);
  const svc = items[0].service.id;
  const bySvc = await apideck.webhook.eventLogsAll({ limit: 50, filter: { service: { id: svc } } });
  assert.ok(bySvc.data.every((l) => l.service.id === svc));
  await rejects(apideck.webhook.eventLogsAll({ filter: { no_such_filter: "x" } }), 400);
});

test("connectors list and get", async () => {
  const apideck = sdk();
  const list = await apideck.connector.connectorsAll({ limit: 10 });
  const d = list.data.find((c) => c.id === "dversum");
  assert.equal(d.unified_apis[0].id, "accounting");
  assert.equal(d.webhook_support.subscription_level, "connection");
  assert.equal((await apideck.connector.connectorsOne({ id: "vplan" })).data.id, "vplan");
});

test("vault connections: import, list, get, update, delete, 409", async () => {
  const consumerId = "node-vault-" + Date.now();
  const apideck = sdk({ consumerId });
  const imp = await apideck.vault.connectionsImport({ serviceId: "dversum", unifiedApi: "accounting", connection: { settings: {} } });
  assert.equal(imp.data.id, "accounting+dversum");
  assert.equal(typeof imp.data.created_at, "number");
  assert.ok(imp.data.metadata.signing_secret);
  const list = await apideck.vault.connectionsAll({ api: "accounting" });
  assert.deepEqual(list.data.map((c) => c.id), ["accounting+dversum"]);
  const one = await apideck.vault.connectionsOne({ serviceId: "dversum", unifiedApi: "accounting" });
  assert.equal(one.data.enabled, true);
  const upd = await apideck.vault.connectionsUpdate({ serviceId: "dversum", unifiedApi: "accounting", connection: { ...one.data, enabled: false } });
  assert.equal(upd.data.enabled, false);
  await apideck.vault.connectionsDelete({ serviceId: "dversum", unifiedApi: "accounting" });
  await rejects(apideck.vault.connectionsOne({ serviceId: "dversum", unifiedApi: "accounting" }), 404);

  const body = await rejects(sdk({ consumerId: env("MULTI_CONSUMER") }).vault.connectionsOne({ serviceId: "dversum", unifiedApi: "accounting" }), 409, "ConflictError");
  assert.equal(body.detail.connection_ids.length, 2);
});

test("sessions create", async () => {
  const res = await sdk({ consumerId: "node-session" }).vault.sessionsCreate({
    session: { consumer_metadata: { account_name: "Node Co" }, redirect_uri: "https://app.example.com/", settings: { session_length: "1h" } },
  });
  assert.match(res.data.session_token, /^sbs_/);
  assert.match(res.data.session_uri, /#session=/);
  const asSession = new Apideck({ apiKey: res.data.session_token, appId, basePath });
  assert.deepEqual((await asSession.vault.connectionsAll({})).data, []);
});

test("consumers CRUD and pages", async () => {
  const apideck = sdk();
  const id = "node-consumer-" + Date.now();
  const made = await apideck.vault.consumersAdd({ consumer: { consumer_id: id, metadata: { account_name: "Node", email: "n@example.com" } } });
  assert.equal(made.data.consumer_id, id);
  await rejects(apideck.vault.consumersAdd({ consumer: { consumer_id: id } }), 409, "ConflictError");
  const upd = await apideck.vault.consumersUpdate({ consumerId: id, consumer: { metadata: { account_name: "Node 2" } } });
  assert.equal(upd.data.metadata.account_name, "Node 2");
  assert.equal((await apideck.vault.consumersOne({ consumerId: id })).data.metadata.account_name, "Node 2");
  const { items } = await pages((cursor) => apideck.vault.consumersAll({ limit: 1, cursor }));
  assert.ok(items.some((c) => c.consumer_id === id) && items.some((c) => c.consumer_id === env("LOG_CONSUMER")));
  assert.equal((await apideck.vault.consumersDelete({ consumerId: id })).data.consumer_id, id);
  await rejects(apideck.vault.consumersOne({ consumerId: id }), 404);
});

test("app id, bound keys and the 501 catch-all", async () => {
  await rejects(sdk({ appId: "wrong-app" }).webhook.webhooksAll({}), 401, "UnauthorizedError");
  const bound = new Apideck({ apiKey: env("BOUND_KEY"), appId, basePath });
  assert.deepEqual((await bound.vault.consumersAll({})).data.map((c) => c.consumer_id), ["acme"]);
  const apideck = sdk({ consumerId: "acme", serviceId: "dversum" });
  await rejects(apideck.crm.contactsAll({}), 501, "NotImplementedError");
  await rejects(apideck.accounting.invoicesOne({ id: "x" }), 501, "NotImplementedError");
  await rejects(apideck.vault.logsAll({}), 501, "NotImplementedError");
  await rejects(apideck.fileStorage.filesAll({}), 501, "NotImplementedError");
});
