// PgLoginThrottle on a real PostgreSQL: LoginThrottle's rules, and a burst racing over two instances
// (two pools) cannot be admitted past the threshold.
import { sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { openPostgres, type OpenedPostgres } from '../../src/db/postgres.js'
import { LoginThrottle } from '../../src/services/login-throttle.js'
import { PgLoginThrottle } from '../../src/services/login-throttle-pg.js'
import { pgDatabase } from '../pg.js'

async function instances (t: Test, n: number): Promise<OpenedPostgres[]> {
  const url = await pgDatabase(t)
  const opened: OpenedPostgres[] = []
  for (let i = 0; i < n; i++) opened.push(await openPostgres({ DATABASE_URL: url, DATABASE_POOL_SIZE: 10, DATABASE_STATEMENT_TIMEOUT: 5000 }))
  t.teardown(() => Promise.all(opened.map((o) => o.close())))
  return opened
}

async function rows (o: OpenedPostgres) {
  return (await o.db.execute<{ key: string, failures: number, in_flight: number }>(sql`SELECT key, failures, in_flight FROM login_throttle ORDER BY key`)).rows
}

t.test('50 concurrent attempts on one name over two instances: exactly the threshold is admitted', async (t) => {
  const [a, b] = await instances(t, 2)
  const one = new PgLoginThrottle(a.db, 5)
  const two = new PgLoginThrottle(b.db, 5)
  const now = Date.now()
  const waits = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? one : two).retryAfter(i % 3 === 0 ? 'Alice' : 'alice', now)))
  t.equal(waits.filter((w) => w === 0).length, 5, '5 admitted, the other 45 told to wait')
  t.ok(waits.filter((w) => w !== 0).every((w) => w === 1), 'the refused wait for the in-flight verdicts: 1 s')
  t.same(await rows(a), [{ key: 'alice', failures: 0, in_flight: 5 }], 'one row, case folded, five in flight')

  // The five verdicts: all wrong. The fifth engages the delay.
  const engaged = []
  for (let i = 0; i < 5; i++) engaged.push(await (i % 2 === 0 ? one : two).failure('alice', now))
  t.same(engaged, [false, false, false, false, true])
  t.same(await rows(b), [{ key: 'alice', failures: 5, in_flight: 0 }])
  t.equal(await one.retryAfter('alice', now), 1, 'blocked 1 s (BASE · 2^0) on instance one')
  t.equal(await two.retryAfter('ALICE', now + 500), 1, 'and on instance two')

  // After the delay, one attempt at a time, fleet-wide, also under a second burst.
  const later = now + 1000
  const second = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? one : two).retryAfter('alice', later)))
  t.equal(second.filter((w) => w === 0).length, 1, 'past the threshold: one admitted per expired delay')
  t.equal(await two.failure('alice', later), true)
  t.equal(await one.retryAfter('alice', later), 2, 'the sixth failure doubles the delay')
})

t.test('the same verdicts as the in-memory LoginThrottle for one scripted sequence', async (t) => {
  const [a] = await instances(t, 1)
  const pgThrottle = new PgLoginThrottle(a.db, 3)
  const memory = new LoginThrottle(3)
  const start = Date.UTC(2030, 0, 1)
  const script: Array<[op: 'try' | 'fail' | 'ok' | 'release', at: number, name?: string]> = [
    ['try', 0], ['try', 0], ['try', 0], ['try', 0], ['release', 0], ['try', 1], ['fail', 10], ['fail', 20], ['fail', 30],
    ['try', 100], ['try', 1030], ['fail', 1040], ['try', 1100], ['try', 3100], ['fail', 3200], ['try', 3300],
    ['try', 7300], ['ok', 7400], ['try', 7500], ['try', 7500], ['try', 7500], ['try', 7500],
    ['try', 7500, 'bob'], ['fail', 7500, 'bob'], ['try', 7600, 'x'.repeat(1000)], ['fail', 7600, 'x'.repeat(1000)]
  ]
  for (const [op, at, name = 'carol'] of script) {
    const now = start + at
    if (op === 'try') t.equal(await pgThrottle.retryAfter(name, now), memory.retryAfter(name, now), `retryAfter at +${at} ms`)
    else if (op === 'fail') t.equal(await pgThrottle.failure(name, now), memory.failure(name, now), `failure at +${at} ms`)
    else if (op === 'ok') { await pgThrottle.success(name); memory.success(name) } else { await pgThrottle.release(name); memory.release(name) }
  }
  const keys = (await rows(a)).map((r) => r.key)
  t.ok(keys.some((k) => /^sha256:[\w-]{43}$/.test(k)), 'a long name is stored as its digest, as keyOf derives it')
})

t.test('the delay doubles up to the 15-minute cap; success clears; in-flight attempts expire after a minute', async (t) => {
  const [a] = await instances(t, 1)
  const throttle = new PgLoginThrottle(a.db, 1)
  let now = Date.UTC(2030, 0, 1)
  let last = 0
  for (let i = 0; i < 14; i++) {
    t.equal(await throttle.retryAfter('dave', now), 0, `attempt ${i + 1} admitted once its delay passed`)
    await throttle.failure('dave', now)
    last = await throttle.retryAfter('dave', now)
    now += last * 1000
  }
  t.equal(last, 900, 'capped at 15 minutes')
  await throttle.success('dave')
  t.equal(await throttle.retryAfter('dave', now), 0, 'a success clears the name')
  t.equal(await throttle.retryAfter('dave', now), 1, 'with threshold 1, a second concurrent attempt waits')
  t.equal(await throttle.retryAfter('dave', now + 60_001), 0, 'an attempt that never reported stops counting after a minute')
  await throttle.release('dave')
  await throttle.release('dave')
  t.same(await rows(a), [{ key: 'dave', failures: 0, in_flight: 0 }], 'release never goes below zero')
  t.equal(await throttle.purge(now + 60_001 + 86_400_001), 1, 'a day-old, unblocked row is purged')
})

t.test('a disabled throttle never touches the database', async (t) => {
  const [a] = await instances(t, 1)
  const off = new PgLoginThrottle(a.db, 0)
  t.equal(off.enabled, false)
  t.equal(await off.retryAfter('eve'), 0)
  t.equal(await off.failure('eve'), false)
  await off.success('eve')
  await off.release('eve')
  t.same(await rows(a), [])
})
