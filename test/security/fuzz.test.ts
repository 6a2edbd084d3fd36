// Property-based fuzzing of every body-taking endpoint: hostile bodies never cause a 5xx and always get the contract's error shapes.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import type { App } from '../../src/app.js'
import Fastify from 'fastify'
import { frameworkErrors } from '../../plugins/errors.js'
import { build, form, PASSWORD, register, signUp } from '../helper.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 150)

/** Length of a path segment once percent-encoded; Infinity for strings with lone surrogates (not encodable). */
function encodedLength (s: string): number {
  try { return encodeURIComponent(s).length } catch { return Infinity }
}

// ---------------------------------------------------------------- generators

/** A JSON document as a tree, so keys like `__proto__` and duplicate keys survive serialisation. */
type Doc = { obj: Array<[string, Doc]> } | { arr: Doc[] } | { raw: string }

function serialize (doc: Doc): string {
  if ('raw' in doc) return doc.raw
  if ('arr' in doc) return `[${doc.arr.map(serialize).join(',')}]`
  return `{${doc.obj.map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`).join(',')}}`
}

const NASTY_STRINGS = [
  '', ' ', '\u0000', 'a\u0000b', 'admin\u0000', "' OR 1=1 --", "admin'--", '"; DROP TABLE users; --', 'Robert\'); DROP TABLE tasks;--',
  '<script>alert(1)</script>', '../../etc/passwd', '$' + '{jndi:ldap://x/a}', '{{7*7}}', '%00', '%', '\\', '\\u0000',
  '\uFFFF', '\uFEFF', '\u202Eevil', '\uD800', '\uDC00x', '𝕬𝖑𝖎𝖈𝖊', 'ﬀﬀﬀﬀﬀﬀﬀﬀ', 'ａｄｍｉｎ', 'İstanbul', 'ß'.repeat(64),
  'null', 'true', '0', '-1', 'NaN', '1e309', '__proto__', 'constructor', 'prototype', 'admin', 'user',
  'a@b.c', 'x@example.com', 'not-an-email', '@', 'a'.repeat(129), 'a'.repeat(513), 'p'.repeat(10_000), PASSWORD.toUpperCase()
]

const str = fc.oneof(
  fc.constantFrom(...NASTY_STRINGS),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.integer({ min: 0, max: 20_000 }).map((n) => 'A'.repeat(n))
)

const literal: fc.Arbitrary<Doc> = fc.oneof(
  str.map((s) => ({ raw: JSON.stringify(s) })),
  fc.integer().map((n) => ({ raw: String(n) })),
  fc.double().map((n) => ({ raw: JSON.stringify(n) })),
  fc.boolean().map((b) => ({ raw: String(b) })),
  fc.constantFrom('null', '1e999', '-0', '123456789012345678901234567890', '0.0000001', '"5"', '"true"', '""', '1', '0', '-1', '9007199254740993')
    .map((raw) => ({ raw }))
)

const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'role', 'disabled', 'id', 'user_id', 'userId', 'password_hash', 'passwordHash', 'created_at', 'isAdmin']

/** Arbitrary JSON built around the fields an endpoint knows, plus hostile extras. */
function jsonDoc (fields: string[]): fc.Arbitrary<Doc> {
  const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...fields) }, fc.constantFrom(...SPECIAL_KEYS), fc.string({ maxLength: 12 }))
  const { doc } = fc.letrec<{ doc: Doc }>((tie) => ({
    doc: fc.oneof({ depthSize: 'small', withCrossShrink: true },
      literal,
      fc.array(tie('doc'), { maxLength: 4 }).map((arr) => ({ arr })),
      fc.array(fc.tuple(key, tie('doc')), { maxLength: 5 }).map((obj) => ({ obj })))
  }))
  // Mostly objects with the expected fields, each with a valid-looking or hostile value.
  const shaped = fc.array(fc.tuple(key, fc.oneof({ weight: 3, arbitrary: literal }, doc)), { maxLength: 6 }).map((obj) => ({ obj }))
  return fc.oneof({ weight: 4, arbitrary: shaped }, doc)
}

const INVALID_JSON = ['{', '}', '{"a":', '[1,2', 'nul', 'undefined', '{"a":1}}', "{'a':1}", '{"a":1,}', '{a:1}', '\u0000', '{"a":"\u0000"}', '{"a":01}',
  '{"a":"\\x41"}', '{"a":"\\ud800"}', '[]', '""', '0', 'true', 'null', ' ', '{"__proto__":{"polluted":"yes"}}', '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"a":1,"a":2}', '\uFEFF{}', '{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}']

const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'APPLICATION/JSON', 'application/json;;',
  'text/plain', 'text/html', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/xml', 'application/vnd.api+json',
  'application/problem+json', 'application/json, text/plain', ';;;', '*/*', '']

/** A request body as sent on the wire: payload plus content type (undefined: no header). */
interface Wire { payload: string | Buffer, contentType: string | undefined }

const invalidUtf8 = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.constantFrom([0xff], [0xc3, 0x28], [0xe2, 0x28, 0xa1], [0xf0, 0x28, 0x8c, 0xbc], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xfe, 0xff])
    .chain((bytes) => fc.constantFrom('username', 'title', 'refresh_token', 'password').map((k) =>
      Buffer.concat([Buffer.from(`{"${k}":"ab`), Buffer.from(bytes), Buffer.from('cd"}')])))
)

function jsonWire (fields: string[]): fc.Arbitrary<Wire> {
  const ct = fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, fc.constantFrom<string | undefined>(...CONTENT_TYPES, undefined))
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(jsonDoc(fields), ct).map(([doc, contentType]) => ({ payload: serialize(doc), contentType })) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...INVALID_JSON), ct).map(([payload, contentType]) => ({ payload, contentType })) },
    { weight: 1, arbitrary: fc.tuple(invalidUtf8, ct).map(([payload, contentType]) => ({ payload, contentType })) }
  )
}

function formWire (fields: string[]): fc.Arbitrary<Wire> {
  const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...fields) }, fc.constantFrom(...SPECIAL_KEYS, '__proto__[polluted]', 'constructor[prototype][polluted]', 'a[]', ''), fc.string({ maxLength: 10 }))
  const pairs = fc.array(fc.tuple(key, str), { maxLength: 6 }).map((entries) => new URLSearchParams(entries).toString())
  const raw = fc.constantFrom('%', '%zz', '%C3%28', '%FF%FE', 'username=%00&password=%00', '&&&', '=', '==&==', 'a=1&a=2&a=3', 'username=a&username=b&password=x',
    'username[]=a&password=x', '__proto__=x', '__proto__[polluted]=yes', 'constructor[prototype][polluted]=yes', 'grant_type=password&grant_type=refresh_token',
    'grant_type=implicit', 'grant_type=client_credentials&client_id=a&client_secret=b', 'grant_type=refresh_token', 'grant_type=password', 'token=', 'token_type_hint=access_token')
  const ct = fc.oneof({ weight: 6, arbitrary: fc.constant('application/x-www-form-urlencoded') },
    fc.constantFrom<string | undefined>('application/x-www-form-urlencoded; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED', ...CONTENT_TYPES, undefined))
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(pairs, ct).map(([payload, contentType]) => ({ payload, contentType })) },
    { weight: 1, arbitrary: fc.tuple(raw, ct).map(([payload, contentType]) => ({ payload, contentType })) },
    { weight: 1, arbitrary: fc.tuple(jsonDoc(fields), ct).map(([doc, contentType]) => ({ payload: serialize(doc), contentType })) },
    { weight: 1, arbitrary: fc.tuple(invalidUtf8, ct).map(([payload, contentType]) => ({ payload, contentType })) }
  )
}

// ---------------------------------------------------------------- contract checks

const OAUTH_ERRORS = new Set(['invalid_request', 'invalid_grant', 'unsupported_grant_type', 'slow_down', 'invalid_client'])
const LEAKS = /\$argon2|password_?hash|SQLITE|sqlite|at .*\.(ts|js):\d+|Error:|drizzle|node_modules/i

function checkShape (res: LightMyRequestResponse, oauth: boolean, allowed: number[]): string | undefined {
  if (res.statusCode >= 500) return `5xx: ${res.statusCode} ${res.body}`
  if (!allowed.includes(res.statusCode)) return `unexpected status ${res.statusCode} ${res.body}`
  if (LEAKS.test(res.body)) return `response leaks internals: ${res.body}`
  if (res.statusCode < 400) return undefined
  const type = String(res.headers['content-type'])
  let body: Record<string, unknown>
  try { body = JSON.parse(res.body) } catch { return `error body is not JSON: ${res.body}` }
  if (oauth) {
    if (!type.startsWith('application/json')) return `OAuth error content-type ${type}`
    const keys = Object.keys(body).sort().join(',')
    if (keys !== 'detail,error,error_description') return `OAuth error keys ${keys}`
    if (!OAUTH_ERRORS.has(body.error as string)) return `OAuth error code ${String(body.error)}`
    if (typeof body.error_description !== 'string' || body.error_description === '') return 'OAuth error_description'
    if (body.detail !== body.error_description) return 'OAuth detail must repeat error_description'
    if (res.statusCode === 413 || res.statusCode === 415) { if (body.error !== 'invalid_request') return `${res.statusCode} must be invalid_request` }
    return undefined
  }
  if (!type.startsWith('application/problem+json')) return `problem content-type ${type}`
  if (typeof body.type !== 'string' || typeof body.title !== 'string' || typeof body.detail !== 'string' || body.detail === '') return `problem fields ${res.body}`
  if (body.status !== res.statusCode) return `problem status ${String(body.status)} != ${res.statusCode}`
  if (res.statusCode === 422) {
    const errors = body.errors
    if (!Array.isArray(errors) || errors.length === 0) return `422 without errors[] ${res.body}`
    for (const e of errors as Array<Record<string, unknown>>) {
      if (typeof e.field !== 'string' || typeof e.message !== 'string') return `bad errors[] entry ${JSON.stringify(e)}`
      if (e.field !== '' && !e.field.startsWith('/')) return `errors[].field is not a JSON pointer: ${e.field}`
    }
  }
  return undefined
}

interface Endpoint {
  name: string
  method: 'POST' | 'PATCH'
  url: () => string
  oauth: boolean
  fields: string[]
  allowed: number[]
  headers?: () => Record<string, string>
}

async function fuzz (t: Test, app: App, ep: Endpoint) {
  let requests = 0
  const statuses = new Map<number, number>()
  await fc.assert(fc.asyncProperty(ep.oauth ? formWire(ep.fields) : jsonWire(ep.fields), async (wire) => {
    const headers: Record<string, string> = { ...(ep.headers?.() ?? {}) }
    if (wire.contentType !== undefined) headers['content-type'] = wire.contentType
    const res = await app.inject({ method: ep.method, url: ep.url(), headers, payload: wire.payload })
    requests += 1
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    const problem = checkShape(res, ep.oauth, ep.allowed)
    if (problem !== undefined) throw new Error(`${ep.method} ${ep.url()}: ${problem}`)
  }), { numRuns: RUNS })
  t.pass(`${ep.name}: ${RUNS} generated bodies, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
  t.comment(`${ep.name}: ${requests} requests, ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
}

// ---------------------------------------------------------------- the run

t.test('generated bodies on every JSON and form endpoint', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const admin = await signUp(app, { role: 'admin' })
  const bystander = await register(app)
  const taskRes = await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: { title: 'fuzz target' } })
  t.equal(taskRes.statusCode, 201)
  const taskId = taskRes.json<{ id: number }>().id
  const row = (id: number) => app.sqlite.prepare('SELECT * FROM users WHERE id = ?').get(id) as Record<string, unknown>
  const before = { user: row(user.id), admin: row(admin.id), bystander: row(bystander.id) }
  const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort()

  const endpoints: Endpoint[] = [
    { name: 'POST /auth/register', method: 'POST', url: () => '/auth/register', oauth: false, fields: ['username', 'email', 'password'], allowed: [201, 400, 409, 413, 415, 422] },
    { name: 'POST /users/signup', method: 'POST', url: () => '/users/signup', oauth: false, fields: ['email', 'password', 'username'], allowed: [201, 400, 409, 413, 415, 422] },
    { name: 'POST /auth/refresh', method: 'POST', url: () => '/auth/refresh', oauth: false, fields: ['refresh_token'], allowed: [400, 401, 413, 415, 422] },
    // No bearer token here: `{ all: true }` must not be able to end the fuzz user's sessions.
    { name: 'POST /auth/logout', method: 'POST', url: () => '/auth/logout', oauth: false, fields: ['refresh_token', 'all'], allowed: [204, 400, 401, 413, 415, 422] },
    { name: 'PATCH /users/me', method: 'PATCH', url: () => '/users/me', oauth: false, fields: ['username', 'email'], allowed: [200, 400, 409, 413, 415, 422], headers: () => user.auth },
    { name: 'POST /users/me/password', method: 'POST', url: () => '/users/me/password', oauth: false, fields: ['current_password', 'new_password'], allowed: [400, 403, 413, 415, 422], headers: () => user.auth },
    { name: 'POST /tasks', method: 'POST', url: () => '/tasks', oauth: false, fields: ['title', 'description', 'done'], allowed: [201, 400, 413, 415, 422], headers: () => user.auth },
    { name: 'PATCH /tasks/:id', method: 'PATCH', url: () => `/tasks/${taskId}`, oauth: false, fields: ['title', 'description', 'done'], allowed: [200, 400, 413, 415, 422], headers: () => user.auth },
    // The admin edits their own row: as the only active admin it can be neither demoted nor disabled.
    { name: 'PATCH /users/:id (admin)', method: 'PATCH', url: () => `/users/${admin.id}`, oauth: false, fields: ['role', 'disabled'], allowed: [200, 400, 409, 413, 415, 422], headers: () => admin.auth },
    { name: 'POST /auth/token', method: 'POST', url: () => '/auth/token', oauth: true, fields: ['grant_type', 'username', 'password', 'refresh_token', 'scope', 'client_id', 'client_secret'], allowed: [400, 401, 413, 415] },
    { name: 'POST /auth/revoke', method: 'POST', url: () => '/auth/revoke', oauth: true, fields: ['token', 'token_type_hint'], allowed: [200, 400, 413, 415] }
  ]
  for (const ep of endpoints) await fuzz(t, app, ep)

  t.test('path ids: anything that is not a positive integer is a 404 problem', async (t) => {
    const ids = fc.oneof(str, fc.constantFrom('0', '-1', '1.5', '1e3', '0x10', '9007199254740993', '99999999999999999999', '%00', '..', '1;DROP'))
      .filter((id) => id !== '' && encodedLength(id) <= 100)
    await fc.assert(fc.asyncProperty(ids, async (id) => {
      const res = await app.inject({ method: 'PATCH', url: `/tasks/${encodeURIComponent(id)}`, headers: user.auth, payload: { done: true } })
      // Earlier generated POST /tasks bodies may have given the fuzz user more tasks than taskId.
      const owned = /^[1-9]\d{0,15}$/.test(id) && await app.tasks.get(user.id, Number(id)) !== undefined
      const problem = checkShape(res, false, owned ? [200] : [404])
      if (problem !== undefined) throw new Error(`PATCH /tasks/${id}: ${problem}`)
    }), { numRuns: RUNS })
    t.pass(`${RUNS} generated path ids`)
  })

  t.test('router-level path failures (over-long segment, bad percent-encoding) are never a 5xx', async (t) => {
    // These never reach the error handler; see frameworkErrors in plugins/errors.ts (and SECURITY.md: wired in app.ts).
    for (const path of [`/tasks/${'1'.repeat(101)}`, `/tasks/${'A'.repeat(5000)}`, '/tasks/%zz', '/tasks/%E0%A4%A', `/users/${'9'.repeat(200)}`]) {
      const res = await app.inject({ method: 'GET', url: path, headers: user.auth })
      t.ok(res.statusCode >= 400 && res.statusCode < 500, `${path.slice(0, 24)}…: ${res.statusCode}`)
    }
  })

  t.test('no prototype pollution, no privilege change', async (t) => {
    t.equal(({} as Record<string, unknown>).polluted, undefined, '({}).polluted is undefined')
    t.same(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeys, 'Object.prototype gained no properties')
    const after = { user: row(user.id), admin: row(admin.id), bystander: row(bystander.id) }
    t.same(after.admin, before.admin, 'the admin row is unchanged')
    t.same(after.bystander, before.bystander, 'a bystander row is unchanged')
    // PATCH /users/me may legitimately rename the fuzz user; nothing else about it may change.
    for (const column of ['id', 'role', 'disabled', 'password_hash', 'created_at']) {
      t.equal(after.user[column], before.user[column], `fuzz user's ${column} is unchanged`)
    }
    t.equal((await app.inject({ url: '/users/me', headers: user.auth })).statusCode, 200, 'the fuzz user is still signed in')
    t.equal(app.sqlite.pragma('integrity_check', { simple: true }), 'ok')
  })

  t.test('explicit pollution attempts are refused', async (t) => {
    for (const payload of ['{"__proto__":{"role":"admin","polluted":"yes"},"username":"polluter1"}', '{"constructor":{"prototype":{"polluted":"yes"}},"username":"polluter2"}']) {
      const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: { ...user.auth, 'content-type': 'application/json' }, payload })
      t.equal(res.statusCode, 400, `${payload.slice(0, 30)}…: 400`)
      t.equal(checkShape(res, false, [400]), undefined)
    }
    const res = await app.inject({ method: 'POST', url: '/auth/token', ...form({ '__proto__[polluted]': 'yes', username: 'x', password: 'y' }) })
    t.equal(checkShape(res, true, [400, 401]), undefined)
    t.equal(({} as Record<string, unknown>).polluted, undefined)
    t.equal(row(user.id).role, 'user')
  })
})

t.test('a 10,000-character password is refused before any hashing', async (t) => {
  // Hashing is made deliberately slow here, so a 422 that comes back fast cannot have hashed.
  const app = await build(t, { ARGON2_MEMORY_COST: 19456, ARGON2_TIME_COST: 40 })
  const huge = 'p'.repeat(10_000)
  const started = process.hrtime.bigint()
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'hugepw', email: 'hugepw@example.com', password: huge } })
  const rejectMs = Number(process.hrtime.bigint() - started) / 1e6
  t.equal(res.statusCode, 422)
  t.same(res.json().errors, [{ field: '/password', message: 'must be at most 128 characters' }], 'the policy limit is stated, not the schema bound')

  const control = process.hrtime.bigint()
  const ok = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'normalpw', email: 'normalpw@example.com', password: PASSWORD } })
  const hashMs = Number(process.hrtime.bigint() - control) / 1e6
  t.equal(ok.statusCode, 201)
  t.comment(`10k-char password rejected in ${rejectMs.toFixed(1)} ms; a registration that hashes takes ${hashMs.toFixed(1)} ms`)
  t.ok(rejectMs < hashMs / 4, 'the rejection is far cheaper than one hash')

  const session = await signUp(app, { username: 'changer', email: 'changer@example.com' })
  const change = await app.inject({ method: 'POST', url: '/users/me/password', headers: session.auth, payload: { current_password: PASSWORD, new_password: huge } })
  t.equal(change.statusCode, 422)
  t.same(change.json().errors, [{ field: '/new_password', message: 'must be at most 128 characters' }])
  const login = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: 'changer', password: huge }) })
  t.equal(login.statusCode, 400, 'the token endpoint refuses it as invalid_request without verifying')
  t.equal(login.json().error, 'invalid_request')
})

t.test('body limits: 16 KiB on /auth/*, 1 MiB elsewhere', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const KIB16 = 16 * 1024
  const MIB = 1024 * 1024
  /** A JSON object of exactly `bytes` bytes. */
  const jsonOf = (bytes: number, key = 'padding') => { const head = `{"${key}":"`; return head + 'a'.repeat(bytes - head.length - 2) + '"}' }
  const formOf = (bytes: number) => `username=x&password=${'a'.repeat(bytes - 'username=x&password='.length)}`
  const json = { 'content-type': 'application/json' }

  for (const url of ['/auth/register', '/auth/refresh', '/auth/logout']) {
    const over = await app.inject({ method: 'POST', url, headers: json, payload: jsonOf(KIB16 + 1) })
    t.equal(over.statusCode, 413, `${url}: 16 KiB + 1 byte is 413`)
    t.equal(checkShape(over, false, [413]), undefined, `${url}: problem+json`)
    const at = await app.inject({ method: 'POST', url, headers: json, payload: jsonOf(KIB16) })
    t.not(at.statusCode, 413, `${url}: exactly 16 KiB is accepted for parsing (${at.statusCode})`)
  }
  for (const url of ['/auth/token', '/auth/revoke']) {
    const over = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: formOf(KIB16 + 1) })
    t.equal(over.statusCode, 413, `${url}: 16 KiB + 1 byte is 413`)
    t.equal(checkShape(over, true, [413]), undefined, `${url}: OAuth error shape`)
    t.equal(over.json().error, 'invalid_request')
  }
  for (const [method, url] of [['POST', '/tasks'], ['PATCH', '/users/me']] as const) {
    const over = await app.inject({ method, url, headers: { ...user.auth, ...json }, payload: jsonOf(MIB + 1) })
    t.equal(over.statusCode, 413, `${method} ${url}: 1 MiB + 1 byte is 413`)
    t.equal(checkShape(over, false, [413]), undefined)
    const big = await app.inject({ method, url, headers: { ...user.auth, ...json }, payload: jsonOf(64 * 1024) })
    t.not(big.statusCode, 413, `${method} ${url}: 64 KiB is under the limit (${big.statusCode})`)
  }
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'still serving')
})

t.test('frameworkErrors (plugins/errors.ts) on a bare Fastify: router failures become 404 problems', async (t) => {
  const app = Fastify({ frameworkErrors })
  app.get('/tasks/:id', async () => ({ ok: true }))
  t.teardown(() => app.close())
  for (const url of [`/tasks/${'A'.repeat(101)}`, '/tasks/%zz']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 404, `${url.slice(0, 20)}…: 404`)
    t.equal(checkShape(res, false, [404]), undefined, 'problem+json')
    t.notMatch(res.body, /AAAA|%zz/, 'the path is not echoed back')
  }
  t.equal((await app.inject({ url: '/tasks/1' })).statusCode, 200)
})

t.test('deeply nested JSON just under the 1 MiB limit is a 4xx, never a stack overflow', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const nest = (open: string, close: string, inner = '1') => {
    const depth = Math.floor((1024 * 1024 - 64) / (open.length + close.length))
    return `{"title":${open.repeat(depth)}${inner}${close.repeat(depth)}}`
  }
  for (const [name, payload] of [
    ['arrays', nest('[', ']', '')],
    ['objects', nest('{"a":', '}')],
    // "constructor" and "__proto__" keys make the JSON parser scan the whole tree for poisoning.
    ['objects keyed constructor', nest('{"constructor":', '}')],
    ['objects keyed __proto__', nest('{"__proto__":', '}')]
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/tasks', headers: { ...user.auth, 'content-type': 'application/json' }, payload })
    t.ok(payload.length < 1024 * 1024, `${name}: ${payload.length} bytes`)
    t.ok(res.statusCode === 400 || res.statusCode === 422, `${name}: ${res.statusCode}`)
    t.equal(checkShape(res, false, [400, 422]), undefined, `${name}: problem+json`)
  }
  t.equal((await app.inject({ url: '/users/me', headers: user.auth })).statusCode, 200, 'still serving')
})

t.test('near-1 MiB strings against the format and pattern checks answer at once (no ReDoS)', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const n = 1000 * 1000
  for (const [field, value] of [
    ['email', `a@${'a'.repeat(n)}!`],
    ['email', `a@${'a.'.repeat(n / 2)}-`],
    ['email', `${'a.'.repeat(n / 2)}@`],
    ['username', `${'a'.repeat(n)}!`]
  ] as const) {
    const started = process.hrtime.bigint()
    const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: user.auth, payload: { [field]: value } })
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    t.equal(res.statusCode, 422, `${field} of ${value.length} chars: 422`)
    // A catastrophic backtracking regex takes minutes here; a linear one takes milliseconds.
    t.ok(ms < 5000, `${field}: answered in ${ms.toFixed(0)} ms`)
  }
})
