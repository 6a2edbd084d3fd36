// The audit events of the v2 features, each from the action that causes it, with its ids: recovery mail,
// reset, verification, TOTP on and off (by the user and by an admin); a failed reset leaves no event.
// Also the review fixes around them: a reset link dies with an email change, and a storage fault while a
// mail is composed is a logged mail failure that names no address (registration still succeeds).
import t, { type Test } from 'tap'
import { buildApp, type App } from '../../src/app.js'
import type { AuditEventView } from '../../src/services/audit.js'
import { form, login, newUser, PASSWORD, register, signUp, testConfig, type Tokens } from '../helper.js'
import { codeAt, insideStep, STEP } from '../totp-codes.js'
import { linkIn, logLines, startSmtp, type Inbox } from '../smtp.js'

t.setTimeout(300_000)

const UA = { 'user-agent': 'audit-v2/1.0' }
const APP_URL = 'https://app.example.com'
const NEW_PASSWORD = 'a brand new passphrase'
const BAD_RESET = 'The reset link is invalid or has expired'

const sidOf = (tokens: Tokens): number =>
  (JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString()) as { sid: number }).sid
const ofType = async (app: App, type: string): Promise<AuditEventView[]> => (await app.audit.list({ limit: 100_000, type: type as never })).items
const countEvents = (app: App): number => app.sqlite.prepare('SELECT count(*) FROM audit_events').pluck().get() as number

/** The app with mail going to a real SMTP server, its log lines kept. */
async function setup (t: Test) {
  const inbox = await startSmtp(t)
  const logs = logLines()
  const app = await buildApp(testConfig(t, { SMTP_URL: inbox.url, APP_URL }), { logger: { level: 'info', stream: logs.stream }, mail: { retry: { retryDelayMs: 20 } } })
  t.teardown(() => app.close())
  await app.ready()
  return { app, inbox, logs: logs.lines }
}

/** Register through the API and wait for the verification mail. */
async function registered (app: App, inbox: Inbox, headers: Record<string, string> = {}) {
  const before = inbox.mails.length
  const body = newUser()
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: body, headers })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  const mail = await inbox.mail(before)
  await app.mail.idle()
  return { ...body, id: res.json<{ id: number }>().id, verifyToken: linkIn(mail, `${APP_URL}/verify-email?token=`).token }
}

/** POST /auth/password/forgot, then the token of the mail it sends. */
async function resetToken (app: App, inbox: Inbox, email: string): Promise<string> {
  const before = inbox.mails.length
  const res = await app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email }, headers: UA })
  if (res.statusCode !== 202) throw new Error(`forgot failed: ${res.statusCode} ${res.body}`)
  const mail = await inbox.mail(before)
  await app.mail.idle()
  return linkIn(mail, `${APP_URL}/reset-password?token=`).token
}

const reset = (app: App, token: string, password = NEW_PASSWORD) =>
  app.inject({ method: 'POST', url: '/auth/password/reset', payload: { token, new_password: password }, headers: UA })

t.test('email.verification_sent on registration, on an email change and on a resend; email.verified by the link', async (t) => {
  const { app, inbox } = await setup(t)
  const user = await registered(app, inbox, UA)
  t.match(await ofType(app, 'email.verification_sent'), [{ user_id: user.id, actor_id: user.id, session_id: null, detail: {} }])

  const verified = await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: user.verifyToken }, headers: UA })
  t.equal(verified.statusCode, 204)
  t.match(await ofType(app, 'email.verified'), [{ user_id: user.id, actor_id: user.id, ip: '127.0.0.1', user_agent: 'audit-v2/1.0', detail: { via: 'link' } }])
  t.equal((await app.inject({ method: 'POST', url: '/auth/email/verify', payload: { token: user.verifyToken } })).statusCode, 400)
  t.equal((await ofType(app, 'email.verified')).length, 1, 'a used link verifies nothing and records nothing')

  const tokens = await login(app, user.username)
  const auth = { authorization: `Bearer ${tokens.access_token}`, ...UA }
  const patched = await app.inject({ method: 'PATCH', url: '/users/me', headers: auth, payload: { email: `moved_${user.email}` } })
  t.equal(patched.statusCode, 200)
  await inbox.mail(1)
  await app.mail.idle()
  t.match((await ofType(app, 'email.verification_sent'))[0], { user_id: user.id, actor_id: user.id, ip: '127.0.0.1', user_agent: 'audit-v2/1.0' })
  t.notOk(JSON.stringify(await ofType(app, 'email.verification_sent')).includes('moved_'), 'no address in the event')

  // The next verification mail to the new address may go a minute later: make the last one older.
  app.sqlite.prepare('UPDATE account_tokens SET created_at = created_at - 120000').run()
  const resent = await app.inject({ method: 'POST', url: '/users/me/email/verification', headers: auth })
  t.equal(resent.statusCode, 202)
  await inbox.mail(2)
  await app.mail.idle()
  t.equal((await ofType(app, 'email.verification_sent')).length, 3)
  const refused = await app.inject({ method: 'POST', url: '/users/me/email/verification', headers: auth })
  t.equal(refused.statusCode, 429)
  await app.mail.idle()
  t.equal((await ofType(app, 'email.verification_sent')).length, 3, 'no event for a mail that did not go')
})

t.test('password.reset_requested, password.reset, session.ended and email.verified from a reset; none for an unknown address', async (t) => {
  const { app, inbox } = await setup(t)
  const user = await registered(app, inbox)
  const a = await login(app, user.username)
  const b = await login(app, user.username)

  const before = countEvents(app)
  const unknown = await app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: 'nobody@example.com' } })
  t.equal(unknown.statusCode, 202)
  await app.mail.idle()
  t.equal(countEvents(app), before, 'an unknown address records nothing')

  const token = await resetToken(app, inbox, user.email)
  const [requested] = await ofType(app, 'password.reset_requested')
  t.match(requested, { user_id: user.id, actor_id: null, session_id: null, ip: '127.0.0.1', user_agent: 'audit-v2/1.0', detail: {} })
  t.notOk(JSON.stringify(requested).includes(user.email), 'no address in the event')

  t.test('a failed reset leaves no event: bad token, refused password, a write that fails', async (t) => {
    const count = countEvents(app)
    const bad = await reset(app, 'not-a-real-token-at-all')
    t.equal(bad.statusCode, 400)
    t.equal(bad.json<{ detail: string }>().detail, BAD_RESET)
    t.equal((await reset(app, token, 'short')).statusCode, 422)
    app.sqlite.exec("CREATE TRIGGER no_password BEFORE UPDATE OF password_hash ON users BEGIN SELECT RAISE(ABORT, 'users down'); END")
    const failed = await reset(app, token)
    app.sqlite.exec('DROP TRIGGER no_password')
    t.not(failed.statusCode, 204, `the reset fails (${failed.statusCode})`)
    t.equal(countEvents(app), count, 'no password.reset, session.ended or email.verified')
    t.equal(app.sqlite.prepare('SELECT count(*) FROM sessions WHERE ended_at IS NOT NULL').pluck().get(), 0, 'no session ended')
  })

  t.test('the reset: password.reset by the user, each session ended, the address verified', async (t) => {
    const res = await reset(app, token)
    t.equal(res.statusCode, 204, 'the link survived the failed attempts (they were rolled back)')
    t.match(await ofType(app, 'password.reset'), [{ user_id: user.id, actor_id: user.id, session_id: null, ip: '127.0.0.1', user_agent: 'audit-v2/1.0', detail: {} }])
    t.same((await ofType(app, 'session.ended')).map((e) => [e.session_id, e.user_id, e.detail.reason]).sort(),
      [[sidOf(a), user.id, 'password_reset'], [sidOf(b), user.id, 'password_reset']].sort())
    t.match(await ofType(app, 'email.verified'), [{ user_id: user.id, actor_id: user.id, detail: { via: 'password_reset' } }])
    const stored = JSON.stringify(app.sqlite.prepare('SELECT * FROM audit_events').all())
    t.notOk(stored.includes(token), 'the token is in no event')
    t.notOk(stored.includes(NEW_PASSWORD), 'nor the password')
  })
})

t.test('a reset link stops working when the address changes (review item 4)', async (t) => {
  const { app, inbox } = await setup(t)
  const user = await registered(app, inbox)
  const token = await resetToken(app, inbox, user.email)
  const tokens = await login(app, user.username)
  const moved = await app.inject({ method: 'PATCH', url: '/users/me', headers: { authorization: `Bearer ${tokens.access_token}` }, payload: { email: `new_${user.email}` } })
  t.equal(moved.statusCode, 200)
  const res = await reset(app, token)
  t.equal(res.statusCode, 400)
  t.equal(res.json<{ detail: string }>().detail, BAD_RESET)
  t.equal((await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD }) })).statusCode, 200, 'the password is unchanged')
  t.same(await ofType(app, 'password.reset'), [])
})

t.test('a storage fault while a mail is composed: logged without the address or the query values (items 5 and 11)', async (t) => {
  const { app, logs } = await setup(t)
  const known = await register(app)
  await app.mail.idle()
  app.sqlite.exec("CREATE TRIGGER no_tokens BEFORE INSERT ON account_tokens BEGIN SELECT RAISE(ABORT, 'tokens down'); END")

  const body = newUser()
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: body })
  t.equal(res.statusCode, 201, 'registration answers 201 although the verification mail cannot be prepared')
  t.ok(await app.users.findByLogin(body.username), 'the user exists')
  t.equal((await app.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: known.email } })).statusCode, 202)
  await app.mail.idle()

  const failures = logs.filter((l) => l.msg === 'mail could not be composed')
  t.same(failures.map((l) => l.kind).sort(), ['reset', 'verify'], 'both failures are logged')
  for (const line of failures) {
    t.match(line, { level: 50, code: 'SQLITE_CONSTRAINT_TRIGGER', error: 'tokens down' })
  }
  const text = JSON.stringify(logs)
  for (const value of [body.email, known.email, 'params']) t.notOk(text.includes(value), `no log line holds ${value}`)
  t.same((await ofType(app, 'email.verification_sent')).map((e) => e.user_id), [known.id], 'no event for the mails that did not go')
  t.same(await ofType(app, 'password.reset_requested'), [])
})

/** Enrol and confirm TOTP for a signed-up user; returns the secret. */
async function enableTotp (t: Test, app: App, user: Awaited<ReturnType<typeof signUp>>, headers: Record<string, string> = {}): Promise<string> {
  const { secret } = (await app.inject({ method: 'POST', url: '/users/me/totp', headers: user.auth, payload: { password: PASSWORD } })).json<{ secret: string }>()
  const now = await insideStep()
  const res = await app.inject({ method: 'POST', url: '/users/me/totp/confirm', headers: { ...user.auth, ...headers }, payload: { code: codeAt(secret, now) } })
  t.equal(res.statusCode, 200)
  return secret
}

t.test('totp.enabled ends the other sessions (session.ended); totp.disabled by the user and by an admin', async (t) => {
  const { app } = await setup(t)
  const admin = await signUp(app, { role: 'admin' })
  const user = await signUp(app)
  const other = await login(app, user.username)
  const secret = await enableTotp(t, app, user, UA)
  t.match(await ofType(app, 'totp.enabled'), [{ user_id: user.id, actor_id: user.id, session_id: sidOf(user.tokens), user_agent: 'audit-v2/1.0', detail: {} }])
  t.match(await ofType(app, 'session.ended'), [{ user_id: user.id, actor_id: user.id, session_id: sidOf(other), detail: { reason: 'totp_enabled' } }])

  // A code one step ahead: the confirming step cannot be used twice.
  const off = await app.inject({ method: 'DELETE', url: '/users/me/totp', headers: { ...user.auth, ...UA }, payload: { password: PASSWORD, code: codeAt(secret, Date.now() + STEP) } })
  t.equal(off.statusCode, 204)
  t.match(await ofType(app, 'totp.disabled'), [{ user_id: user.id, actor_id: user.id, session_id: sidOf(user.tokens), user_agent: 'audit-v2/1.0', detail: { via: 'user' } }])

  const again = await signUp(app)
  await enableTotp(t, app, again)
  const reset = await app.inject({ method: 'DELETE', url: `/users/${again.id}/totp`, headers: { ...admin.auth, ...UA } })
  t.equal(reset.statusCode, 204)
  t.match((await ofType(app, 'totp.disabled'))[0], { user_id: again.id, actor_id: admin.id, session_id: null, user_agent: 'audit-v2/1.0', detail: { via: 'reset' } })
  const idle = await app.inject({ method: 'DELETE', url: `/users/${again.id}/totp`, headers: admin.auth })
  t.equal(idle.statusCode, 204)
  t.equal((await ofType(app, 'totp.disabled')).length, 2, 'resetting TOTP that is off records nothing')
  const stored = JSON.stringify(app.sqlite.prepare('SELECT * FROM audit_events').all())
  t.notOk(stored.includes(secret), 'no secret in any event')
})
