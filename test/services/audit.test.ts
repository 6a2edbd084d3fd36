// The audit service without HTTP: recording inside a caller's transaction, refusing credentials,
// newest-first keyset pages, retention, the alert rule, and `latchkey audit` (table and JSON).
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { users } from '../../src/db/schema.js'
import { InvalidInput } from '../../src/errors.js'
import { auditCommand, formatAuditTable, recordCliEvent } from '../../src/cli-audit.js'
import { AUDIT_EVENT_TYPES, createAuditService, securityAlert, type AuditEventView } from '../../src/services/audit.js'
import { encodeCursor } from '../../src/services/pages.js'
import { openSqliteStore } from '../../src/store/sqlite.js'
import { tempDir, testConfig } from '../helper.js'

function setup (t: Test) {
  const file = join(tempDir(t), 'latchkey.db')
  const store = openSqliteStore(file)
  const { db, sqlite } = store
  t.teardown(async () => { if (sqlite.open) await store.close() })
  const warnings: Array<{ obj: object, msg: string }> = []
  const audit = createAuditService(store, { warn: (obj, msg) => { warnings.push({ obj, msg }) } })
  return { file, store, db, sqlite, audit, warnings }
}

t.test('every contract event type is in the union, once', async (t) => {
  t.equal(new Set(AUDIT_EVENT_TYPES).size, 16)
  for (const type of ['password.reset_requested', 'password.reset', 'email.verification_sent', 'email.verified', 'totp.enabled', 'totp.disabled']) {
    t.ok((AUDIT_EVENT_TYPES as readonly string[]).includes(type), type)
  }
})

t.test('record: defaults, and the actor is the user unless told otherwise', async (t) => {
  const { audit } = setup(t)
  await audit.record({ type: 'password.changed', userId: 4, sessionId: 9, ip: '10.0.0.1', userAgent: 'x'.repeat(600) }, new Date('2026-01-02T03:04:05.006Z'))
  await audit.record({ type: 'keys.rotated', actorId: null })
  const [keys, changed] = (await audit.list({ limit: 10 })).items
  t.same(changed, {
    id: changed.id,
    at: '2026-01-02T03:04:05.006Z',
    type: 'password.changed',
    user_id: 4,
    actor_id: 4,
    session_id: 9,
    ip: '10.0.0.1',
    user_agent: 'x'.repeat(512),
    detail: {}
  })
  t.match(keys, { user_id: null, actor_id: null, session_id: null, ip: null, user_agent: null, detail: {} })
})

t.test('record runs inside the caller’s transaction: a rollback takes the event with it', async (t) => {
  const { store, audit } = setup(t)
  await t.rejects(store.transaction(async (tx) => {
    await audit.record({ type: 'user.registered', userId: 1 }, Date.now(), tx)
    throw new Error('the change failed')
  }), /the change failed/)
  t.same((await audit.list({ limit: 10 })).items, [])
})

t.test('a detail key that names a credential is refused, and the change with it', async (t) => {
  const { store, sqlite, audit } = setup(t)
  for (const key of ['password', 'new_password', 'refresh_token', 'access_token', 'token', 'secret', 'client_secret', 'code', 'recovery_codes', 'password_hash', 'totp_code', 'otp']) {
    await t.rejects(audit.record({ type: 'login.failed', detail: { [key]: 'x' } }), TypeError, key)
  }
  await t.rejects(audit.record({ type: 'user.updated', detail: { nested: { token: 'x' } } }), TypeError, 'nested too')
  await t.rejects(store.transaction(async (tx) => {
    await tx.insertUser({ username: 'u1', email: 'u1@example.com', passwordHash: 'h', createdAt: new Date() })
    await audit.record({ type: 'user.registered', userId: 1, detail: { password: 'hunter2hunter2' } }, Date.now(), tx)
  }), TypeError)
  t.equal(sqlite.prepare('SELECT count(*) FROM users').pluck().get(), 0, 'the registration is rolled back')
  t.equal(sqlite.prepare('SELECT count(*) FROM audit_events').pluck().get(), 0)
  await audit.record({ type: 'session.ended', detail: { reason: 'logout', kid: 'abc', username: 'alice' } })
  t.equal((await audit.list({ limit: 1 })).items.length, 1, 'ordinary keys are fine')
})

t.test('list: newest first by keyset, filters, opaque cursors', async (t) => {
  const { audit } = setup(t)
  for (let i = 0; i < 25; i++) await audit.record({ type: i % 2 === 0 ? 'login.failed' : 'login.succeeded', userId: i % 3 })
  const seen: AuditEventView[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await audit.list({ limit: 4, cursor })
    seen.push(...page.items)
    cursor = page.next_cursor ?? undefined
    pages += 1
  } while (cursor !== undefined)
  t.equal(pages, 7)
  t.same(seen.map((e) => e.id), Array.from({ length: 25 }, (_, i) => 25 - i), 'every id once, descending')
  const filtered = (await audit.list({ limit: 100, userId: 1, type: 'login.succeeded' })).items
  t.ok(filtered.length > 0 && filtered.every((e) => e.user_id === 1 && e.type === 'login.succeeded'))
  t.same((await audit.list({ limit: 3, cursor: encodeCursor(3) })).items.map((e) => e.id), [2, 1], 'a cursor is an exclusive upper bound')
  t.equal((await audit.list({ limit: 25 })).next_cursor, null, 'an exact last page has no next cursor')
  await t.rejects(audit.list({ limit: 3, cursor: 'garbage' }), InvalidInput)
})

t.test('purge: events older than the retention, or all of them with 0', async (t) => {
  const { audit } = setup(t)
  const now = Date.parse('2026-06-01T00:00:00Z')
  await audit.record({ type: 'login.failed' }, now - 10 * 86_400_000)
  await audit.record({ type: 'login.failed' }, now - 2 * 86_400_000)
  await audit.record({ type: 'login.failed' }, now)
  t.equal(await audit.purge(5, now), 1)
  t.equal(await audit.purge(0, now), 2)
  t.equal((await audit.list({ limit: 10 })).items.length, 0)
})

t.test('the alert rule: reuse, throttle, an admin demoted or disabled; the warn line holds ids only', async (t) => {
  t.ok(securityAlert({ type: 'token.reuse_detected' }))
  t.ok(securityAlert({ type: 'login.throttled' }))
  t.ok(securityAlert({ type: 'user.updated', detail: { role: { from: 'admin', to: 'user' } } }))
  t.ok(securityAlert({ type: 'user.updated', detail: { disabled: { from: false, to: true }, target_was_admin: true } }))
  t.notOk(securityAlert({ type: 'user.updated', detail: { disabled: { from: false, to: true }, target_was_admin: false } }))
  t.notOk(securityAlert({ type: 'user.updated', detail: { role: { from: 'user', to: 'admin' } } }))
  t.notOk(securityAlert({ type: 'login.failed' }))
  const { audit, warnings } = setup(t)
  await audit.record({ type: 'login.failed', userId: 1 })
  await audit.record({ type: 'user.updated', userId: 2, actorId: 1, detail: { role: { from: 'admin', to: 'user' }, email: { from: 'a@x.io', to: 'b@x.io' } } })
  t.equal(warnings.length, 1)
  t.match(warnings[0], { msg: 'An admin was demoted', obj: { audit: { type: 'user.updated', user_id: 2, actor_id: 1 } } })
  t.notOk(JSON.stringify(warnings).includes('x.io'), 'no detail in the log line')
})

t.test('latchkey audit: a table by default, --json, filters, usage errors before the database opens', async (t) => {
  const config = testConfig(t)
  await recordCliEvent(config, { type: 'keys.rotated', detail: { kid: 'kid-1' } })
  const store = openSqliteStore(config.DATABASE_PATH)
  const user = store.db.insert(users).values({ username: 'Carol', email: 'carol@example.com', passwordHash: 'h', createdAt: new Date() }).returning().all()[0]
  await createAuditService(store).record({ type: 'login.failed', userId: user.id, ip: '10.1.2.3', actorId: null, detail: { reason: 'wrong_password' } })
  await store.close()

  const run = async (...args: string[]) => {
    const out: string[] = []
    await auditCommand(args, () => config, (m) => new Error(`usage: ${m}`), (line) => out.push(line))
    return out.join('\n')
  }
  const tableText = await run()
  const lines = tableText.split('\n')
  t.match(lines[0], /^id\s+at\s+type\s+user\s+actor\s+session\s+ip\s+detail$/)
  t.match(lines[1], /^2\s+\S+Z\s+login\.failed\s+1\s+-\s+-\s+10\.1\.2\.3\s+\{"reason":"wrong_password"\}$/)
  t.match(lines[2], /keys\.rotated\s+-\s+-\s+-\s+-\s+\{"kid":"kid-1"\}$/)
  t.equal(lines.length, 3)

  const json = JSON.parse(await run('--json')) as AuditEventView[]
  t.same(json.map((e) => e.type), ['login.failed', 'keys.rotated'])
  t.same(json.map((e) => e.type), JSON.parse(await run('--json', '--limit', '5')).map((e: AuditEventView) => e.type))
  t.same(JSON.parse(await run('--json', '--user', 'carol')).map((e: AuditEventView) => e.type), ['login.failed'], 'by username, any case')
  t.same(JSON.parse(await run('--json', '--user', String(user.id))).map((e: AuditEventView) => e.id), [2], 'by id')
  t.same(JSON.parse(await run('--json', '--type', 'keys.rotated', '--limit', '1')).map((e: AuditEventView) => e.detail.kid), ['kid-1'])
  t.equal(await run('--type', 'user.deleted'), 'No audit events match.')
  await t.rejects(run('--limit', '0'), /--limit must be a whole number/)
  await t.rejects(run('--limit', 'ten'), /--limit must be a whole number/)
  await t.rejects(run('--type', 'nope'), /--type must be one of/)
  await t.rejects(run('--user', 'nobody'), /no user named nobody/)
  await t.rejects(run('--bogus'), /usage: .*Unknown option/s)
  t.match(formatAuditTable([]), /^id/)
})
