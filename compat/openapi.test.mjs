// The hub's OpenAPI documents load in common validators (issue 13):
// Redocly's recommended ruleset finds no error, and every schema (each one
// under components/schemas and every inline request, response and
// parameter schema) compiles in Ajv strict mode: Ajv2020 for OpenAPI 3.1,
// Ajv draft-07 with OpenAPI's `nullable` for 3.0.
//
// OPENAPI_DOCS lists the documents, colon-separated file paths or served
// URLs (http://hub/openapi.json); default ../hub/api/openapi.json.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Ajv from 'ajv'
import Ajv2020 from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'

const here = path.dirname(fileURLToPath(import.meta.url))
const redocly = path.join(here, 'node_modules', '.bin', 'redocly')

// A colon-separated list whose entries may be URLs (http://host:port/...):
// a colon followed by "//" belongs to the URL.
function documents () {
  const parts = (process.env.OPENAPI_DOCS || '../hub/api/openapi.json').split(':')
  const out = []
  for (let i = 0; i < parts.length; i++) {
    let p = parts[i]
    if (/^https?$/.test(p) && parts[i + 1]?.startsWith('//')) {
      p += ':' + parts[++i]
      if (i + 1 < parts.length && /^\d+(\/|$)/.test(parts[i + 1])) p += ':' + parts[++i] // a port
    }
    if (p) out.push(p)
  }
  return out
}

// load reads a document from a file or URL and returns it with a local file
// holding its text (what Redocly lints).
async function load (source) {
  let text
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source)
    assert.equal(res.status, 200, `GET ${source}`)
    text = await res.text()
  } else {
    text = fs.readFileSync(path.resolve(here, source), 'utf8')
  }
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openapi-')), 'openapi.json')
  fs.writeFileSync(file, text)
  return { doc: JSON.parse(text), file }
}

const schemaBase = 'https://switchboard.invalid/components/schemas/'

// rewrite copies a schema with its #/components/schemas/ refs pointing at
// the registered components, and collects the x- keywords it uses.
function rewrite (node, xKeys) {
  if (Array.isArray(node)) return node.map((n) => rewrite(n, xKeys))
  if (node === null || typeof node !== 'object') return node
  const out = {}
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-')) xKeys.add(k)
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) {
      out[k] = schemaBase + v.slice('#/components/schemas/'.length)
    } else if (k === 'properties' || k === 'patternProperties' || k === '$defs' || k === 'definitions') {
      // Property names are not keywords: keep them, rewrite their schemas.
      out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, rewrite(s, xKeys)]))
    } else if (k === 'example' || k === 'examples' || k === 'default' || k === 'enum' || k === 'const') {
      out[k] = v // data, not schemas
    } else {
      out[k] = rewrite(v, xKeys)
    }
  }
  return out
}

// inlineSchemas lists every schema of the document outside
// components/schemas, with where it is.
function inlineSchemas (doc) {
  const found = []
  const resolve = (obj) => {
    if (obj && typeof obj.$ref === 'string' && obj.$ref.startsWith('#/')) {
      return obj.$ref.slice(2).split('/').reduce((o, seg) => o?.[seg.replaceAll('~1', '/').replaceAll('~0', '~')], doc)
    }
    return obj
  }
  const fromContent = (content, where) => {
    for (const [type, media] of Object.entries(content ?? {})) {
      if (media?.schema) found.push({ where: `${where} ${type}`, schema: media.schema })
    }
  }
  const fromParams = (params, where) => {
    for (const p of params ?? []) {
      const param = resolve(p)
      if (param?.schema) found.push({ where: `${where} parameter ${param.name}`, schema: param.schema })
    }
  }
  for (const [p, item] of Object.entries(doc.paths ?? {})) {
    fromParams(item.parameters, p)
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'].includes(method)) continue
      const where = `${method.toUpperCase()} ${p}`
      fromParams(op.parameters, where)
      fromContent(resolve(op.requestBody)?.content, `${where} request`)
      for (const [status, r] of Object.entries(op.responses ?? {})) {
        const res = resolve(r)
        fromContent(res?.content, `${where} ${status}`)
        for (const [name, h] of Object.entries(res?.headers ?? {})) {
          const header = resolve(h)
          if (header?.schema) found.push({ where: `${where} ${status} header ${name}`, schema: header.schema })
        }
      }
    }
  }
  for (const [name, r] of Object.entries(doc.components?.responses ?? {})) fromContent(r.content, `components/responses/${name}`)
  for (const [name, p] of Object.entries(doc.components?.parameters ?? {})) {
    if (p.schema) found.push({ where: `components/parameters/${name}`, schema: p.schema })
  }
  for (const [name, h] of Object.entries(doc.components?.headers ?? {})) {
    if (h.schema) found.push({ where: `components/headers/${name}`, schema: h.schema })
  }
  return found
}

function newAjv (doc, xKeys) {
  const v31 = String(doc.openapi).startsWith('3.1')
  const opts = { strict: true, allErrors: true, validateFormats: true }
  const ajv = v31 ? new Ajv2020(opts) : new Ajv(opts) // knows OpenAPI 3.0's nullable
  addFormats(ajv)
  // OpenAPI's own schema keywords are annotations to a JSON Schema
  // validator; the document's x- extensions likewise.
  for (const k of ['example', 'discriminator', 'xml', 'externalDocs', ...xKeys]) ajv.addKeyword(k)
  return ajv
}

for (const source of documents()) {
  test(`${source}: Redocly's recommended lint finds no error`, async () => {
    const { file } = await load(source)
    const run = spawnSync(redocly, ['lint', '--extends=recommended', '--format=json', file], {
      encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' }
    })
    assert.ok(run.stdout, `redocly printed nothing: ${run.stderr}`)
    const report = JSON.parse(run.stdout)
    const errors = report.problems.filter((p) => p.severity === 'error')
      .map((p) => `${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer}`)
    assert.deepEqual(errors, [], 'no lint errors')
    assert.equal(report.totals.errors, 0)
  })

  test(`${source}: names a server`, async () => {
    const { doc } = await load(source)
    assert.ok(Array.isArray(doc.servers) && doc.servers.length > 0 && doc.servers.every((s) => typeof s.url === 'string'), 'a servers entry')
  })

  test(`${source}: every schema compiles in Ajv strict mode`, async () => {
    const { doc } = await load(source)
    const xKeys = new Set()
    const components = Object.entries(doc.components?.schemas ?? {}).map(([name, s]) => [name, rewrite(s, xKeys)])
    const inline = inlineSchemas(doc).map(({ where, schema }) => ({ where, schema: rewrite(schema, xKeys) }))
    const ajv = newAjv(doc, xKeys)
    for (const [name, s] of components) ajv.addSchema(s, schemaBase + name)
    const failures = []
    for (const [name] of components) {
      try { ajv.getSchema(schemaBase + name) } catch (e) { failures.push(`components/schemas/${name}: ${e.message}`) }
    }
    for (const { where, schema } of inline) {
      try { ajv.compile(schema) } catch (e) { failures.push(`${where}: ${e.message}`) }
    }
    assert.deepEqual(failures, [], 'every schema compiles')
    assert.ok(components.length + inline.length > 0, 'the document has schemas')
  })
}
