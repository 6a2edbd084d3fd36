// REDIS_URL: the per-IP rate limit shared by several instances through a real Redis, and failing open
// (with one warning) while Redis is away.
import t, { type Test } from 'tap'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { Redis } from 'ioredis'
import configPlugin from '../../plugins/config.js'
import { buildApp, type App } from '../../src/app.js'
import { ConfigError, parseConfig, type Config } from '../../src/config.js'
import { RATE_LIMIT_NAMESPACE, redisRateLimitOptions } from '../../src/rate-limit-redis.js'
import { build, form, freePort, newUser, testConfig, testEnv } from '../helper.js'
import { startRedis } from '../redis.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let client = 0
/** A client address no other test (or earlier run on a shared TEST_REDIS_URL) has used. */
const clientIp = () => `198.51.${Math.floor(Math.random() * 255)}.${(++client % 250) + 1}`

const wrongLogin = (ip: string) => ({ method: 'POST' as const, url: '/auth/token', remoteAddress: ip, ...form({ grant_type: 'password', username: 'nobody', password: 'wrong password' }) })

/** An app whose log lines are collected (JSON objects), as in production (pino at info). */
async function loggedApp (t: Test, config: Config) {
  const lines: Array<{ level: number, msg: string, reason?: string }> = []
  let buffer = ''
  const stream = new Writable({
    write (chunk, _enc, done) {
      buffer += String(chunk)
      let nl
      while ((nl = buffer.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buffer.slice(0, nl)))
        buffer = buffer.slice(nl + 1)
      }
      done()
    }
  })
  const app = await buildApp(config, { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.ready()
  const warnings = () => lines.filter((l) => l.level === 40 && l.msg.startsWith('Redis unreachable'))
  const recoveries = () => lines.filter((l) => l.level === 30 && l.msg.startsWith('Redis reachable again'))
  return { app, lines, warnings, recoveries }
}

/** Wait (bounded) for a condition the app reaches asynchronously, e.g. ioredis noticing a closed socket. */
async function until (t: Test, what: string, condition: () => boolean | Promise<boolean>) {
  for (let i = 0; i < 200 && !(await condition()); i++) await sleep(50)
  t.ok(await condition(), what)
}

t.test('REDIS_URL configuration', async (t) => {
  t.equal(parseConfig({ ...testEnv, REDIS_URL: 'redis://127.0.0.1:6379' }).REDIS_URL, 'redis://127.0.0.1:6379')
  t.equal(parseConfig({ ...testEnv, REDIS_URL: 'rediss://:pw@cache.example.com:6380/2' }).REDIS_URL, 'rediss://:pw@cache.example.com:6380/2')
  t.equal(parseConfig({ ...testEnv, REDIS_URL: '' }).REDIS_URL, undefined, 'empty means unset')
  t.equal(parseConfig(testEnv).REDIS_URL, undefined, 'optional')
  for (const bad of ['http://user:hunter2secret@cache.example.com:6379', 'hunter2secret', 'redis://', 'unix:///run/hunter2secret.sock']) {
    t.test(bad, async (t) => {
      const err = t.throws(() => parseConfig({ ...testEnv, REDIS_URL: bad })) as ConfigError
      t.type(err, ConfigError)
      t.same(err.problems, ['REDIS_URL is not valid: expected redis://[user:password@]host:port[/db] or rediss://[user:password@]host:port[/db]'])
      t.notOk(err.message.includes('hunter2secret'), 'the value is never echoed')
    })
  }
})

t.test('redisRateLimitOptions on a bare Fastify', async (t) => {
  t.test('without REDIS_URL: no options, so the plugin keeps its in-memory store', async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(configPlugin, { config: testConfig(t, { RATE_LIMIT_PER_MINUTE: 5 }) })
    t.same(await redisRateLimitOptions(app), {})
  })

  t.test('with REDIS_URL: a connected client, the namespace, fail open; the limit counts in Redis', async (t) => {
    const url = process.env.TEST_REDIS_URL ?? (await startRedis(t)).url
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(configPlugin, { config: testConfig(t, { RATE_LIMIT_PER_MINUTE: 5, REDIS_URL: url }) })
    const options = await redisRateLimitOptions(app)
    t.match(options, { nameSpace: RATE_LIMIT_NAMESPACE, skipOnError: true })
    t.type(options.redis, Redis)
    t.equal((options.redis as Redis).status, 'ready', 'connected before the app is ready')
    await app.register(rateLimit, { global: false, ...options })
    const ip = clientIp()
    app.get('/limited', { config: { rateLimit: { max: 1, timeWindow: 60_000 } } }, async () => ({ ok: true }))
    t.equal((await app.inject({ url: '/limited', remoteAddress: ip })).statusCode, 200)
    t.equal((await app.inject({ url: '/limited', remoteAddress: ip })).statusCode, 429)
    t.equal(await (options.redis as Redis).get(`${RATE_LIMIT_NAMESPACE}GET/limited-${ip}`), '2')
    await app.close()
    await until(t, 'closed with the app', () => (options.redis as Redis).status === 'end')
  })
})

t.test('two instances on one Redis share the per-IP budget', async (t) => {
  const url = process.env.TEST_REDIS_URL ?? (await startRedis(t)).url
  const config = testConfig(t, { RATE_LIMIT_PER_MINUTE: 3, REDIS_URL: url })
  const apps: App[] = [await build(t, config), await build(t, config)]

  t.test('/auth/token: the 4th request, on either instance, is 429 slow_down with Retry-After', async (t) => {
    const ip = clientIp()
    for (let i = 0; i < 3; i++) {
      t.equal((await apps[i % 2].inject(wrongLogin(ip))).statusCode, 401, `attempt ${i + 1} on instance ${(i % 2) + 1} is checked`)
    }
    for (const app of apps) {
      const res = await app.inject(wrongLogin(ip))
      t.equal(res.statusCode, 429)
      t.match(res.headers['content-type'], /^application\/json/)
      const body = res.json()
      t.same(Object.keys(body).sort(), ['detail', 'error', 'error_description'])
      t.equal(body.error, 'slow_down')
      const retry = Number(res.headers['retry-after'])
      t.ok(retry >= 1 && retry <= 60, `Retry-After ${String(res.headers['retry-after'])} is 1–60 s`)
    }
    t.equal((await apps[0].inject(wrongLogin(clientIp()))).statusCode, 401, 'another IP has its own budget')
  })

  t.test('/auth/register: problem+json 429 once the shared budget is used', async (t) => {
    const ip = clientIp()
    for (let i = 0; i < 3; i++) {
      const res = await apps[i % 2].inject({ method: 'POST', url: '/auth/register', remoteAddress: ip, payload: newUser() })
      t.equal(res.statusCode, 201, `registration ${i + 1} on instance ${(i % 2) + 1}`)
    }
    const res = await apps[1].inject({ method: 'POST', url: '/auth/register', remoteAddress: ip, payload: newUser() })
    t.equal(res.statusCode, 429)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.match(res.json(), { type: String, title: 'Too Many Requests', status: 429, detail: String })
    t.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After present')
  })

  t.test('the counters live in Redis under the namespace, one key per route and IP', async (t) => {
    const ip = clientIp()
    await apps[0].inject(wrongLogin(ip))
    const redis = new Redis(url)
    t.teardown(() => redis.quit())
    const keys = await redis.keys(`${RATE_LIMIT_NAMESPACE}*${ip}`)
    t.same(keys, [`${RATE_LIMIT_NAMESPACE}POST/auth/token-${ip}`])
    t.equal(await redis.get(keys[0]), '1')
    const ttl = await redis.pttl(keys[0])
    t.ok(ttl > 0 && ttl <= 60_000, 'the window expires within a minute')
  })

  t.test('without REDIS_URL each instance counts for itself (as documented)', async (t) => {
    const local = testConfig(t, { RATE_LIMIT_PER_MINUTE: 3 })
    const pair = [await build(t, local), await build(t, local)]
    const ip = clientIp()
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await pair[i % 2].inject(wrongLogin(ip))).statusCode)
    t.same(statuses, [401, 401, 401, 401, 401, 401], 'three each')
    t.equal((await pair[0].inject(wrongLogin(ip))).statusCode, 429)
  })
})

t.test('a Redis outage fails open with one warning, and limiting resumes when Redis is back', async (t) => {
  // Always a server of our own: this test stops it.
  const redis = await startRedis(t)
  const { app, lines, warnings, recoveries } = await loggedApp(t, testConfig(t, { RATE_LIMIT_PER_MINUTE: 3, REDIS_URL: redis.url }))
  const ip = clientIp()
  t.equal((await app.inject(wrongLogin(ip))).statusCode, 401)
  t.equal((await app.inject(wrongLogin(ip))).statusCode, 401)

  await redis.stop()
  await until(t, 'the outage is noticed', () => warnings().length > 0)
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) statuses.push((await app.inject(wrongLogin(ip))).statusCode)
  t.same(statuses, [401, 401, 401, 401, 401, 401], 'answered, not 500 and not 429: 8 requests against a budget of 3')
  // Let ioredis fail a few reconnects: still one warning for the whole outage.
  await sleep(800)
  t.equal(warnings().length, 1, 'one warning per outage, not per request or per reconnect')
  t.notOk(lines.some((l) => l.level >= 50), 'nothing logged as an error')
  t.notOk(JSON.stringify(lines).includes('"statusCode":500'), 'no 500 logged')

  await redis.start()
  await until(t, 'Redis back is noticed', () => recoveries().length === 1)
  const after: number[] = []
  for (let i = 0; i < 4; i++) after.push((await app.inject(wrongLogin(ip))).statusCode)
  t.same(after, [401, 401, 401, 429], 'limiting resumes (the restarted Redis starts empty)')
  t.same(warnings().map((w) => w.reason), [warnings()[0].reason], 'still one warning')
})

t.test('a Redis that hangs (accepts, never answers) also fails open with one warning', async (t) => {
  const redis = await startRedis(t)
  const { app, warnings, recoveries } = await loggedApp(t, testConfig(t, { RATE_LIMIT_PER_MINUTE: 3, REDIS_URL: redis.url }))
  const ip = clientIp()
  t.equal((await app.inject(wrongLogin(ip))).statusCode, 401)
  t.equal((await app.inject(wrongLogin(ip))).statusCode, 401)
  redis.pause()
  const statuses: number[] = []
  // Each waits for the command timeout, then goes through uncounted.
  for (let i = 0; i < 4; i++) statuses.push((await app.inject(wrongLogin(ip))).statusCode)
  t.same(statuses, [401, 401, 401, 401], 'answered: 6 requests against a budget of 3')
  t.equal(warnings().length, 1, 'one warning for the whole outage')
  t.match(warnings()[0], { reason: 'Command timed out' })
  redis.resume()
  // Redis now runs the increments it had queued; the next one counts 7 of 3.
  t.equal((await app.inject(wrongLogin(ip))).statusCode, 429, 'limiting resumes')
  await until(t, 'Redis answering again is noticed', () => recoveries().length === 1)
  t.equal(warnings().length, 1, 'still one warning')
})

t.test('an instance starts while Redis is down: logins are answered, one warning', async (t) => {
  const nothing = `redis://127.0.0.1:${await freePort()}`
  const { app, warnings } = await loggedApp(t, testConfig(t, { RATE_LIMIT_PER_MINUTE: 1, REDIS_URL: nothing }))
  t.equal(warnings().length, 1, 'warned at start')
  for (let i = 0; i < 3; i++) t.equal((await app.inject(wrongLogin(clientIp()))).statusCode, 401)
  t.equal(warnings().length, 1)
  t.ok(warnings().every((w) => !JSON.stringify(w).includes(nothing)), 'the URL is not logged')
})

t.test('closing the app closes its Redis connection', async (t) => {
  const url = process.env.TEST_REDIS_URL ?? (await startRedis(t)).url
  const observer = new Redis(url)
  t.teardown(() => observer.quit())
  const clients = async () => String(await observer.client('LIST')).trim().split('\n').length
  const before = await clients()
  const app = await buildApp(testConfig(t, { RATE_LIMIT_PER_MINUTE: 3, REDIS_URL: url }), { logger: false })
  await app.ready()
  t.equal(await clients(), before + 1, 'one connection per instance')
  await app.close()
  await until(t, 'its connection is closed on app.close()', async () => await clients() === before)
})

t.test('RATE_LIMIT_PER_MINUTE=0 opens no Redis connection', async (t) => {
  const url = process.env.TEST_REDIS_URL ?? (await startRedis(t)).url
  const observer = new Redis(url)
  t.teardown(() => observer.quit())
  const before = String(await observer.client('LIST')).trim().split('\n').length
  await build(t, { RATE_LIMIT_PER_MINUTE: 0, REDIS_URL: url })
  t.equal(String(await observer.client('LIST')).trim().split('\n').length, before)
})
