// TOTP over HTTP: enrolment, confirmation, the password grant's second step, turning it off, the admin reset,
// throttling, the key file at start-up, the QR code decoded back, and a scan that no answer but one holds the secret.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { Secret, TOTP, URI } from 'otpauth'
import { chromium } from 'playwright-core'
import jsQRModule from 'jsqr'
import { PNG } from 'pngjs'
import { buildApp, logRedactPaths, type App } from '../../src/app.js'
import { dataDirectory } from '../../src/db/open.js'
import { totpKeyPath } from '../../src/services/totp-key.js'
import { build, form, login, newUser, PASSWORD, register, signUp, tempDir, testConfig, type Tokens } from '../helper.js'
import { codeAt, insideStep, STEP } from '../totp-codes.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const QR_SCREENSHOT = '/tmp/totp-qr.png'

t.setTimeout(300_000)

/** A well-formed code that is none of the accepted ones right now. */
function wrongCode (secret: string): string {
  const now = Date.now()
  const accepted = [-2, -1, 0, 1, 2].map((d) => codeAt(secret, now + d * STEP))
  return ['000000', '111111', '222222', '333333', '444444', '555555'].find((c) => !accepted.includes(c))!
}

type Caller = Awaited<ReturnType<typeof signUp>>

const grant = async (app: App, fields: Record<string, string>) =>
  await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'password', ...fields }) })

const enrol = async (app: App, user: Caller, password = user.password) =>
  await app.inject({ method: 'POST', url: '/users/me/totp', headers: user.auth, payload: { password } })

const confirm = async (app: App, user: Caller, code: string) =>
  await app.inject({ method: 'POST', url: '/users/me/totp/confirm', headers: user.auth, payload: { code } })

const me = async (app: App, tokens: Tokens) =>
  await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${tokens.access_token}` } })

/** A signed-up user with TOTP on; the confirmation used the code of step `now`. */
async function totpUser (app: App, opts: { role?: 'admin' | 'user' } = {}) {
  const user = await signUp(app, opts)
  const { secret } = (await enrol(app, user)).json<{ secret: string }>()
  const now = await insideStep()
  const res = await confirm(app, user, codeAt(secret, now))
  if (res.statusCode !== 200) throw new Error(`confirm failed: ${res.statusCode} ${res.body}`)
  return { ...user, secret, now, recovery: res.json<{ recovery_codes: string[] }>().recovery_codes }
}

const problem = (res: LightMyRequestResponse) => ({ status: res.statusCode, detail: res.json<{ detail: string }>().detail })

/** The OAuth2 error body of the contract; `detail` (repeating the description) is checked when the body has it. */
function assertOAuthError (t: Test, res: LightMyRequestResponse, description: string, members: Record<string, unknown> = {}) {
  t.equal(res.statusCode, 401)
  const body = res.json<Record<string, unknown>>()
  const { detail, ...rest } = body
  t.same(rest, { error: 'invalid_grant', error_description: description, ...members }, description)
  if ('detail' in body) t.equal(detail, description, 'detail repeats error_description')
}

t.test('enrolment: password, secret, otpauth URI and QR code; pending until confirmed', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const elsewhere = await login(app, user.username) // another device's session

  t.same(problem(await enrol(app, user, 'not the password')), { status: 403, detail: 'Password is incorrect' })
  t.equal((await app.inject({ method: 'POST', url: '/users/me/totp', headers: user.auth, payload: {} })).statusCode, 422)
  t.equal((await app.inject({ method: 'POST', url: '/users/me/totp', payload: { password: PASSWORD } })).statusCode, 401)

  const first = await enrol(app, user)
  t.equal(first.statusCode, 201)
  t.equal(first.headers['cache-control'], 'no-store')
  t.equal(first.headers.pragma, 'no-cache')
  const body = first.json<{ secret: string, otpauth_uri: string, qr_svg: string }>()
  t.same(Object.keys(body).sort(), ['otpauth_uri', 'qr_svg', 'secret'])
  t.match(body.secret, /^[A-Z2-7]{32}$/, '160-bit base32 secret')
  const parsed = URI.parse(body.otpauth_uri) as TOTP
  t.ok(parsed instanceof TOTP)
  t.match(parsed, { issuer: 'Latchkey', label: user.username, algorithm: 'SHA1', digits: 6, period: 30 })
  t.equal(parsed.secret.base32, body.secret)
  t.match(body.otpauth_uri, new RegExp(`^otpauth://totp/Latchkey:${user.username}\\?issuer=Latchkey&secret=${body.secret}&`))
  t.match(body.qr_svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>.*<\/svg>\s*$/s)

  t.equal((await me(app, user.tokens)).json<{ totp_enabled: boolean }>().totp_enabled, false, 'pending: not on yet')
  t.equal((await grant(app, { username: user.username, password: PASSWORD })).statusCode, 200, 'sign-in unchanged while pending')
  t.same(problem(await confirm(app, user, 'nonsense')), { status: 403, detail: 'The one-time code is incorrect' })

  const second = (await enrol(app, user)).json<{ secret: string }>()
  t.not(second.secret, body.secret, 'asking again replaces the pending secret')
  let now = await insideStep()
  t.same(problem(await confirm(app, user, codeAt(body.secret, now))), { status: 403, detail: 'The one-time code is incorrect' }, 'the replaced secret is dead')
  t.equal((await app.inject({ method: 'POST', url: '/users/me/totp/confirm', headers: user.auth, payload: { code: 123456 } })).statusCode, 422)

  now = await insideStep()
  const confirmed = await confirm(app, user, codeAt(second.secret, now))
  t.equal(confirmed.statusCode, 200)
  t.equal(confirmed.headers['cache-control'], 'no-store')
  t.equal(confirmed.headers.pragma, 'no-cache')
  const { recovery_codes: codes } = confirmed.json<{ recovery_codes: string[] }>()
  t.equal(codes.length, 10)
  t.equal(new Set(codes).size, 10)

  t.test('TOTP is on; this session continues, every other one has ended', async (t) => {
    const mine = await me(app, user.tokens)
    t.equal(mine.statusCode, 200)
    t.equal(mine.json<{ totp_enabled: boolean }>().totp_enabled, true)
    t.equal((await me(app, elsewhere)).statusCode, 401, "the other device's access token stops working")
    const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: elsewhere.refresh_token } })
    t.equal(refresh.statusCode, 401, 'and its refresh token')
    const sessions = (await app.inject({ method: 'GET', url: '/users/me/sessions', headers: user.auth })).json<Array<{ current: boolean }>>()
    t.same(sessions.map((s) => s.current), [true])
  })

  t.test('once on: enrolling or confirming again is a 409', async (t) => {
    t.same(problem(await enrol(app, user)), { status: 409, detail: 'TOTP is already enabled: turn it off before enrolling again' })
    t.equal((await confirm(app, user, codeAt(second.secret, Date.now()))).statusCode, 409)
  })

  t.test('confirming with nothing pending is a 409', async (t) => {
    const other = await signUp(app)
    t.same(problem(await confirm(app, other, '123456')),
      { status: 409, detail: 'No TOTP enrolment is pending: start one with POST /users/me/totp' })
  })
})

t.test('confirming accepts the previous step and refuses a code two steps old', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const { secret } = (await enrol(app, user)).json<{ secret: string }>()
  const now = await insideStep()
  t.equal((await confirm(app, user, codeAt(secret, now - 2 * STEP))).statusCode, 403, 'two steps old')
  t.equal((await confirm(app, user, codeAt(secret, now + 2 * STEP))).statusCode, 403, 'two steps ahead')
  t.equal((await confirm(app, user, codeAt(secret, now - STEP))).statusCode, 200, 'the previous step')
})

t.test('the password grant of a TOTP user', async (t) => {
  const app = await build(t)
  const user = await totpUser(app)
  const creds = { username: user.username, password: PASSWORD }

  t.test('without a code: 401 with mfa_required', async (t) => {
    const res = await grant(app, creds)
    assertOAuthError(t, res, 'A one-time code is required', { mfa_required: true })
    t.equal(res.headers['www-authenticate'], undefined)
    assertOAuthError(t, await grant(app, { ...creds, totp: '' }), 'A one-time code is required', { mfa_required: true })
  })

  t.test('a wrong code, or the code that confirmed the enrolment (replay)', async (t) => {
    assertOAuthError(t, await grant(app, { ...creds, totp: wrongCode(user.secret) }), 'Incorrect one-time code')
    assertOAuthError(t, await grant(app, { ...creds, totp: 'not-a-code' }), 'Incorrect one-time code')
    assertOAuthError(t, await grant(app, { ...creds, totp: codeAt(user.secret, user.now) }), 'Incorrect one-time code')
  })

  t.test('a fresh code works once', async (t) => {
    // The confirmation used this step; the next step's code is inside the ±1 window.
    const code = codeAt(user.secret, user.now + STEP)
    const ok = await grant(app, { ...creds, totp: code })
    t.equal(ok.statusCode, 200)
    t.equal(ok.headers['cache-control'], 'no-store')
    t.equal((await me(app, ok.json<Tokens>())).statusCode, 200)
    assertOAuthError(t, await grant(app, { ...creds, totp: code }), 'Incorrect one-time code', {})
  })

  t.test('wrong password with a right code: the ordinary answer, and the code is not spent', async (t) => {
    const unknown = await grant(app, { username: 'nobody-here', password: 'wrong password', totp: user.recovery[0] })
    const wrong = await grant(app, { username: user.username, password: 'wrong password', totp: user.recovery[0] })
    t.equal(wrong.statusCode, 401)
    t.same(wrong.json(), unknown.json(), 'the same body as for an account that does not exist')
    t.equal(wrong.json<{ error_description: string }>().error_description, 'Incorrect username or password')
    t.notOk('mfa_required' in wrong.json<object>(), 'no hint that the account has TOTP')
    t.equal((await grant(app, { ...creds, totp: user.recovery[0] })).statusCode, 200, 'the recovery code still works')
  })

  t.test('recovery codes work once each, typed any way; the email signs in too', async (t) => {
    assertOAuthError(t, await grant(app, { ...creds, totp: user.recovery[0] }), 'Incorrect one-time code')
    t.equal((await grant(app, { ...creds, totp: user.recovery[1].toUpperCase() })).statusCode, 200)
    t.equal((await grant(app, { username: user.email.toUpperCase(), password: PASSWORD, totp: ` ${user.recovery[2]} ` })).statusCode, 200)
    assertOAuthError(t, await grant(app, { ...creds, totp: user.recovery[2] }), 'Incorrect one-time code')
  })

  t.test('a user without TOTP who sends a code is not bothered', async (t) => {
    const plain = await signUp(app)
    t.equal((await grant(app, { username: plain.username, password: PASSWORD, totp: '123456' })).statusCode, 200)
  })
})

t.test('wrong codes feed the account login throttle', async (t) => {
  const app = await build(t, { LOGIN_THROTTLE_AFTER: 3 })
  const user = await totpUser(app)
  const creds = { username: user.username, password: PASSWORD }
  assertOAuthError(t, await grant(app, { ...creds, totp: 'aaaa-aaaa-aaaa-aaaa' }), 'Incorrect one-time code')
  // The password alone does not reset the count: a missing code is a failed attempt too.
  assertOAuthError(t, await grant(app, creds), 'A one-time code is required', { mfa_required: true })
  assertOAuthError(t, await grant(app, { ...creds, totp: 'bbbb-bbbb-bbbb-bbbb' }), 'Incorrect one-time code')
  const blocked = await grant(app, { ...creds, totp: user.recovery[0] })
  t.equal(blocked.statusCode, 429, 'then even the right password and code wait')
  t.equal(blocked.json<{ error: string }>().error, 'slow_down')
  t.match(blocked.headers['retry-after'], /^\d+$/)
  t.equal((await grant(app, { username: user.username.toUpperCase(), password: PASSWORD, totp: user.recovery[0] })).statusCode, 429,
    'the name is folded to lower case')
})

t.test('wrong codes count per account: typed under the username and under the email, one count', async (t) => {
  const app = await build(t, { LOGIN_THROTTLE_AFTER: 3 })
  const user = await totpUser(app)
  const as = (username: string, totp: string) => grant(app, { username, password: PASSWORD, totp })
  assertOAuthError(t, await as(user.username, 'aaaa-aaaa-aaaa-aaaa'), 'Incorrect one-time code')
  assertOAuthError(t, await as(user.username, 'bbbb-bbbb-bbbb-bbbb'), 'Incorrect one-time code')
  assertOAuthError(t, await as(user.email, 'cccc-cccc-cccc-cccc'), 'Incorrect one-time code')
  const blocked = await as(user.email, user.recovery[0])
  t.equal(blocked.statusCode, 429, 'the third wrong code, under the email, engaged the throttle of the account')
  t.equal(blocked.json<{ error: string }>().error, 'slow_down')
  t.equal(blocked.headers['retry-after'], '1', 'the first delay')
  t.equal((await as(user.username, user.recovery[0])).statusCode, 429, 'the username (2 wrong codes of its own) waits too')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.equal((await as(user.email, user.recovery[0])).statusCode, 200, 'after the wait: and the 429s spent no recovery code')
})

t.test('the enrolment routes share the password throttle and the per-IP limit of /users/me', async (t) => {
  t.test('wrong passwords, then wrong codes, on one account', async (t) => {
    const app = await build(t, { LOGIN_THROTTLE_AFTER: 2 })
    const user = await signUp(app)
    t.equal((await enrol(app, user, 'wrong one')).statusCode, 403)
    t.equal((await enrol(app, user, 'wrong two')).statusCode, 403)
    const blocked = await enrol(app, user)
    t.equal(blocked.statusCode, 429)
    t.match(blocked.headers['retry-after'], /^\d+$/)
    t.match(blocked.json<{ detail: string }>().detail, /^Too many wrong passwords: retry in \d+ s$/)
    const other = await signUp(app)
    t.equal((await enrol(app, other)).statusCode, 201, 'another account is not affected')
    t.equal((await confirm(app, other, wrongCode((await enrol(app, other)).json<{ secret: string }>().secret))).statusCode, 403)
    t.equal((await confirm(app, other, 'zzzzzz')).statusCode, 403)
    t.equal((await confirm(app, other, '123456')).statusCode, 429, 'wrong confirmation codes count too')
  })
  t.test('per IP', async (t) => {
    const app = await build(t, { RATE_LIMIT_PER_MINUTE: 2 })
    const user = await signUp(app)
    t.equal((await enrol(app, user, 'wrong')).statusCode, 403)
    t.equal((await enrol(app, user)).statusCode, 201)
    t.equal((await enrol(app, user)).statusCode, 429)
  })
})

t.test('DELETE /users/me/totp', async (t) => {
  const app = await build(t)
  const plain = await signUp(app)
  const del = async (user: Caller, payload: Record<string, unknown>) =>
    await app.inject({ method: 'DELETE', url: '/users/me/totp', headers: user.auth, payload })
  t.same(problem(await del(plain, { password: PASSWORD, code: '123456' })), { status: 409, detail: 'TOTP is not enabled' })

  const user = await totpUser(app)
  t.equal((await del(user, { password: PASSWORD })).statusCode, 422)
  t.same(problem(await del(user, { password: 'wrong password', code: user.recovery[0] })), { status: 403, detail: 'Password is incorrect' })
  t.same(problem(await del(user, { password: PASSWORD, code: codeAt(user.secret, user.now) })),
    { status: 403, detail: 'The one-time code is incorrect' }, 'a spent code')
  t.same(problem(await del(user, { password: PASSWORD, code: 'cccc-cccc-cccc-cccc' })), { status: 403, detail: 'The one-time code is incorrect' })
  t.equal((await del(user, { password: PASSWORD, code: user.recovery[0] })).statusCode, 204)
  t.equal((await me(app, user.tokens)).json<{ totp_enabled: boolean }>().totp_enabled, false)
  t.equal((await grant(app, { username: user.username, password: PASSWORD })).statusCode, 200, 'the password alone signs in again')
  t.equal((await del(user, { password: PASSWORD, code: user.recovery[1] })).statusCode, 409)

  t.test('with a current code', async (t) => {
    const other = await totpUser(app)
    t.equal((await del(other, { password: PASSWORD, code: codeAt(other.secret, other.now + STEP) })).statusCode, 204)
  })
})

t.test('admin reset: DELETE /users/{id}/totp', async (t) => {
  const app = await build(t)
  const admin = await signUp(app, { role: 'admin' })
  const user = await totpUser(app)
  const reset = async (id: number | string, headers: Record<string, string>) =>
    await app.inject({ method: 'DELETE', url: `/users/${id}/totp`, headers })
  t.equal((await reset(user.id, {})).statusCode, 401)
  t.same(problem(await reset(user.id, user.auth)), { status: 403, detail: 'Admin access required' })
  t.same(problem(await reset(999_999, admin.auth)), { status: 404, detail: 'User not found' })
  t.equal((await reset('abc', admin.auth)).statusCode, 404)
  t.equal((await reset(user.id, admin.auth)).statusCode, 204)
  const row = await app.inject({ method: 'GET', url: `/users/${user.id}`, headers: admin.auth })
  t.equal(row.json<{ totp_enabled: boolean }>().totp_enabled, false)
  t.equal((await grant(app, { username: user.username, password: PASSWORD })).statusCode, 200, 'signs in with the password alone')
  t.equal((await reset(user.id, admin.auth)).statusCode, 204, 'idempotent')
  t.equal((await enrol(app, user)).statusCode, 201, 'and may enrol a new device')
})

t.test('no answer but the enrolment 201 ever carries the secret (bodies, headers, logs)', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done() } })
  const app = await buildApp(testConfig(t), { logger: { level: 'trace', redact: logRedactPaths, stream } })
  t.teardown(() => app.close())
  await app.ready()

  const seen: Array<{ what: string, text: string }> = []
  let enrolment: LightMyRequestResponse | undefined
  const call = async (what: string, options: InjectOptions) => {
    const res = await app.inject(options)
    if (what === 'enrol') enrolment = res
    else seen.push({ what, text: `${JSON.stringify(res.headers)}\n${res.body}` })
    return res
  }

  const admin = await signUp(app, { role: 'admin' })
  const account = newUser()
  const { id } = (await call('register', { method: 'POST', url: '/auth/register', payload: account })).json<{ id: number }>()
  const grantOf = (fields: Record<string, string>) => call(`token ${Object.keys(fields).join(',')}`,
    { method: 'POST', url: '/auth/token', ...form({ username: account.username, password: PASSWORD, ...fields }) })
  const tokens = (await grantOf({})).json<Tokens>()
  const auth = { authorization: `Bearer ${tokens.access_token}` }
  await call('wrong password', { method: 'POST', url: '/users/me/totp', headers: auth, payload: { password: 'nope nope' } })
  const { secret } = (await call('enrol', { method: 'POST', url: '/users/me/totp', headers: auth, payload: { password: PASSWORD } })).json<{ secret: string }>()
  await call('me (pending)', { method: 'GET', url: '/users/me', headers: auth })
  await call('wrong confirm', { method: 'POST', url: '/users/me/totp/confirm', headers: auth, payload: { code: '12345' } })
  const now = await insideStep()
  const { recovery_codes: codes } = (await call('confirm', { method: 'POST', url: '/users/me/totp/confirm', headers: auth, payload: { code: codeAt(secret, now) } })).json<{ recovery_codes: string[] }>()
  await call('me', { method: 'GET', url: '/users/me', headers: auth })
  await call('sessions', { method: 'GET', url: '/users/me/sessions', headers: auth })
  await grantOf({})
  await grantOf({ totp: '000000' })
  const next = (await grantOf({ totp: codeAt(secret, now + STEP) })).json<Tokens>()
  await grantOf({ totp: codes[0] })
  await call('refresh', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: next.refresh_token } })
  await call('admin list', { method: 'GET', url: '/users?limit=100', headers: admin.auth })
  await call('admin get', { method: 'GET', url: `/users/${id}`, headers: admin.auth })
  await call('stats', { method: 'GET', url: '/admin/stats', headers: admin.auth })
  await call('docs', { method: 'GET', url: '/docs/json' })
  await call('jwks', { method: 'GET', url: '/.well-known/jwks.json' })
  await call('disable', { method: 'DELETE', url: '/users/me/totp', headers: auth, payload: { password: PASSWORD, code: codes[1] } })
  await call('reset', { method: 'DELETE', url: `/users/${id}/totp`, headers: admin.auth })

  t.ok(enrolment?.body.includes(secret), 'the 201 carries it')
  t.ok(seen.length >= 20, `${seen.length} other answers collected`)
  const forms = [secret, secret.toLowerCase(), Secret.fromBase32(secret).hex, Secret.fromBase32(secret).latin1, Buffer.from(Secret.fromBase32(secret).bytes).toString('base64')]
  for (const { what, text } of seen) {
    t.notOk(forms.some((f) => text.includes(f)), `${what}: no secret`)
  }
  t.ok(lines.length > 20, `${lines.length} log lines collected`)
  const log = lines.join('')
  t.notOk(forms.some((f) => log.includes(f)), 'no secret in the log')
  t.notOk(codes.some((c) => log.includes(c)), 'no recovery code in the log')
})

t.test('the encryption key at start-up', async (t) => {
  const config = testConfig(t)
  const file = totpKeyPath(dataDirectory(config.DATABASE_PATH))
  const first = await buildApp(config, { logger: false })
  await first.ready()
  t.equal(statSync(file).mode & 0o777, 0o600, 'keys/totp.key, mode 0600')
  const user = await totpUser(first)
  await first.close()

  const original = readFileSync(file)
  t.test('missing while secrets exist: a clear error, no new key', async (t) => {
    rmSync(file)
    await t.rejects(buildApp(config, { logger: false }), {
      name: 'TotpKeyError',
      message: `${file} is missing, but 1 TOTP secret(s) in the database were encrypted with it: restore the file from a backup (or reset TOTP for those users with \`latchkey user reset-totp\`)`
    })
    t.throws(() => statSync(file), 'no key was generated in its place')
  })
  t.test('a different key: a clear error', async (t) => {
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 })
    await t.rejects(buildApp(config, { logger: false }), {
      name: 'TotpKeyError',
      message: `${file} does not decrypt the TOTP secrets in the database (it is not the key they were encrypted with): restore the original file from a backup`
    })
  })
  t.test('not a key at all: a clear error', async (t) => {
    writeFileSync(file, 'hello\n')
    await t.rejects(buildApp(config, { logger: false }), { name: 'TotpKeyError', message: `${file} is not a TOTP key (expected 32 random bytes, base64): restore the original file from a backup` })
  })
  t.test('the original key restored: the user signs in with a code again', async (t) => {
    writeFileSync(file, original)
    const app = await build(t, config)
    const res = await grant(app, { username: user.username, password: PASSWORD, totp: codeAt(user.secret, user.now + STEP) })
    t.equal(res.statusCode, 200)
  })
})

t.test('the QR code scans back to the otpauth URI (Chromium renders qr_svg, jsQR decodes the screenshot)', async (t) => {
  t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install -y chromium)`)
  const app = await build(t)
  const user = await register(app, newUser({ username: 'alice' }))
  const tokens = await login(app, user.username)
  const res = await app.inject({ method: 'POST', url: '/users/me/totp', headers: { authorization: `Bearer ${tokens.access_token}` }, payload: { password: PASSWORD } })
  const { otpauth_uri: uri, qr_svg: svg } = res.json<{ otpauth_uri: string, qr_svg: string }>()

  const profile = tempDir(t)
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 480, height: 480 }
  })
  t.teardown(() => context.close())
  const page = await context.newPage()
  await page.setContent(`<!doctype html><body style="margin:0;background:#fff">
    <div id="qr" style="width:400px;height:400px;padding:20px;background:#fff">${svg}</div>
    <style>#qr svg { width: 400px; height: 400px; display: block }</style></body>`)
  const png = await page.locator('#qr').screenshot({ path: QR_SCREENSHOT })
  const image = PNG.sync.read(png)
  // jsqr is CommonJS with an ES-style `default`: under NodeNext the import is the module object.
  const decoded = jsQRModule.default(new Uint8ClampedArray(image.data), image.width, image.height)
  t.ok(decoded, `a QR code was found in ${QR_SCREENSHOT}`)
  t.equal(decoded?.data, uri, 'it decodes to the otpauth URI')
  t.match(decoded?.data, /^otpauth:\/\/totp\/Latchkey:alice\?issuer=Latchkey&secret=[A-Z2-7]{32}&algorithm=SHA1&digits=6&period=30$/)
})
