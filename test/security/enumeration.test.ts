// Account enumeration: unknown user, wrong password and disabled user are indistinguishable by answer and by timing.
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { build, form, PASSWORD, register, signUp } from '../helper.js'

// Headers that legitimately differ between two responses (time, per-IP counters).
const VOLATILE = /^(date|x-ratelimit-.*|retry-after|keep-alive|connection)$/

function stableHeaders (res: LightMyRequestResponse): Record<string, unknown> {
  return Object.fromEntries(Object.entries(res.headers).filter(([name]) => !VOLATILE.test(name)).sort(([a], [b]) => a.localeCompare(b)))
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

t.test('unknown user, wrong password and disabled user get byte-identical 401s', async (t) => {
  const app = await build(t, { RATE_LIMIT_PER_MINUTE: 60, LOGIN_THROTTLE_AFTER: 5 })
  const alice = await register(app)
  const admin = await signUp(app, { role: 'admin' })
  const carol = await register(app)
  const disable = await app.inject({ method: 'PATCH', url: `/users/${carol.id}`, headers: admin.auth, payload: { disabled: true } })
  t.equal(disable.statusCode, 200)

  const attempts = {
    'unknown user': { username: 'no_such_user', password: PASSWORD },
    'unknown email': { username: 'nobody@example.com', password: PASSWORD },
    'wrong password': { username: alice.username, password: 'not the password' },
    'wrong password, email as name': { username: alice.email, password: 'not the password' },
    'disabled user, right password': { username: carol.username, password: PASSWORD },
    'disabled user, wrong password': { username: carol.username, password: 'not the password' }
  }
  const answers: Array<[string, LightMyRequestResponse]> = []
  for (const [name, fields] of Object.entries(attempts)) {
    answers.push([name, await app.inject({ method: 'POST', url: '/auth/token', ...form(fields) })])
  }
  const [, first] = answers[0]
  t.equal(first.statusCode, 401)
  t.equal(first.body, '{"error":"invalid_grant","error_description":"Incorrect username or password","detail":"Incorrect username or password"}')
  t.equal(first.headers['www-authenticate'], undefined)
  for (const [name, res] of answers.slice(1)) {
    t.equal(res.statusCode, first.statusCode, `${name}: same status`)
    t.equal(res.body, first.body, `${name}: byte-identical body`)
    t.same(stableHeaders(res), stableHeaders(first), `${name}: same headers`)
  }
})

t.test('logout and revoke answer the same for known and unknown tokens', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const known = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: user.tokens.refresh_token } })
  const unknown = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'x'.repeat(43) } })
  t.equal(known.statusCode, 204)
  t.equal(unknown.statusCode, 204)
  t.same(stableHeaders(known), stableHeaders(unknown))

  const other = await signUp(app)
  const revKnown = await app.inject({ method: 'POST', url: '/auth/revoke', ...form({ token: other.tokens.refresh_token }) })
  const revUnknown = await app.inject({ method: 'POST', url: '/auth/revoke', ...form({ token: 'y'.repeat(43) }) })
  t.equal(revKnown.statusCode, 200)
  t.equal(revUnknown.statusCode, 200)
  t.equal(revKnown.body, revUnknown.body)
  t.same(stableHeaders(revKnown), stableHeaders(revUnknown))
})

t.test('login latency does not reveal whether the account exists (real argon2 cost)', async (t) => {
  // Default-ish OWASP cost for this test only: the dummy verify must cost what a real verify costs.
  const app = await build(t, { ARGON2_MEMORY_COST: 19456, ARGON2_TIME_COST: 2, ARGON2_PARALLELISM: 1 })
  const alice = await register(app)
  const attempt = async (username: string): Promise<number> => {
    const started = process.hrtime.bigint()
    const res = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username, password: 'not the password' }) })
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    if (res.statusCode !== 401) throw new Error(`expected 401, got ${res.statusCode}`)
    return ms
  }
  // Warm up both paths (the dummy hash is computed lazily on the first unknown-name login).
  await attempt('ghost_warmup')
  await attempt(alice.username)

  const ROUNDS = 24
  const unknown: number[] = []
  const wrong: number[] = []
  const pairRatios: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    // Back to back in alternating order, so background load on the shared machine hits both alike.
    let u: number
    let w: number
    if (i % 2 === 0) {
      u = await attempt(`ghost_${i}`)
      w = await attempt(alice.username)
    } else {
      w = await attempt(alice.username)
      u = await attempt(`ghost_${i}`)
    }
    unknown.push(u)
    wrong.push(w)
    pairRatios.push(u / w)
  }
  const mu = median(unknown)
  const mw = median(wrong)
  t.comment(`median unknown-user ${mu.toFixed(1)} ms, wrong-password ${mw.toFixed(1)} ms (ratio ${(mu / mw).toFixed(3)}; ` +
    `median of paired ratios ${median(pairRatios).toFixed(3)}) over ${ROUNDS} attempts each`)
  t.ok(mw > 5, 'a real argon2 verify is being paid on the wrong-password path')
  t.ok(mu / mw > 0.65 && mu / mw < 1.35, `unknown/wrong ratio of medians ${(mu / mw).toFixed(3)} is within ±35%`)
})
