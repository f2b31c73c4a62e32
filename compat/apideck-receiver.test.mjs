// Receivers written against the senders' own documentation verify real
// deliveries from a running hub (issue 13):
//
// - an apideck-format subscription: the receiver is Apideck's "Webhook
//   Signature Verification" guide as written (Node's crypto: parse the raw
//   body, sort the object keys recursively, JSON.stringify, HMAC-SHA256 with
//   the API key, hex, constant-time compare);
// - a standard subscription: verified with the `standardwebhooks` library.
//
// SWITCHBOARD_URL and SWITCHBOARD_KEY name the hub (the Go test
// TestApideckReceiverNode starts one); it must allow private destinations,
// since the receivers listen on 127.0.0.1.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import crypto from 'node:crypto'
import { Webhook } from 'standardwebhooks'

const hub = process.env.SWITCHBOARD_URL
const key = process.env.SWITCHBOARD_KEY
const apiKey = 'sk_live_' + crypto.randomBytes(16).toString('hex') // what the receiver verifies with
const eventType = 'accounting.invoice.created'

// verifySignature is the guide's function, unchanged in substance.
function verifySignature (payload, signature, apiKey) {
  const sortObjectKeys = (obj) => {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      return obj
    }
    return Object.keys(obj).sort().reduce((result, key) => {
      result[key] = sortObjectKeys(obj[key])
      return result
    }, {})
  }
  const sortedPayload = sortObjectKeys(JSON.parse(payload))
  const expected = crypto.createHmac('sha256', apiKey).update(JSON.stringify(sortedPayload)).digest('hex')
  if (typeof signature !== 'string' || signature.length !== expected.length) return false
  return crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
}

// receiver records every request (raw body and headers) and answers 200.
function receiver () {
  const got = []
  const waiters = []
  const srv = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"OK"}')
      for (const w of waiters.splice(0)) w()
    })
  })
  return {
    got,
    listen: () => new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${srv.address().port}/webhook`))),
    close: () => new Promise((resolve) => srv.close(resolve)),
    async wait (n, what) {
      const deadline = Date.now() + 30000
      while (got.length < n) {
        if (Date.now() > deadline) throw new Error(`${what}: ${got.length} of ${n} deliveries arrived within 30s`)
        await new Promise((resolve) => { waiters.push(resolve); setTimeout(resolve, 200) })
      }
      return got[n - 1]
    }
  }
}

async function api (method, path, body, consumer) {
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
  if (consumer) headers['x-consumer-id'] = consumer
  const res = await fetch(hub + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const json = await res.json()
  return { status: res.status, json }
}

const apideckRcv = receiver()
const standardRcv = receiver()
const vaultRcv = receiver()
const wildcardRcv = receiver()
let apideckSub, standardSub, vaultSub, wildcardSub, eventID, example

before(async () => {
  assert.ok(hub && key, 'SWITCHBOARD_URL and SWITCHBOARD_KEY must name a running hub')
  const [apideckURL, standardURL, vaultURL, wildcardURL] = await Promise.all(
    [apideckRcv.listen(), standardRcv.listen(), vaultRcv.listen(), wildcardRcv.listen()])
  let r = await api('POST', '/webhook/webhooks', {
    unified_api: 'accounting', status: 'enabled', delivery_url: apideckURL, events: [eventType],
    delivery_format: 'apideck', signing_key: apiKey
  })
  assert.equal(r.status, 201, JSON.stringify(r.json))
  apideckSub = r.json.data
  r = await api('POST', '/webhook/webhooks', {
    unified_api: 'accounting', status: 'enabled', delivery_url: standardURL, events: [eventType]
  })
  assert.equal(r.status, 201, JSON.stringify(r.json))
  standardSub = r.json.data
  r = await api('POST', '/webhook/webhooks', {
    unified_api: 'vault', status: 'enabled', delivery_url: vaultURL, consumer_id: 'acme',
    events: ['vault.connection.created', 'vault.connection.callable', 'vault.connection.deleted'],
    delivery_format: 'apideck', signing_key: apiKey
  })
  assert.equal(r.status, 201, JSON.stringify(r.json))
  vaultSub = r.json.data
  r = await api('POST', '/webhook/webhooks', {
    unified_api: '*', status: 'enabled', delivery_url: wildcardURL, events: ['*']
  })
  assert.equal(r.status, 201, JSON.stringify(r.json))
  wildcardSub = r.json.data

  r = await api('GET', `/webhook/event-types/${eventType}`)
  assert.equal(r.status, 200, JSON.stringify(r.json))
  example = r.json.data.example.payload // the catalogue example, as delivered
  r = await api('POST', '/webhook/events', {
    event_type: eventType, consumer_id: 'acme', entity_id: example.entity_id,
    entity_type: 'invoice', entity: example.entity
  })
  assert.equal(r.status, 202, JSON.stringify(r.json))
  eventID = r.json.data.id
})

after(async () => {
  await Promise.all([apideckRcv.close(), standardRcv.close(), vaultRcv.close(), wildcardRcv.close()])
})

test('the apideck subscription is write-only about its key', () => {
  assert.equal(apideckSub.delivery_format, 'apideck')
  assert.equal(standardSub.delivery_format, 'standard')
  assert.ok(!JSON.stringify(apideckSub).includes(apiKey), 'signing_key is never returned')
})

test("an apideck-format delivery verifies with Apideck's documented method", async () => {
  const d = await apideckRcv.wait(1, 'apideck delivery')
  assert.equal(d.headers['x-apideck-event-type'], eventType)
  assert.equal(d.headers['x-apideck-idempotency-key'], eventID)
  assert.match(d.headers['x-apideck-signature'], /^[0-9a-f]{64}$/)
  assert.equal(d.headers['webhook-signature'], undefined, 'no Standard Webhooks headers')
  assert.ok(verifySignature(d.body, d.headers['x-apideck-signature'], apiKey), 'signature verifies')
  assert.ok(!verifySignature(d.body, d.headers['x-apideck-signature'], apiKey + 'x'), 'another key does not')
  const tampered = d.body.replace(eventID, crypto.randomUUID())
  assert.ok(!verifySignature(tampered, d.headers['x-apideck-signature'], apiKey), 'a changed body does not')

  const { payload } = JSON.parse(d.body)
  assert.equal(payload.event_id, eventID)
  assert.equal(payload.event_type, eventType)
  assert.equal(payload.unified_api, 'accounting')
  assert.equal(payload.consumer_id, 'acme')
  assert.equal(payload.entity_type, 'invoice')
  assert.equal(payload.execution_attempt, 1)
  assert.match(payload.occurred_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  assert.equal(payload.entity_id, example.entity_id)
  assert.deepEqual(payload.entity, example.entity)
})

test('a standard delivery of the same event verifies with the standardwebhooks library', async () => {
  const d = await standardRcv.wait(1, 'standard delivery')
  const wh = new Webhook(standardSub.secret)
  const verified = wh.verify(d.body, d.headers)
  assert.equal(verified.payload.event_id, eventID)
  assert.equal(d.headers['webhook-id'], eventID)
  assert.equal(d.headers['x-apideck-signature'], undefined)
  assert.throws(() => wh.verify(d.body.replace('acme', 'acmf'), d.headers), 'a changed body does not verify')
})

test('a test send to the apideck subscription verifies too', async () => {
  const r = await api('POST', `/webhook/webhooks/${apideckSub.id}/test`, {})
  assert.equal(r.status, 202, JSON.stringify(r.json))
  const d = await apideckRcv.wait(2, 'apideck test delivery')
  assert.equal(d.headers['x-apideck-idempotency-key'], r.json.data.event_id)
  assert.ok(verifySignature(d.body, d.headers['x-apideck-signature'], apiKey))
})

test('connection changes are vault.connection.* events, delivered by name only', async () => {
  let r = await api('POST', '/vault/connections', { service_id: 'dversum' }, 'acme')
  assert.equal(r.status, 201, JSON.stringify(r.json))
  const connID = r.json.data.id
  r = await api('DELETE', `/vault/connections/${connID}`, undefined, 'acme')
  assert.equal(r.status, 200, JSON.stringify(r.json))

  const seen = []
  for (let n = 1; n <= 3; n++) {
    const d = await vaultRcv.wait(n, 'vault event delivery')
    assert.ok(verifySignature(d.body, d.headers['x-apideck-signature'], apiKey), 'apideck signature verifies')
    const { payload } = JSON.parse(d.body)
    assert.equal(payload.unified_api, 'vault')
    assert.equal(payload.consumer_id, 'acme')
    assert.equal(payload.service_id, 'dversum')
    assert.equal(payload.entity_id, connID)
    assert.equal(payload.entity.id, connID)
    assert.equal(payload.entity_type, 'connection')
    assert.equal(d.headers['x-apideck-event-type'], payload.event_type)
    seen.push(payload.event_type)

    // Stored like any event, and "*" got no delivery of it.
    const ev = await api('GET', `/webhook/events/${payload.event_id}`)
    assert.equal(ev.status, 200, JSON.stringify(ev.json))
    assert.deepEqual(ev.json.data.deliveries.map((x) => x.subscription_id), [vaultSub.id])
    assert.ok(!ev.json.data.deliveries.some((x) => x.subscription_id === wildcardSub.id))
  }
  assert.deepEqual(seen.sort(), ['vault.connection.callable', 'vault.connection.created', 'vault.connection.deleted'])
  assert.ok(wildcardRcv.got.every((d) => !JSON.parse(d.body).payload.event_type.startsWith('vault.')))
})
