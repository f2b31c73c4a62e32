// Apideck's current SDK, @apideck/unify, driven against a real Switchboard
// hub exactly as an Apideck user writes it: only serverURL points at the
// hub's /apideck edge. Every response passes the SDK's own zod validation
// (a mismatch throws ResponseValidationError/SDKValidationError).
//
// Run by cmd/switchboard TestApideckSDKs, which starts the hub and passes:
// HUB_URL, APP_KEY (unbound key), BOUND_KEY (bound to consumer acme),
// APP_ID, LOG_CONSUMER (consumer with delivery logs), MULTI_CONSUMER (two
// dversum connections).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Apideck } from "@apideck/unify";
import * as errors from "@apideck/unify/models/errors/index.js";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run through go test ./cmd/switchboard -run TestApideckSDKs`);
  return v;
};
const serverURL = env("HUB_URL") + "/apideck";
const appId = env("APP_ID");
const sdk = (opts = {}) => new Apideck({ apiKey: env("APP_KEY"), appId, serverURL, ...opts });

// collect iterates every page of a paginated list call.
async function collect(res) {
  const items = [];
  let pages = 0;
  for await (const page of res) {
    pages++;
    const r = page.result ?? page;
    const data = r.getWebhooksResponse?.data ?? r.getWebhookEventLogsResponse?.data ??
      r.getConsumersResponse?.data ?? r.getConnectorsResponse?.data;
    assert.ok(Array.isArray(data), "a page holds data[]");
    items.push(...data);
  }
  return { items, pages };
}

async function rejects(promise, status, typeName) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof errors.ApideckError, `an ApideckError, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.httpMeta.response.status, status, err.httpMeta.body);
    const body = JSON.parse(err.httpMeta.body);
    assert.equal(body.status_code, status);
    if (typeName) assert.equal(body.type_name, typeName, err.httpMeta.body);
    assert.match(body.ref, /^https:\/\/developers\.apideck\.com\/errors#/);
    assert.equal(typeof body.message, "string");
    return { err, body };
  }
  assert.fail(`expected a ${status}`);
}

test("webhooks: create, get, update, list every page, delete", async () => {
  const apideck = sdk();
  const made = [];
  for (const n of [1, 2, 3]) {
    const res = await apideck.webhook.webhooks.create({
      createWebhookRequest: {
        description: `unify ${n}`, unifiedApi: "accounting", status: "enabled",
        deliveryUrl: `https://example.com/unify/${n}`, events: ["accounting.invoice.created", "accounting.invoice.updated"],
      },
    });
    assert.equal(res.createWebhookResponse.statusCode, 201);
    const w = res.createWebhookResponse.data;
    assert.ok(w.id);
    assert.equal(w.unifiedApi, "accounting");
    assert.equal(w.status, "enabled");
    assert.equal(w.disabledReason, "none");
    assert.equal(w.executeBaseUrl, env("HUB_URL") + "/webhook/inbound");
    assert.deepEqual(w.events, ["accounting.invoice.created", "accounting.invoice.updated"]);
    assert.ok(w.createdAt instanceof Date && !isNaN(w.createdAt));
    made.push(w.id);
  }
  const got = await apideck.webhook.webhooks.get({ id: made[0] });
  assert.equal(got.getWebhookResponse.data.description, "unify 1");

  const upd = await apideck.webhook.webhooks.update({ id: made[0], updateWebhookRequest: { description: "renamed", status: "disabled" } });
  assert.equal(upd.updateWebhookResponse.data.description, "renamed");
  assert.equal(upd.updateWebhookResponse.data.status, "disabled");

  const { items, pages } = await collect(await apideck.webhook.webhooks.list({ limit: 1 }));
  assert.ok(pages >= 3, `one item per page: ${pages} pages`);
  for (const id of made) assert.ok(items.some((w) => w.id === id), `listed ${id}`);
  assert.equal(new Set(items.map((w) => w.id)).size, items.length, "no item twice across pages");

  for (const id of made) {
    const del = await apideck.webhook.webhooks.delete({ id });
    assert.equal(del.deleteWebhookResponse.data.id, id);
  }
  await rejects(apideck.webhook.webhooks.get({ id: made[0] }), 404, "EntityNotFoundError");
});

test("webhooks: a bad delivery URL is a 4xx in Apideck's error shape", async () => {
  const { body } = await rejects(sdk().webhook.webhooks.create({
    createWebhookRequest: { unifiedApi: "accounting", status: "enabled", deliveryUrl: "not a url", events: ["*"] },
  }), 422);
  assert.equal(body.error, "Unprocessable Entity");
});

test("event logs: every field, every filter, every page", async () => {
  const apideck = sdk();
  const consumer = env("LOG_CONSUMER");
  const all = await collect(await apideck.webhook.eventLogs.list({ limit: 2 }));
  assert.ok(all.items.length >= 6, `logs: ${all.items.length}`);
  assert.ok(all.pages >= 3);
  assert.equal(new Set(all.items.map((l) => l.id)).size, all.items.length, "no log twice across pages");
  const l = all.items.find((x) => x.consumerId === consumer);
  for (const k of ["id", "statusCode", "success", "applicationId", "consumerId", "unifiedApi", "service", "endpoint", "eventType",
    "executionAttempt", "httpMethod", "timestamp", "entityType", "requestBody", "responseBody", "retryScheduled", "attempts"]) {
    assert.ok(l[k] !== undefined, `field ${k}`);
  }
  assert.equal(l.applicationId, appId);
  assert.equal(l.httpMethod, "POST");
  assert.equal(typeof l.service.id, "string");
  assert.equal(typeof l.service.name, "string");
  assert.equal(JSON.parse(l.requestBody).payload.consumer_id, consumer);
  assert.ok(l.attempts.some((a) => a.executionAttempt === l.executionAttempt), "attempts holds this try");

  const list = async (filter) => (await collect(await apideck.webhook.eventLogs.list({ limit: 50, filter }))).items;
  const byConsumer = await list({ consumerId: consumer });
  assert.ok(byConsumer.length >= 6);
  assert.ok(byConsumer.every((x) => x.consumerId === consumer));

  const paid = await list({ eventType: "accounting.invoice.paid" });
  assert.ok(paid.length > 0 && paid.every((x) => x.eventType === "accounting.invoice.paid"));

  const customers = await list({ entityType: "customer" });
  assert.ok(customers.length > 0 && customers.every((x) => x.entityType === "customer"));

  assert.deepEqual(await list({ excludeApis: "accounting" }), [], "every log is accounting");
  assert.ok((await list({ excludeApis: "crm,hris" })).length >= 6);

  const notFound = await list({ statusCode: 404 });
  assert.ok(notFound.length > 0 && notFound.every((x) => x.statusCode === 404 && x.success === false));
  const either = await list({ statusCodes: [200, 404] });
  assert.ok(either.length >= notFound.length + 1);

  const ok = await list({ success: true });
  assert.ok(ok.length > 0 && ok.every((x) => x.success));

  assert.ok((await list({ executionAttempt: 1 })).every((x) => x.executionAttempt === 1));
  assert.deepEqual(await list({ executionAttempt: 99 }), []);

  const past = new Date(Date.now() - 3600_000), future = new Date(Date.now() + 3600_000);
  assert.ok((await list({ startDate: past, endDate: future })).length >= 6);
  assert.deepEqual(await list({ startDate: future }), []);
  assert.deepEqual(await list({ endDate: past }), []);

  const svc = l.service.id;
  assert.ok((await list({ service: { id: svc } })).every((x) => x.service.id === svc));
  assert.deepEqual(await list({ service: { id: "no-such-service" } }), []);

  assert.ok((await list({ eventId: JSON.parse(l.requestBody).payload.event_id })).length >= 1);
});

test("connectors: list and get, unified_apis as objects", async () => {
  const apideck = sdk();
  const { items } = await collect(await apideck.connector.connectors.list({ limit: 1 }));
  const ids = items.map((c) => c.id);
  for (const id of ["deskera", "dversum", "vplan"]) assert.ok(ids.includes(id), `lists ${id}: ${ids}`);
  const d = items.find((c) => c.id === "dversum");
  assert.equal(typeof d.unifiedApis[0], "object");
  assert.equal(d.unifiedApis[0].id, "accounting");
  assert.ok(["native", "virtual", "none"].includes(d.webhookSupport.mode));
  assert.ok(["api", "manual"].includes(d.webhookSupport.managedVia));
  assert.ok(d.supportedEvents.length > 0);
  const one = await apideck.connector.connectors.get({ id: "dversum" });
  assert.equal(one.getConnectorResponse.data.id, "dversum");
  await rejects(apideck.connector.connectors.get({ id: "nope" }), 404);
});

test("vault connections by unified_api/service_id: import, list, get, update, delete", async () => {
  const consumerId = "unify-vault-" + Date.now();
  const apideck = sdk({ consumerId });
  await rejects(apideck.vault.connections.get({ unifiedApi: "accounting", serviceId: "dversum" }), 404, "EntityNotFoundError");

  const imp = await apideck.vault.connections.imports({ unifiedApi: "accounting", serviceId: "dversum", connectionImportData: { settings: {} } });
  const c = imp.createConnectionResponse.data;
  assert.equal(c.id, "accounting+dversum");
  assert.equal(c.serviceId, "dversum");
  assert.equal(c.unifiedApi, "accounting");
  assert.equal(c.state, "callable");
  assert.equal(c.enabled, true);
  assert.equal(typeof c.createdAt, "number");
  assert.match(c.subscriptions[0].executeUrl, /\/webhook\/inbound\/dversum\//);
  // The SDK gathers metadata's keys beyond company_id in additionalProperties.
  const meta = (m) => ({ ...m, ...(m.additionalProperties ?? {}) });
  assert.ok(meta(c.metadata).signing_secret, "the generated signing secret is shown once, on import");

  // One entry per unified API dVersum feeds.
  const list = await apideck.vault.connections.list({});
  const apis = list.getConnectionsResponse.data.map((x) => x.unifiedApi);
  assert.ok(apis.includes("accounting") && apis.length > 1, `${apis}`);
  assert.ok(list.getConnectionsResponse.data.every((x) => x.id === `${x.unifiedApi}+dversum`));
  assert.deepEqual((await apideck.vault.connections.list({ api: "accounting" })).getConnectionsResponse.data.map((x) => x.id), ["accounting+dversum"]);
  assert.deepEqual((await apideck.vault.connections.list({ api: "crm" })).getConnectionsResponse.data, []);

  const got = await apideck.vault.connections.get({ unifiedApi: "accounting", serviceId: "dversum" });
  assert.equal(meta(got.getConnectionResponse.data.metadata).connection_id, meta(c.metadata).connection_id);
  assert.equal(meta(got.getConnectionResponse.data.metadata).signing_secret, undefined);

  const upd = await apideck.vault.connections.update({ unifiedApi: "accounting", serviceId: "dversum", connection: { enabled: false } });
  assert.equal(upd.updateConnectionResponse.data.enabled, false);
  assert.equal(upd.updateConnectionResponse.data.state, "added");

  await rejects(apideck.vault.connections.get({ unifiedApi: "crm", serviceId: "dversum" }), 404);

  await apideck.vault.connections.delete({ unifiedApi: "accounting", serviceId: "dversum" });
  await rejects(apideck.vault.connections.get({ unifiedApi: "accounting", serviceId: "dversum" }), 404);
});

test("vault connections: several to one service is a 409 listing them", async () => {
  const apideck = sdk({ consumerId: env("MULTI_CONSUMER") });
  const { body } = await rejects(apideck.vault.connections.get({ unifiedApi: "accounting", serviceId: "dversum" }), 409, "ConflictError");
  assert.equal(body.detail.connection_ids.length, 2);
  // The list shows both, once per unified API.
  const list = await apideck.vault.connections.list({ api: "accounting" });
  assert.equal(list.getConnectionsResponse.data.filter((c) => c.serviceId === "dversum").length, 2);
});

test("sessions: create, and the session token works as the consumer", async () => {
  const consumerId = "unify-session-" + Date.now();
  const res = await sdk({ consumerId }).vault.sessions.create({
    session: {
      consumerMetadata: { accountName: "Session Co", userName: "Ada", email: "ada@example.com" },
      redirectUri: "https://app.example.com/back",
      settings: { sessionLength: "30m", unifiedApis: ["accounting"] },
      theme: { vaultName: "Example" },
    },
  });
  const s = res.createSessionResponse.data;
  assert.match(s.sessionToken, /^sbs_/);
  assert.match(s.sessionUri, /\/console\/#session=sbs_/);
  // The consumer's metadata was kept.
  const consumer = await sdk().vault.consumers.get({ consumerId });
  assert.equal(consumer.getConsumerResponse.data.metadata.accountName, "Session Co");
  // The token acts for its consumer: no consumer id needed.
  const asSession = new Apideck({ apiKey: s.sessionToken, appId, serverURL });
  const list = await asSession.vault.connections.list({});
  assert.deepEqual(list.getConnectionsResponse.data, []);
  await rejects(new Apideck({ apiKey: s.sessionToken, appId, serverURL, consumerId: "someone-else" }).vault.connections.list({}), 403);
});

test("consumers: create, get, update, list every page, delete", async () => {
  const apideck = sdk();
  const id = "unify-consumer-" + Date.now();
  const made = await apideck.vault.consumers.create({ createConsumerRequest: { consumerId: id, metadata: { accountName: "Acme", email: "a@acme.test" } } });
  assert.equal(made.createConsumerResponse.data.consumerId, id);
  assert.equal(made.createConsumerResponse.data.metadata.accountName, "Acme");
  assert.equal(typeof made.createConsumerResponse.data.created, "string");
  await rejects(apideck.vault.consumers.create({ createConsumerRequest: { consumerId: id } }), 409, "ConflictError");

  const upd = await apideck.vault.consumers.update({ consumerId: id, updateConsumerRequest: { metadata: { accountName: "Acme 2", userName: "Wile" } } });
  assert.equal(upd.updateConsumerResponse.data.metadata.accountName, "Acme 2");
  const got = await apideck.vault.consumers.get({ consumerId: id });
  assert.equal(got.getConsumerResponse.data.metadata.userName, "Wile");
  assert.deepEqual(got.getConsumerResponse.data.connections, []);

  const { items, pages } = await collect(await apideck.vault.consumers.list({ limit: 2 }));
  const ids = items.map((c) => c.consumerId);
  assert.ok(ids.includes(id));
  assert.ok(ids.includes(env("LOG_CONSUMER")), "a consumer known only from its events and subscriptions is listed");
  assert.ok(ids.includes(env("MULTI_CONSUMER")), "a consumer known only from its connections is listed");
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(pages >= 2);
  const multi = items.find((c) => c.consumerId === env("MULTI_CONSUMER"));
  assert.deepEqual(multi.services, ["dversum"]);

  const del = await apideck.vault.consumers.delete({ consumerId: id });
  assert.equal(del.deleteConsumerResponse.data.consumerId, id);
  await rejects(apideck.vault.consumers.get({ consumerId: id }), 404);
});

test("a bound key sees only its own consumer", async () => {
  const bound = new Apideck({ apiKey: env("BOUND_KEY"), appId, serverURL });
  const { items } = await collect(await bound.vault.consumers.list({}));
  assert.deepEqual(items.map((c) => c.consumerId), ["acme"]);
  await rejects(bound.vault.consumers.get({ consumerId: env("MULTI_CONSUMER") }), 404);
  const logs = await collect(await bound.webhook.eventLogs.list({}));
  assert.ok(logs.items.every((l) => l.consumerId === "acme"));
  await rejects(bound.webhook.eventLogs.list({ filter: { consumerId: env("MULTI_CONSUMER") } }).then(collect), 403);
});

test("x-apideck-app-id must name the hub's application", async () => {
  await rejects(sdk({ appId: "someone-elses-app" }).webhook.webhooks.list({}).then(collect), 401, "UnauthorizedError");
  await rejects(sdk({ apiKey: "sk_wrong" }).webhook.webhooks.list({}).then(collect), 401, "UnauthorizedError");
});

test("every other SDK call is a 501 NotImplementedError", async () => {
  const apideck = sdk({ consumerId: "acme", serviceId: "dversum" });
  const calls = [
    () => apideck.crm.leads.list({}).then(collect),
    () => apideck.accounting.invoices.get({ id: "inv_1" }),
    () => apideck.accounting.invoices.create({ invoice: {} }),
    () => apideck.vault.logs.list({}).then(collect),
    () => apideck.vault.connections.token({ unifiedApi: "accounting", serviceId: "dversum" }),
    () => apideck.vault.consumerRequestCounts.list({ consumerId: "acme", startDatetime: "2024-01-01T00:00:00Z", endDatetime: "2024-02-01T00:00:00Z" }),
    () => apideck.connector.apis.list({}).then(collect),
  ];
  for (const call of calls) await rejects(call(), 501, "NotImplementedError");
});
