// API.md "Account recovery and email verification", clause by clause, with mail over a real SMTP server.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { simpleParser, type ParsedMail } from 'mailparser'
import { buildApp, type App } from '../../src/app.js'
import { parseConfig, ConfigError } from '../../src/config.js'
import { packageRoot } from '../../src/paths.js'
import { query } from '../db.js'
import { build, form, freePort, login, newUser, PASSWORD, register, signUp, tempDir, testConfig, testEnv } from '../helper.js'
import { linkIn, logLines, startSmtp, type Inbox } from '../smtp.js'

const FORGOT = 'If that address has an account, a reset link is on its way'
const BAD_RESET = 'The reset link is invalid or has expired'
const BAD_VERIFY = 'The verification link is invalid or has expired'
const NEW_PASSWORD = 'a brand new passphrase'
const APP_URL = 'https://app.example.com'

const json = (payload: unknown) => ({ payload: payload as Record<string, unknown>, headers: { 'content-type': 'application/json' } })

/** The app with mail going to a real SMTP server and its log lines kept. */
async function setup (t: Test, overrides: Record<string, string | number | boolean> = {}, opts: { smtpUrl?: string, refuseFirst?: number } = {}) {
  const inbox = await startSmtp(t, { refuseFirst: opts.refuseFirst })
  const logs = logLines()
  const config = testConfig(t, { SMTP_URL: opts.smtpUrl ?? inbox.url, APP_URL, MAIL_FROM: 'Latchkey <no-reply@example.com>', ...overrides })
  const app = await buildApp(config, { logger: { level: 'info', stream: logs.stream }, mail: { retry: { retryDelayMs: 20 } } })
  t.teardown(() => app.close())
  await app.ready()
  return { app, inbox, logs: logs.lines, config }
}

/** Register a user and wait for (and drop) the verification mail registration sends. */
async function registered (app: App, inbox: Inbox, user = newUser()) {
  const before = inbox.mails.length
  const created = await register(app, user)
  const verification = await inbox.mail(before)
  return { ...created, verification }
}

const forgot = (app: App, email: string, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/auth/password/forgot', ...json({ email }), headers: { 'content-type': 'application/json', ...headers } })
const reset = (app: App, token: string, password = NEW_PASSWORD) =>
  app.inject({ method: 'POST', url: '/auth/password/reset', ...json({ token, new_password: password }) })
const verify = (app: App, token: string) => app.inject({ method: 'POST', url: '/auth/email/verify', ...json({ token }) })
const me = async (app: App, auth: Record<string, string>) => (await app.inject({ url: '/users/me', headers: auth })).json<{ email: string, email_verified: boolean }>()
const toAddress = (mail: ParsedMail) => (Array.isArray(mail.to) ? mail.to[0] : mail.to)?.value[0].address

t.test('password reset over SMTP: forgot, the mail, the reset, every session ended', async (t) => {
  const { app, inbox, logs } = await setup(t)
  const user = await registered(app, inbox)
  const tokens = await login(app, user.username)
  const auth = { authorization: `Bearer ${tokens.access_token}` }

  const res = await forgot(app, user.email.toUpperCase())
  t.equal(res.statusCode, 202)
  t.match(res.headers['content-type'], /^application\/json/)
  t.same(res.json(), { detail: FORGOT })

  const mail = await inbox.mail(1)
  t.equal(toAddress(mail), user.email)
  t.match(mail.from?.value, [{ name: 'Latchkey', address: 'no-reply@example.com' }], 'From: is MAIL_FROM')
  t.equal(mail.subject, 'Reset your Latchkey password')
  t.match(mail.text, `Hello ${user.username},`)
  t.match(mail.text, 'open this link within 30 minutes')
  const { link, token } = linkIn(mail, `${APP_URL}/reset-password?token=`)
  await app.mail.idle()
  t.match(token, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url')
  t.match(String(mail.html), `href="${link}"`, 'the HTML body links to the same page')
  t.notOk(JSON.stringify(logs).includes(token), 'no log line holds the token')
  t.notOk(JSON.stringify(logs).includes('reset-password'), 'no log line holds the link')
  t.ok(logs.some((l) => l.msg === 'mail sent over SMTP' && l.kind === 'reset'), 'the SMTP outcome is logged')

  t.test('the token is stored only as a hash', async (t) => {
    const stored = await query(app, (db, s) => db.select().from(s.accountTokens).where(eq(s.accountTokens.kind, 'reset')))
    t.equal(stored.length, 1)
    t.not(stored[0].tokenHash, token)
    t.notOk(JSON.stringify(await query(app, (db, s) => db.select().from(s.accountTokens))).includes(token))
  })

  t.test('a password the policy refuses is a 422 and leaves the link usable', async (t) => {
    const weak = await reset(app, token, 'short')
    t.equal(weak.statusCode, 422)
    t.match(weak.json(), { errors: [{ field: '/new_password' }] })
    const same = await reset(app, token, user.username)
    t.equal(same.statusCode, 422, 'the username (or email) is refused as with registration')
    const common = await reset(app, token, 'password123')
    t.equal(common.statusCode, 422, 'a common password is refused')
  })

  t.test('the reset: 204, new password works, old one does not, every session ended', async (t) => {
    const done = await reset(app, token)
    t.equal(done.statusCode, 204)
    t.equal(done.body, '')
    t.equal((await app.inject({ url: '/users/me', headers: auth })).statusCode, 401, 'the access token of the old session is dead')
    const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', ...json({ refresh_token: tokens.refresh_token }) })
    t.equal(refreshed.statusCode, 401, 'so is its refresh token')
    const old = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD }) })
    t.equal(old.statusCode, 401, 'the old password no longer signs in')
    const fresh = await login(app, user.username, NEW_PASSWORD)
    t.equal((await me(app, { authorization: `Bearer ${fresh.access_token}` })).email_verified, true,
      'receiving the link proves the address: it counts as verified')
  })

  t.test('single use: the same link again is a 400 problem', async (t) => {
    const again = await reset(app, token, 'yet another passphrase')
    t.equal(again.statusCode, 400)
    t.match(again.headers['content-type'], /^application\/problem\+json/)
    t.same(again.json(), { type: 'about:blank', title: 'Bad Request', status: 400, detail: BAD_RESET })
    await login(app, user.username, NEW_PASSWORD)
  })
})

t.test('forgot: an unknown address gets the identical answer, and no mail', async (t) => {
  const { app, inbox } = await setup(t)
  const user = await registered(app, inbox)
  const known = await forgot(app, user.email)
  const unknown = await forgot(app, 'nobody@example.com')
  t.equal(unknown.statusCode, known.statusCode)
  t.same(unknown.json(), known.json())
  t.equal(unknown.body, known.body, 'byte for byte')
  const headers = (h: Record<string, unknown>) => Object.keys(h).filter((k) => k !== 'date' && k !== 'x-request-id').sort()
  t.same(headers(unknown.headers), headers(known.headers), 'the same headers')
  t.equal(unknown.headers['content-length'], known.headers['content-length'])
  await inbox.mail(1)
  await app.mail.idle()
  t.equal(inbox.mails.length, 2, 'only the registration mail and the known address’s reset mail')
  t.same(inbox.mails.map(toAddress), [user.email, user.email])

  t.test('a disabled account gets the same answer and no mail', async (t) => {
    await app.users.setRoleOrDisabled(user.id, { disabled: true })
    const other = await registered(app, inbox)
    await app.users.setRoleOrDisabled(other.id, { disabled: true })
    t.same((await forgot(app, other.email)).json(), { detail: FORGOT })
    await app.mail.idle()
    t.equal(inbox.mails.length, 3, 'nothing after the second registration mail')
  })

  t.test('a malformed address is a 422; a missing one too', async (t) => {
    const bad = await forgot(app, 'not-an-address')
    t.equal(bad.statusCode, 422)
    t.match(bad.json(), { errors: [{ field: '/email', message: 'must be a valid email' }] })
    const missing = await app.inject({ method: 'POST', url: '/auth/password/forgot', ...json({}) })
    t.equal(missing.statusCode, 422)
    t.match(missing.json(), { errors: [{ field: '/email', message: 'is required' }] })
  })
})

t.test('at most one mail of each kind per address per 60 s', async (t) => {
  const { app, inbox } = await setup(t)
  const user = await registered(app, inbox)
  t.same((await forgot(app, user.email)).json(), { detail: FORGOT })
  t.same((await forgot(app, user.email)).json(), { detail: FORGOT }, 'the second request is answered the same')
  await inbox.mail(1)
  await app.mail.idle()
  t.equal(inbox.mails.length, 2, 'but only one reset mail went out')
  t.equal(inbox.mails[1].subject, 'Reset your Latchkey password')

  const auth = { authorization: `Bearer ${(await login(app, user.username)).access_token}` }
  const resend = await app.inject({ method: 'POST', url: '/users/me/email/verification', headers: auth })
  t.equal(resend.statusCode, 429, 'registration sent the verification mail less than a minute ago')
  t.match(resend.json(), { status: 429, detail: /^A verification mail was sent less than 60 s ago: retry in \d+ s$/ })
  t.ok(Number(resend.headers['retry-after']) > 0 && Number(resend.headers['retry-after']) <= 60, 'Retry-After in seconds')
  await app.mail.idle()
  t.equal(inbox.mails.length, 2)

  t.test('a minute later another mail may go', async (t) => {
    // Date the earlier tokens back a minute, as the clock would.
    for (const row of await query(app, (db, s) => db.select().from(s.accountTokens))) {
      await query(app, (db, s) => db.update(s.accountTokens).set({ createdAt: new Date(row.createdAt.getTime() - 61000) }).where(eq(s.accountTokens.id, row.id)))
    }
    t.same((await forgot(app, user.email)).json(), { detail: FORGOT })
    const again = await inbox.mail(2)
    t.equal(again.subject, 'Reset your Latchkey password')
    const resent = await app.inject({ method: 'POST', url: '/users/me/email/verification', headers: auth })
    t.equal(resent.statusCode, 202)
    t.same(resent.json(), { detail: 'A verification link is on its way' })
    t.equal((await inbox.mail(3)).subject, 'Verify your email address for Latchkey')
  })
})

t.test('a new reset link retires the older ones; after a reset no other works', async (t) => {
  const { app, inbox } = await setup(t)
  const user = await registered(app, inbox)
  await forgot(app, user.email)
  const first = linkIn(await inbox.mail(1), `${APP_URL}/reset-password?token=`).token
  // A second link, as a request a minute later would issue.
  const second = await app.accountTokens.issue(user.id, 'reset', user.email)
  const stale = await reset(app, first)
  t.equal(stale.statusCode, 400)
  t.equal(stale.json<{ detail: string }>().detail, BAD_RESET)
  t.equal((await reset(app, second)).statusCode, 204)
  t.equal((await reset(app, second, 'something else entirely')).statusCode, 400)
})

t.test('an expired link is a 400 (RESET_TOKEN_TTL=1, VERIFY_TOKEN_TTL=1)', async (t) => {
  const { app, inbox } = await setup(t, { RESET_TOKEN_TTL: 1, VERIFY_TOKEN_TTL: 1 })
  const user = await registered(app, inbox)
  t.match(user.verification.text, 'within 1 second')
  await forgot(app, user.email)
  const mail = await inbox.mail(1)
  t.match(mail.text, 'within 1 second')
  const { token } = linkIn(mail, `${APP_URL}/reset-password?token=`)
  const verifyToken = linkIn(user.verification, `${APP_URL}/verify-email?token=`).token
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const res = await reset(app, token)
  t.equal(res.statusCode, 400)
  t.equal(res.json<{ detail: string }>().detail, BAD_RESET)
  const v = await verify(app, verifyToken)
  t.equal(v.statusCode, 400)
  t.equal(v.json<{ detail: string }>().detail, BAD_VERIFY)
  await login(app, user.username, PASSWORD)

  t.test('the purge deletes expired tokens', async (t) => {
    t.equal(await app.accountTokens.purge(), 2)
    t.equal(await app.accountTokens.purge(), 0)
  })
})

t.test('bad tokens: unknown, empty, wrong kind, not a string', async (t) => {
  const { app, inbox } = await setup(t)
  const user = await registered(app, inbox)
  const verifyToken = linkIn(user.verification, `${APP_URL}/verify-email?token=`).token
  t.equal((await reset(app, 'A'.repeat(43))).json<{ detail: string }>().detail, BAD_RESET)
  const wrongKind = await reset(app, verifyToken)
  t.equal(wrongKind.statusCode, 400, 'a verification token does not reset a password')
  t.equal((await verify(app, 'nope')).json<{ detail: string }>().detail, BAD_VERIFY)
  const empty = await verify(app, '')
  t.equal(empty.statusCode, 422)
  t.match(empty.json(), { errors: [{ field: '/token', message: 'must be at least 1 character' }] })
  const number = await app.inject({ method: 'POST', url: '/auth/password/reset', ...json({ token: 5, new_password: NEW_PASSWORD }) })
  t.equal(number.statusCode, 422)
  t.match(number.json(), { errors: [{ field: '/token', message: 'must be a string' }] })
  const missing = await app.inject({ method: 'POST', url: '/auth/password/reset', ...json({ token: verifyToken }) })
  t.match(missing.json(), { status: 422, errors: [{ field: '/new_password', message: 'is required' }] })
  const asForm = await app.inject({ method: 'POST', url: '/auth/email/verify', ...form({ token: verifyToken }) })
  t.equal(asForm.statusCode, 415)
  t.equal((await verify(app, verifyToken)).statusCode, 204, 'the real one still works after all that')
})

t.test('email verification: registration mails a link; the link verifies once', async (t) => {
  const { app, inbox } = await setup(t)
  const user = await registered(app, inbox)
  const mail = user.verification
  t.equal(toAddress(mail), user.email)
  t.equal(mail.subject, 'Verify your email address for Latchkey')
  t.match(mail.text, `Please confirm that ${user.email} is your address by opening this link within 24 hours:`)
  const { link, token } = linkIn(mail, `${APP_URL}/verify-email?token=`)
  t.match(String(mail.html), `href="${link}"`)

  const auth = { authorization: `Bearer ${(await login(app, user.username)).access_token}` }
  t.equal((await me(app, auth)).email_verified, false, 'registration leaves the address unverified')
  const res = await verify(app, token)
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.equal((await me(app, auth)).email_verified, true)
  const again = await verify(app, token)
  t.equal(again.statusCode, 400)
  t.same(again.json(), { type: 'about:blank', title: 'Bad Request', status: 400, detail: BAD_VERIFY })

  const resend = await app.inject({ method: 'POST', url: '/users/me/email/verification', headers: auth })
  t.equal(resend.statusCode, 409)
  t.same(resend.json(), { type: 'about:blank', title: 'Conflict', status: 409, detail: 'The email address is already verified' })
  const anonymous = await app.inject({ method: 'POST', url: '/users/me/email/verification' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.headers['www-authenticate'], 'Bearer')
})

t.test('PATCH /users/me with a new email: unverified again, a mail to the new address', async (t) => {
  const { app, inbox } = await setup(t)
  const user = await registered(app, inbox)
  const oldLink = linkIn(user.verification, `${APP_URL}/verify-email?token=`).token
  const auth = { authorization: `Bearer ${(await login(app, user.username)).access_token}` }
  await app.users.setRoleOrDisabled(user.id, { email_verified: true })

  const renamed = await app.inject({ method: 'PATCH', url: '/users/me', headers: { ...auth, 'content-type': 'application/json' }, payload: { username: `${user.username}x` } })
  t.equal(renamed.json<{ email_verified: boolean }>().email_verified, true, 'a username change keeps the address verified')
  const same = await app.inject({ method: 'PATCH', url: '/users/me', headers: { ...auth, 'content-type': 'application/json' }, payload: { email: user.email.toUpperCase() } })
  t.equal(same.json<{ email_verified: boolean }>().email_verified, true, 'the same address in other case is no change')

  const email = `moved_${user.email}`
  const res = await app.inject({ method: 'PATCH', url: '/users/me', headers: { ...auth, 'content-type': 'application/json' }, payload: { email } })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { email, email_verified: false })
  const mail = await inbox.mail(1)
  t.equal(toAddress(mail), email, 'the mail goes to the new address')
  t.equal(mail.subject, 'Verify your email address for Latchkey')
  await app.mail.idle()
  t.equal(inbox.mails.length, 2, 'exactly one mail for the change')

  t.equal((await verify(app, oldLink)).statusCode, 400, 'a link sent to the old address verifies nothing')
  t.equal((await verify(app, linkIn(mail, `${APP_URL}/verify-email?token=`).token)).statusCode, 204)
  t.equal((await me(app, auth)).email_verified, true)
})

t.test('admins set email_verified with PATCH /users/{id}', async (t) => {
  const { app, inbox } = await setup(t)
  const admin = await signUp(app, { role: 'admin' })
  const user = await registered(app, inbox)
  const patch = (body: unknown) => app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: { ...admin.auth, 'content-type': 'application/json' }, payload: body as Record<string, unknown> })
  const on = await patch({ email_verified: true })
  t.equal(on.statusCode, 200)
  t.match(on.json(), { id: user.id, email_verified: true, role: 'user', disabled: false })
  t.equal((await patch({ email_verified: false })).json<{ email_verified: boolean }>().email_verified, false)
  const bad = await patch({ email_verified: 'yes' })
  t.equal(bad.statusCode, 422)
  t.match(bad.json(), { errors: [{ field: '/email_verified', message: 'must be a boolean' }] })
  const notAdmin = await signUp(app)
  const forbidden = await app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: { ...notAdmin.auth, 'content-type': 'application/json' }, payload: { email_verified: true } })
  t.equal(forbidden.statusCode, 403)
})

t.test('REQUIRE_VERIFIED_EMAIL: the right password for an unverified address is 401 invalid_grant', async (t) => {
  const { app, inbox } = await setup(t, { REQUIRE_VERIFIED_EMAIL: 'true' })
  const user = await registered(app, inbox)
  const grant = (password: string) => app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password }) })
  const refused = await grant(PASSWORD)
  t.equal(refused.statusCode, 401)
  t.match(refused.json(), { error: 'invalid_grant', error_description: 'Verify your email address before signing in' })
  t.equal(refused.headers['www-authenticate'], undefined, 'no resource-server challenge on the token endpoint')
  const wrong = await grant('not the password at all')
  t.equal(wrong.json<{ error_description: string }>().error_description, 'Incorrect username or password',
    'a wrong password does not learn whether the address is verified')
  t.equal((await verify(app, linkIn(user.verification, `${APP_URL}/verify-email?token=`).token)).statusCode, 204)
  t.equal((await grant(PASSWORD)).statusCode, 200, 'verified: signs in')

  t.test('off by default', async (t) => {
    const plain = await build(t)
    const other = await register(plain)
    await login(plain, other.username)
  })
})

t.test('the per-IP limit covers every new /auth route', async (t) => {
  const { app } = await setup(t, { RATE_LIMIT_PER_MINUTE: 2 })
  for (const [url, body] of [
    ['/auth/password/forgot', { email: 'a@example.com' }],
    ['/auth/password/reset', { token: 'x', new_password: NEW_PASSWORD }],
    ['/auth/email/verify', { token: 'x' }]
  ] as const) {
    const send = () => app.inject({ method: 'POST', url, ...json(body) })
    t.not((await send()).statusCode, 429)
    t.not((await send()).statusCode, 429)
    const third = await send()
    t.equal(third.statusCode, 429, `${url} is limited`)
    t.match(third.json(), { status: 429, detail: /^Too many requests: retry in \d+ s$/ })
    const elsewhere = await app.inject({ method: 'POST', url, ...json(body), remoteAddress: '10.0.0.9' })
    t.not(elsewhere.statusCode, 429, `${url}: another IP is not`)
  }
})

t.test('an unreachable SMTP server: still 202, the mail retried, the failure logged, nothing thrown', async (t) => {
  const port = await freePort()
  const { app, logs } = await setup(t, {}, { smtpUrl: `smtp://127.0.0.1:${port}` })
  const user = await register(app)
  const res = await forgot(app, user.email)
  t.equal(res.statusCode, 202)
  t.same(res.json(), { detail: FORGOT })
  await app.mail.idle()
  const mailLines = logs.filter((l) => typeof l.kind === 'string')
  t.same(mailLines.map((l) => `${String(l.kind)}: ${String(l.msg)}`).sort(), [
    'reset: mail could not be sent; giving up', 'reset: mail failed; retrying', 'reset: mail failed; retrying',
    'verify: mail could not be sent; giving up', 'verify: mail failed; retrying', 'verify: mail failed; retrying'
  ], 'both mails tried three times')
  t.ok(mailLines.every((l) => l.code === 'ESOCKET'))
  t.notMatch(JSON.stringify(logs), /token=|reset-password|verify-email/, 'no log line holds a link or token')
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'the app carries on')
})

t.test('a server that refuses at first: the mail is retried and arrives', async (t) => {
  const { app, inbox, logs } = await setup(t, {}, { refuseFirst: 1 })
  const user = await register(app)
  const mail = await inbox.mail(0)
  t.equal(toAddress(mail), user.email)
  await app.mail.idle()
  t.same(logs.filter((l) => l.kind === 'verify').map((l) => l.msg), ['mail failed; retrying', 'mail sent over SMTP'])
})

t.test('without SMTP_URL the mails land in <data dir>/outbox (the quick start)', async (t) => {
  const config = testConfig(t, { APP_URL })
  const app = await buildApp(config, { logger: false })
  t.teardown(() => app.close())
  const user = await register(app)
  await forgot(app, user.email)
  await app.mail.idle()
  const outbox = join(config.DATABASE_PATH, '..', 'outbox')
  const mails = await Promise.all(readdirSync(outbox).sort().map(async (f) => await simpleParser(readFileSync(join(outbox, f)))))
  t.same(mails.map((m) => m.subject).sort(), ['Reset your Latchkey password', 'Verify your email address for Latchkey'])
  const resetMail = mails.find((m) => m.subject === 'Reset your Latchkey password')!
  t.equal((await reset(app, linkIn(resetMail, `${APP_URL}/reset-password?token=`).token)).statusCode, 204)
  await login(app, user.username, NEW_PASSWORD)
})

t.test('closing the app flushes a reset requested just before (the database is still open for it)', async (t) => {
  const config = testConfig(t, { APP_URL })
  const app = await buildApp(config, { logger: false })
  const user = await register(app)
  await app.mail.idle()
  t.equal((await forgot(app, user.email)).statusCode, 202)
  await app.close()
  const outbox = join(config.DATABASE_PATH, '..', 'outbox')
  const subjects = await Promise.all(readdirSync(outbox).map(async (f) => (await simpleParser(readFileSync(join(outbox, f)))).subject))
  t.same(subjects.sort(), ['Reset your Latchkey password', 'Verify your email address for Latchkey'])
})

t.test('APP_URL defaults to the issuer', async (t) => {
  const config = testConfig(t, { JWT_ISSUER: 'https://auth.example.com/' })
  t.equal(config.APP_URL, 'https://auth.example.com')
  const app = await buildApp(config, { logger: false })
  t.teardown(() => app.close())
  await register(app)
  await app.mail.idle()
  const outbox = join(config.DATABASE_PATH, '..', 'outbox')
  const [file] = readdirSync(outbox)
  const mail = await simpleParser(readFileSync(join(outbox, file)))
  t.ok(linkIn(mail, 'https://auth.example.com/verify-email?token=').token)
})

t.test('config: SMTP_URL, APP_URL, MAIL_FROM, the TTLs and REQUIRE_VERIFIED_EMAIL', async (t) => {
  const base = { ...testEnv, DATABASE_PATH: join(tempDir(t), 'x.db') }
  const defaults = parseConfig(base)
  t.match(defaults, { MAIL_FROM: 'Latchkey <no-reply@localhost>', RESET_TOKEN_TTL: 1800, VERIFY_TOKEN_TTL: 86400, REQUIRE_VERIFIED_EMAIL: false, APP_URL: 'http://127.0.0.1:8000' })
  t.equal(defaults.SMTP_URL, undefined)
  t.equal(parseConfig({ ...base, SMTP_URL: 'smtps://u:p@mail.example.com:465' }).SMTP_URL, 'smtps://u:p@mail.example.com:465')
  t.equal(parseConfig({ ...base, REQUIRE_VERIFIED_EMAIL: 'yes' }).REQUIRE_VERIFIED_EMAIL, true)
  for (const bad of ['http://mail.example.com', 'mail.example.com:587', 'smtp://']) {
    const err = t.throws(() => parseConfig({ ...base, SMTP_URL: bad })) as ConfigError
    t.same(err.problems, ['SMTP_URL is not valid: expected smtp://user:password@host:port or smtps://user:password@host:port'], `SMTP_URL=${bad}`)
  }
  const secret = t.throws(() => parseConfig({ ...base, SMTP_URL: 'http://user:hunter2@x' })) as ConfigError
  t.notMatch(secret.message, /hunter2/, 'the SMTP password is never echoed')
  t.match((t.throws(() => parseConfig({ ...base, APP_URL: 'ftp://x' })) as ConfigError).problems, ['APP_URL="ftp://x" is not valid: expected an http:// or https:// URL'])
  t.match((t.throws(() => parseConfig({ ...base, RESET_TOKEN_TTL: '0' })) as ConfigError).problems, ['RESET_TOKEN_TTL="0" is not valid: expected a whole number, >= 1'])
})

t.test('a malformed SMTP_URL stops the server at boot: one clear line, exit 1', async (t) => {
  const cli = join(packageRoot, 'dist', 'src', 'cli.js')
  const cwd = tempDir(t)
  const res = spawnSync(process.execPath, [cli], {
    cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SMTP_URL: 'smtp//user:hunter2@mail', DATABASE_PATH: join(cwd, 'db', 'x.db'), PORT: String(await freePort()) }
  })
  t.equal(res.status, 1)
  t.match(res.stderr, 'SMTP_URL is not valid: expected smtp://user:password@host:port or smtps://user:password@host:port')
  t.notMatch(res.stderr, /hunter2/)
})

t.test('users created with the CLI are verified', async (t) => {
  const cli = join(packageRoot, 'dist', 'src', 'cli.js')
  const cwd = tempDir(t)
  const env = { ...process.env, ...Object.fromEntries(Object.entries(testEnv).map(([k, v]) => [k, String(v)])), DATABASE_PATH: join(cwd, 'x.db') }
  const res = spawnSync(process.execPath, [cli, 'user', 'create', '--username', 'carol', '--email', 'carol@example.com', '--password-stdin'],
    { cwd, env, input: `${PASSWORD}\n`, encoding: 'utf8', timeout: 60_000 })
  t.equal(res.status, 0, res.stderr)
  const app = await build(t, parseConfig(env))
  const tokens = await login(app, 'carol')
  t.equal((await me(app, { authorization: `Bearer ${tokens.access_token}` })).email_verified, true)
})
