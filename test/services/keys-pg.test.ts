// Signing keys and the TOTP key in PostgreSQL, on a real server with several "instances" (pools).
import { eq } from 'drizzle-orm'
import { calculateJwkThumbprint } from 'jose'
import { createPublicKey, sign, verify } from 'node:crypto'
import t, { type Test } from 'tap'
import { openPostgres, type OpenedPostgres } from '../../src/db/postgres.js'
import { serverSecrets, signingKeys, totpSecrets, users } from '../../src/db/schema-pg.js'
import { keyFromPem, type SigningKey } from '../../src/services/keys.js'
import { addDbKey, ensureDbKey, listDbKeys, loadOrCreateDbTotpKey, retireDbKey, startKeyRefresh } from '../../src/services/keys-pg.js'
import { TotpKeyError } from '../../src/services/totp-key.js'
import { pgDatabase } from '../pg.js'

async function instances (t: Test, n: number): Promise<OpenedPostgres[]> {
  const url = await pgDatabase(t)
  const opened: OpenedPostgres[] = []
  for (let i = 0; i < n; i++) opened.push(await openPostgres({ DATABASE_URL: url, DATABASE_POOL_SIZE: 4, DATABASE_STATEMENT_TIMEOUT: 5000 }))
  t.teardown(() => Promise.all(opened.map((o) => o.close())))
  return opened
}

async function until (what: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !what(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
}

t.test('three instances starting at once on an empty database create exactly one signing key', async (t) => {
  const opened = await instances(t, 3)
  const created: SigningKey[] = []
  const rings = await Promise.all(opened.map((o) => ensureDbKey(o.db, (key) => created.push(key))))
  t.equal(created.length, 1, 'onCreate ran once')
  t.same(rings.map((r) => r.map((k) => k.kid)), [[created[0].kid], [created[0].kid], [created[0].kid]], 'every instance serves that key')
  t.equal((await opened[0].db.select().from(signingKeys)).length, 1, 'one row')
  t.same((await ensureDbKey(opened[1].db)).map((k) => k.kid), [created[0].kid], 'a later start reuses it')

  const key = rings[0][0]
  t.equal(key.kid, await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x }), 'kid is the RFC 7638 thumbprint')
  t.same(keyFromPem(key.privatePem, key.createdAt), key, 'the same key as keys.ts derives from the PEM')
  t.match(key.privatePem, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8 PEM')
  const signature = sign(null, Buffer.from('hello'), key.privatePem)
  t.ok(verify(null, Buffer.from('hello'), createPublicKey(key.publicPem), signature), 'it signs, and its public half verifies')
})

t.test('add, list (oldest first) and retire; the last active key cannot be retired', async (t) => {
  const [a, b] = await instances(t, 2)
  const first = await addDbKey(a.db, new Date('2030-01-01T00:00:00Z'))
  const second = await addDbKey(b.db, new Date('2030-02-01T00:00:00Z'))
  const third = await addDbKey(a.db, new Date('2030-03-01T00:00:00Z'))
  t.same((await listDbKeys(b.db)).map((k) => k.kid), [first.kid, second.kid, third.kid])
  t.same((await listDbKeys(b.db))[0].createdAt, new Date('2030-01-01T00:00:00Z'), 'created_at round-trips as a Date')

  await t.rejects(retireDbKey(a.db, 'nope'), { message: 'no active key has kid nope' })
  t.equal((await retireDbKey(a.db, first.kid)).kid, first.kid)
  t.same((await listDbKeys(a.db)).map((k) => k.kid), [second.kid, third.kid], 'retired keys are not listed')
  const [row] = await a.db.select().from(signingKeys).where(eq(signingKeys.kid, first.kid))
  t.ok(row.retiredAt instanceof Date, 'the row is kept with retired_at set')
  await t.rejects(retireDbKey(a.db, first.kid), { message: `no active key has kid ${first.kid}` }, 'twice: not active any more')

  // The last two, retired at the same moment on two instances: one wins, the other is refused.
  const results = await Promise.allSettled([retireDbKey(a.db, second.kid), retireDbKey(b.db, third.kid)])
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one retirement succeeded')
  const refused = results.find((r) => r.status === 'rejected')
  t.equal((refused?.reason as Error).message, 'cannot retire the only signing key: run `latchkey keys rotate` first')
  t.equal((await listDbKeys(a.db)).length, 1, 'one active key is left')
})

t.test('the TOTP key: one per database even when instances race, kept, and guarded like the file', async (t) => {
  const opened = await instances(t, 3)
  const keys = await Promise.all(opened.map((o) => loadOrCreateDbTotpKey(o.db)))
  t.equal(keys[0].length, 32, '32 bytes')
  t.ok(keys.every((k) => k.equals(keys[0])), 'all instances got the same key')
  t.ok((await loadOrCreateDbTotpKey(opened[1].db)).equals(keys[0]), 'loaded again, unchanged')
  const [row] = await opened[0].db.select().from(serverSecrets)
  t.equal(row.name, 'totp')
  t.equal(Buffer.from(row.value, 'base64').toString('base64'), row.value, 'stored as base64, as totp.key is')

  const { db } = opened[0]
  await db.update(serverSecrets).set({ value: 'not a key' })
  await t.rejects(loadOrCreateDbTotpKey(db), TotpKeyError, 'a damaged key is refused, not replaced')

  await db.delete(serverSecrets)
  const [user] = await db.insert(users).values({ username: 'u', email: 'u@example.com', passwordHash: 'x', createdAt: new Date() }).returning()
  await db.insert(totpSecrets).values({ userId: user.id, secretEncrypted: 'v1.a.b.c', createdAt: new Date() })
  const err = await loadOrCreateDbTotpKey(db).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof TotpKeyError)
  t.match((err as Error).message, /missing from server_secrets, but 1 TOTP secret\(s\)/, 'no fresh key while secrets need the old one')
  t.same(await db.select().from(serverSecrets), [], 'and none was written')
})

t.test('startKeyRefresh: a rotation on another instance reaches onKeys; stop ends it; a failing reload goes to onError', async (t) => {
  const [a, b] = await instances(t, 2)
  await ensureDbKey(a.db)
  const seen: string[][] = []
  const stop = startKeyRefresh(a.db, 0.05, (keys) => seen.push(keys.map((k) => k.kid)))
  await until(() => seen.length >= 1)
  t.equal(seen.length, 1, 'the first load')
  const added = await addDbKey(b.db)
  await until(() => seen.length >= 2)
  t.equal(seen[1].at(-1), added.kid, 'the key rotated on instance b is the newest on instance a')
  stop()
  const calls = seen.length
  await addDbKey(b.db)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(seen.length, calls, 'no reload after stop')

  const url = a.pool.options.connectionString!
  const gone = await openPostgres({ DATABASE_URL: url, DATABASE_POOL_SIZE: 1, DATABASE_STATEMENT_TIMEOUT: 5000 }, { migrations: false })
  await gone.close()
  const errors: unknown[] = []
  const stopGone = startKeyRefresh(gone.db, 0.05, () => t.fail('no keys from a closed pool'), (err) => errors.push(err))
  await until(() => errors.length >= 2)
  stopGone()
  t.ok(errors.length >= 2, 'each failed reload is reported, and the poller keeps going')
})
