// Brute force: the per-IP rate limit on the credential routes and the per-account login throttle.
import t from 'tap'
import { LoginThrottle, ThrottledAttempt } from '../../src/services/login-throttle.js'
import { build, form, newUser, PASSWORD, register, signUp } from '../helper.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const tokenForm = (username: string, password: string) => form({ grant_type: 'password', username, password })

t.test('per-IP rate limit', async (t) => {
  t.test('/auth/token answers 429 slow_down with Retry-After once the limit is used', async (t) => {
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 3 })
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: 'POST', url: '/auth/token', ...tokenForm('nobody', 'wrong password') })
      t.equal(res.statusCode, 401, `attempt ${i + 1} is checked`)
    }
    const res = await app.inject({ method: 'POST', url: '/auth/token', ...tokenForm('nobody', 'wrong password') })
    t.equal(res.statusCode, 429)
    t.match(res.headers['content-type'], /^application\/json/)
    const body = res.json()
    t.same(Object.keys(body).sort(), ['detail', 'error', 'error_description'])
    t.equal(body.error, 'slow_down')
    t.type(body.error_description, 'string')
    const retry = Number(res.headers['retry-after'])
    t.ok(retry >= 1 && retry <= 60, `Retry-After ${String(res.headers['retry-after'])} is 1–60 s`)
  })

  t.test('/auth/register and /auth/refresh answer problem+json 429 with Retry-After', async (t) => {
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 3 })
    for (const [url, payload] of [
      ['/auth/register', () => newUser()],
      ['/auth/refresh', () => ({ refresh_token: 'not-a-token' })]
    ] as const) {
      for (let i = 0; i < 3; i++) {
        const res = await app.inject({ method: 'POST', url, payload: payload() })
        t.not(res.statusCode, 429, `${url} attempt ${i + 1} is not limited`)
      }
      const res = await app.inject({ method: 'POST', url, payload: payload() })
      t.equal(res.statusCode, 429, `${url} 4th attempt`)
      t.match(res.headers['content-type'], /^application\/problem\+json/)
      const body = res.json()
      t.match(body, { type: String, title: 'Too Many Requests', status: 429, detail: String })
      t.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After present')
    }
  })

  t.test('each route has its own bucket', async (t) => {
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 2 })
    for (let i = 0; i < 2; i++) await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'x' } })
    t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'x' } })).statusCode, 429)
    t.equal((await app.inject({ method: 'POST', url: '/auth/token', ...tokenForm('nobody', 'pw') })).statusCode, 401)
  })

  t.test('routes without a limit are never limited', async (t) => {
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 1 })
    for (let i = 0; i < 5; i++) {
      t.equal((await app.inject({ url: '/health' })).statusCode, 200)
    }
  })

  t.test('TRUST_PROXY off: X-Forwarded-For is ignored, one bucket per socket address', async (t) => {
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 3 })
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/token',
        remoteAddress: '10.0.0.1',
        ...tokenForm('nobody', 'wrong'),
        headers: { ...tokenForm('nobody', 'wrong').headers, 'x-forwarded-for': `203.0.113.${i + 1}` }
      })
      statuses.push(res.statusCode)
    }
    t.same(statuses, [401, 401, 401, 429], 'spoofed X-Forwarded-For does not buy fresh buckets')
    // A different socket address is a different client.
    const other = await app.inject({ method: 'POST', url: '/auth/token', remoteAddress: '10.0.0.2', ...tokenForm('nobody', 'wrong') })
    t.equal(other.statusCode, 401)
  })

  t.test('TRUST_PROXY on: a client cannot buy buckets by prepending X-Forwarded-For entries', async (t) => {
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 3, TRUST_PROXY: true })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      // The client sends "X-Forwarded-For: <random>"; the proxy appends the address it saw.
      const res = await app.inject({
        method: 'POST',
        url: '/auth/token',
        remoteAddress: '10.0.0.1',
        ...tokenForm('nobody', 'wrong'),
        headers: { ...tokenForm('nobody', 'wrong').headers, 'x-forwarded-for': `198.18.${i}.${i + 1}, 203.0.113.9` }
      })
      statuses.push(res.statusCode)
    }
    t.same(statuses, [401, 401, 401, 429, 429], 'the bucket is the address the proxy appended')
  })

  t.test('TRUST_PROXY on: each X-Forwarded-For client gets its own bucket', async (t) => {
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 3, TRUST_PROXY: true })
    const headers = (ip: string) => ({ ...tokenForm('nobody', 'wrong').headers, 'x-forwarded-for': ip })
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: 'POST', url: '/auth/token', remoteAddress: '10.0.0.1', ...tokenForm('nobody', 'wrong'), headers: headers('203.0.113.1') })
      t.equal(res.statusCode, 401)
    }
    const limited = await app.inject({ method: 'POST', url: '/auth/token', remoteAddress: '10.0.0.1', ...tokenForm('nobody', 'wrong'), headers: headers('203.0.113.1') })
    t.equal(limited.statusCode, 429, 'the first forwarded client is limited')
    for (const ip of ['203.0.113.2', '203.0.113.3', '198.51.100.7']) {
      const res = await app.inject({ method: 'POST', url: '/auth/token', remoteAddress: '10.0.0.1', ...tokenForm('nobody', 'wrong'), headers: headers(ip) })
      t.equal(res.statusCode, 401, `${ip} has its own bucket`)
    }
  })
})

t.test('per-account login throttle (HTTP)', async (t) => {
  const opts = { RATE_LIMIT_PER_MINUTE: 60, LOGIN_THROTTLE_AFTER: 5 }

  t.test('after 5 failures even the right password is 429 slow_down; the delay doubles; success resets', async (t) => {
    const app = await build(t, opts)
    const user = await register(app)
    const attempt = (password: string, name = user.username) => app.inject({ method: 'POST', url: '/auth/token', ...tokenForm(name, password) })
    for (let i = 0; i < 5; i++) t.equal((await attempt('wrong password')).statusCode, 401, `failure ${i + 1}`)

    const blocked = await attempt(PASSWORD)
    t.equal(blocked.statusCode, 429, 'the right password is refused during the wait')
    t.same(Object.keys(blocked.json()).sort(), ['detail', 'error', 'error_description'])
    t.equal(blocked.json().error, 'slow_down')
    t.equal(blocked.headers['retry-after'], '1', 'first delay is 1 s')
    t.notOk('access_token' in blocked.json())

    // The name is folded to lower case: another spelling of the same name is throttled too.
    t.equal((await attempt(PASSWORD, user.username.toUpperCase())).statusCode, 429)

    const other = await register(app)
    t.equal((await attempt(PASSWORD, other.username)).statusCode, 200, 'a different account still logs in')

    await sleep(1100)
    t.equal((await attempt('wrong password')).statusCode, 401, 'after the wait the attempt is checked again')
    const doubled = await attempt(PASSWORD)
    t.equal(doubled.statusCode, 429)
    t.equal(doubled.headers['retry-after'], '2', 'the delay doubled to 2 s')

    await sleep(2100)
    const ok = await attempt(PASSWORD)
    t.equal(ok.statusCode, 200, 'the right password after the wait logs in')
    for (let i = 0; i < 4; i++) t.equal((await attempt('wrong password')).statusCode, 401, `after success: failure ${i + 1} is a plain 401`)
    t.equal((await attempt(PASSWORD)).statusCode, 200, 'success reset the count: 4 failures are not yet throttled')
  })

  t.test('concurrent guesses cannot race past the threshold', async (t) => {
    // Without accounting for attempts in flight, every guess sent at once passes the check before
    // the first failure is recorded: the throttle would allow N parallel guesses per delay window.
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 1000, LOGIN_THROTTLE_AFTER: 5, ARGON2_MEMORY_COST: 8192 })
    const user = await register(app)
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      app.inject({ method: 'POST', url: '/auth/token', remoteAddress: `198.51.100.${i + 1}`, ...tokenForm(user.username, `guess number ${i}`) })))
    const statuses = burst.map((r) => r.statusCode)
    t.equal(statuses.filter((s) => s === 401).length, 5, `only 5 guesses were checked (${JSON.stringify(statuses)})`)
    t.equal(statuses.filter((s) => s === 429).length, 15, 'the rest were told to slow down')
    t.ok(burst.filter((r) => r.statusCode === 429).every((r) => Number(r.headers['retry-after']) >= 1), 'each 429 has Retry-After ≥ 1')
    t.equal((await app.inject({ method: 'POST', url: '/auth/token', ...tokenForm(user.username, PASSWORD) })).statusCode, 429, 'the account is now in its wait')
  })

  t.test('unknown names are throttled exactly like real ones', async (t) => {
    const app = await build(t, opts)
    const user = await register(app)
    const attempt = (name: string) => app.inject({ method: 'POST', url: '/auth/token', ...tokenForm(name, 'wrong password') })
    const real: number[] = []
    const ghost: number[] = []
    for (let i = 0; i < 7; i++) {
      real.push((await attempt(user.username)).statusCode)
      ghost.push((await attempt('no_such_user_xyz')).statusCode)
    }
    t.same(real, [401, 401, 401, 401, 401, 429, 429])
    t.same(ghost, real, 'an unknown name gets the same sequence of answers')
    const a = await attempt(user.username)
    const b = await attempt('no_such_user_xyz')
    t.same(a.json(), b.json())
    t.equal(a.headers['retry-after'], b.headers['retry-after'])
  })

  t.test('an attempt that ends in an error is no failure and does not stay in flight', async (t) => {
    // REQUIRE_VERIFIED_EMAIL: the right password of an unverified address is a 401 thrown before any verdict.
    const app = await build(t, { ...opts, REQUIRE_VERIFIED_EMAIL: true })
    const user = await register(app)
    for (let i = 0; i < 7; i++) {
      const res = await app.inject({ method: 'POST', url: '/auth/token', ...tokenForm(user.username, PASSWORD) })
      t.equal(res.statusCode, 401, `right password, unverified, attempt ${i + 1}: 401, not 429`)
      t.equal(res.json().error_description, 'Verify your email address before signing in')
    }
    await app.users.setRoleOrDisabled(user.id, { email_verified: true })
    t.equal((await app.inject({ method: 'POST', url: '/auth/token', ...tokenForm(user.username, PASSWORD) })).statusCode, 200, 'verified: signs in at once')
  })

  t.test('LOGIN_THROTTLE_AFTER=0 turns the account throttle off', async (t) => {
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 0, LOGIN_THROTTLE_AFTER: 0 })
    const user = await register(app)
    for (let i = 0; i < 8; i++) await app.inject({ method: 'POST', url: '/auth/token', ...tokenForm(user.username, 'wrong password') })
    t.equal((await app.inject({ method: 'POST', url: '/auth/token', ...tokenForm(user.username, PASSWORD) })).statusCode, 200)
  })
})

t.test('LoginThrottle (unit, injected clock)', async (t) => {
  const T0 = 1_700_000_000_000

  t.test('no delay before the threshold, then 1 s, doubling, capped at 900 s', async (t) => {
    const throttle = new LoginThrottle(5)
    let now = T0
    for (let i = 0; i < 4; i++) {
      throttle.failure('alice', now)
      t.equal(throttle.retryAfter('alice', now), 0, `failure ${i + 1}: no wait`)
    }
    const waits: number[] = []
    for (let i = 0; i < 14; i++) {
      throttle.failure('alice', now)
      const wait = throttle.retryAfter('alice', now)
      waits.push(wait)
      now += wait * 1000 // the attacker waits exactly as long as told, then fails again
      t.equal(throttle.retryAfter('alice', now), 0, 'the wait is over after Retry-After seconds')
    }
    t.same(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900])
  })

  t.test('Retry-After counts down and is at least 1 while blocked', async (t) => {
    const throttle = new LoginThrottle(1)
    throttle.failure('bob', T0)
    throttle.failure('bob', T0 + 1000) // second failure: 2 s block from T0+1000
    t.equal(throttle.retryAfter('bob', T0 + 1000), 2)
    t.equal(throttle.retryAfter('bob', T0 + 1500), 2, 'rounded up')
    t.equal(throttle.retryAfter('bob', T0 + 2999), 1, 'never 0 while still blocked')
    t.equal(throttle.retryAfter('bob', T0 + 3000), 0)
  })

  t.test('names are folded to lower case; different names are independent', async (t) => {
    const throttle = new LoginThrottle(2)
    throttle.failure('Carol', T0)
    throttle.failure('CAROL', T0)
    t.ok(throttle.retryAfter('carol', T0) >= 1)
    t.equal(throttle.retryAfter('dave', T0), 0)
  })

  t.test('long names (up to the 1024-character form bound) are throttled like short ones', async (t) => {
    const throttle = new LoginThrottle(1)
    const long = `${'x'.repeat(100)}A`
    throttle.failure(long, T0)
    t.equal(throttle.retryAfter(long.toLowerCase(), T0), 1, 'folded to lower case before digesting')
    t.equal(throttle.retryAfter(`${'x'.repeat(100)}b`, T0), 0, 'a name with the same long prefix is a different name')
    throttle.success(long.toUpperCase())
    t.equal(throttle.retryAfter(long, T0), 0, 'success resets it')
  })

  t.test('success resets the count', async (t) => {
    const throttle = new LoginThrottle(3)
    throttle.failure('erin', T0)
    throttle.failure('erin', T0)
    throttle.success('ERIN')
    throttle.failure('erin', T0)
    throttle.failure('erin', T0)
    t.equal(throttle.retryAfter('erin', T0), 0, 'two failures after a success are below the threshold')
    throttle.failure('erin', T0)
    t.equal(throttle.retryAfter('erin', T0), 1)
  })

  t.test('attempts in flight count: a burst cannot race past the threshold', async (t) => {
    const throttle = new LoginThrottle(3)
    // Three attempts admitted at once (their verifies still running), the fourth must wait.
    t.same([1, 2, 3, 4].map(() => throttle.retryAfter('gina', T0)), [0, 0, 0, 1])
    throttle.failure('gina', T0 + 50)
    throttle.failure('gina', T0 + 50)
    t.equal(throttle.retryAfter('gina', T0 + 50), 1, 'still one in flight that could reach the threshold')
    throttle.failure('gina', T0 + 60)
    t.equal(throttle.retryAfter('gina', T0 + 60), 1, 'threshold reached: 1 s wait')
    // Past the threshold, one attempt per expired delay.
    t.equal(throttle.retryAfter('gina', T0 + 1060), 0, 'the wait is over: one attempt admitted')
    t.equal(throttle.retryAfter('gina', T0 + 1060), 1, 'a second concurrent one waits')
    throttle.failure('gina', T0 + 1100)
    t.equal(throttle.retryAfter('gina', T0 + 1100), 2, 'its failure doubled the delay')
  })

  t.test('an attempt released without a verdict frees its place and counts as nothing', async (t) => {
    const throttle = new LoginThrottle(2)
    const admitted = [1, 2].map(() => throttle.retryAfter('ivy', T0))
    t.same(admitted, [0, 0])
    t.equal(throttle.retryAfter('ivy', T0), 1, 'both places taken')
    const first = new ThrottledAttempt(throttle, 'ivy')
    first.release()
    t.equal(throttle.retryAfter('ivy', T0), 0, 'a released attempt frees its place at once')
    first.release()
    t.equal(throttle.retryAfter('ivy', T0), 1, 'released twice, freed once')
    const failed = new ThrottledAttempt(throttle, 'ivy')
    t.equal(failed.failure(), false, 'one failure: below the threshold')
    failed.release()
    t.equal(throttle.retryAfter('ivy', T0), 1, 'release after a verdict frees nothing more')
    new ThrottledAttempt(throttle, 'ivy').release()
    t.equal(throttle.retryAfter('ivy', T0), 0, 'the last one in flight released: one failure, still below the threshold')
  })

  t.test('a success among concurrent attempts resets the count', async (t) => {
    const throttle = new LoginThrottle(2)
    t.equal(throttle.retryAfter('hal', T0), 0)
    t.equal(throttle.retryAfter('hal', T0), 0)
    throttle.success('hal')
    throttle.failure('hal', T0)
    t.equal(throttle.retryAfter('hal', T0), 0, 'one failure after the success is below the threshold')
  })

  t.test('an attempt that never reports back stops counting after 60 s', async (t) => {
    const throttle = new LoginThrottle(1)
    t.equal(throttle.retryAfter('ivan', T0), 0)
    t.equal(throttle.retryAfter('ivan', T0 + 1000), 1, 'in flight')
    t.equal(throttle.retryAfter('ivan', T0 + 61_000), 0, 'forgotten: the name is not locked forever')
  })

  t.test('after = 0 disables it', async (t) => {
    const throttle = new LoginThrottle(0)
    t.equal(throttle.enabled, false)
    for (let i = 0; i < 50; i++) throttle.failure('frank', T0)
    t.equal(throttle.retryAfter('frank', T0), 0)
  })

  t.test('memory is bounded: a spray of names evicts the least recently failed', async (t) => {
    const throttle = new LoginThrottle(1)
    throttle.failure('victim', T0)
    t.equal(throttle.retryAfter('victim', T0), 1)
    for (let i = 0; i < 100_000; i++) throttle.failure(`spray${i}`, T0)
    t.equal(throttle.retryAfter('victim', T0), 0, 'the oldest entry was evicted (documented trade-off in SECURITY.md)')
    t.equal(throttle.retryAfter('spray99999', T0), 1)
  })
})

t.test('a stolen access token is no fast password oracle: password checks on /users/me are throttled per account', async (t) => {
  const app = await build(t, { LOGIN_THROTTLE_AFTER: 2, RATE_LIMIT_PER_MINUTE: 0 })
  const user = await signUp(app)
  const wrong = (url: string, method: 'POST' | 'DELETE', payload: object) =>
    app.inject({ method, url, headers: user.auth, payload })
  t.equal((await wrong('/users/me/password', 'POST', { current_password: 'not my password', new_password: 'another long passphrase' })).statusCode, 403)
  t.equal((await wrong('/users/me', 'DELETE', { password: 'still not it' })).statusCode, 403)
  const blocked = await wrong('/users/me', 'DELETE', { password: PASSWORD })
  t.equal(blocked.statusCode, 429, 'even the right password waits')
  t.ok(Number(blocked.headers['retry-after']) >= 1)
  t.equal(blocked.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal((await app.inject({ url: '/users/me', headers: user.auth })).statusCode, 200, 'the account itself still works')
})

t.test('the per-IP limit covers the password-checking routes too', async (t) => {
  const app = await build(t, { RATE_LIMIT_PER_MINUTE: 2, LOGIN_THROTTLE_AFTER: 0 })
  const user = await signUp(app)
  const codes = []
  for (let i = 0; i < 3; i++) {
    codes.push((await app.inject({ method: 'DELETE', url: '/users/me', headers: user.auth, payload: { password: 'wrong password here' } })).statusCode)
  }
  t.same(codes, [403, 403, 429])
})
