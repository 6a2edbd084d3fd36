// The mailer: the dev outbox (.eml files, 0600 in a 0700 folder), SMTP to a real server, retries with
// backoff, an unreachable server (logged, never thrown), flushing on close; and plugins/mail.ts on a bare Fastify.
import t, { type Test } from 'tap'
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import { simpleParser } from 'mailparser'
import configPlugin from '../../plugins/config.js'
import mailPlugin from '../../plugins/mail.js'
import { createMailer, type Mail } from '../../src/services/mail.js'
import { freePort, tempDir, testConfig } from '../helper.js'
import { startSmtp } from '../smtp.js'

const MAIL: Mail = {
  to: 'alice@example.com',
  subject: 'Reset your Latchkey password',
  text: 'Hello alice,\n\nopen http://127.0.0.1:8000/reset-password?token=SECRET-TOKEN\n',
  html: '<p>Hello alice,</p><p><a href="http://127.0.0.1:8000/reset-password?token=SECRET-TOKEN">Choose a new password</a></p>'
}

/** A logger that records every call as { level, msg, ...fields }. */
function recorder () {
  const lines: Array<Record<string, unknown> & { level: string, msg: string }> = []
  const at = (level: string) => (obj: object, msg: string) => { lines.push({ level, msg, ...obj }) }
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } }
}

const noSecrets = (t: Test, lines: unknown[]) => {
  const all = JSON.stringify(lines)
  t.notMatch(all, /SECRET-TOKEN/, 'no log line holds the token')
  t.notMatch(all, /reset-password/, 'no log line holds the link')
}

t.test('without SMTP_URL: the mail is an .eml file (0600, folder 0700) and the log names the file', async (t) => {
  const outbox = join(tempDir(t), 'outbox')
  const { lines, log } = recorder()
  const mailer = createMailer({ from: 'Latchkey <no-reply@localhost>', outbox, log })
  t.equal(mailer.transport, 'outbox')
  mailer.queue('reset', () => MAIL)
  mailer.queue('verify', () => undefined)
  await mailer.idle()
  const files = readdirSync(outbox)
  t.equal(files.length, 1, 'one file; a compose that returns nothing sends nothing')
  t.match(files[0], /\.eml$/)
  const file = join(outbox, files[0])
  t.equal(statSync(file).mode & 0o777, 0o600, 'the file is 0600')
  t.equal(statSync(outbox).mode & 0o777, 0o700, 'the folder is 0700')
  const parsed = await simpleParser(readFileSync(file))
  t.equal(parsed.subject, MAIL.subject)
  t.match(parsed.from?.value, [{ name: 'Latchkey', address: 'no-reply@localhost' }])
  t.equal(parsed.to && !Array.isArray(parsed.to) ? parsed.to.text : '', 'alice@example.com')
  t.equal(parsed.text, MAIL.text, 'plain-text body')
  t.equal(parsed.html, MAIL.html, 'HTML body')
  t.same(lines, [{ level: 'info', msg: 'mail written to the outbox', kind: 'reset', file }])
  noSecrets(t, lines)
  await mailer.close()
})

t.test('with SMTP_URL: a real SMTP server receives the mail, authenticated; the log has its answer', async (t) => {
  const inbox = await startSmtp(t)
  const { lines, log } = recorder()
  const mailer = createMailer({ from: 'Latchkey <no-reply@example.com>', smtpUrl: inbox.url, outbox: join(tempDir(t), 'outbox'), log })
  t.equal(mailer.transport, 'smtp')
  mailer.queue('verify', () => MAIL)
  const mail = await inbox.mail(0)
  await mailer.idle()
  t.same(inbox.logins, ['tester'], 'logged in with the URL’s user and password')
  t.equal(mail.subject, MAIL.subject)
  t.match(mail.from?.value, [{ name: 'Latchkey', address: 'no-reply@example.com' }])
  t.equal(mail.text, MAIL.text)
  t.equal(mail.html, MAIL.html)
  t.equal(lines.length, 1)
  t.match(lines[0], { level: 'info', msg: 'mail sent over SMTP', kind: 'verify', response: /^250/ })
  noSecrets(t, lines)
  await mailer.close()
})

t.test('a refused message is retried with backoff, then delivered', async (t) => {
  const inbox = await startSmtp(t, { refuseFirst: 2 })
  const { lines, log } = recorder()
  const mailer = createMailer({ from: 'x@example.com', smtpUrl: inbox.url, outbox: join(tempDir(t), 'outbox'), log, retryDelayMs: 20 })
  mailer.queue('reset', () => MAIL)
  await inbox.mail(0)
  await mailer.idle()
  t.equal(inbox.refused, 2)
  t.same(lines.map((l) => [l.level, l.msg, l.attempt, l.retryInMs]), [
    ['warn', 'mail failed; retrying', 1, 20],
    ['warn', 'mail failed; retrying', 2, 40],
    ['info', 'mail sent over SMTP', undefined, undefined]
  ], 'two failures, the delay doubling, then success')
  t.equal(lines[0].responseCode, 451)
  noSecrets(t, lines)
  await mailer.close()
})

t.test('an unreachable server: every attempt fails, the failure is logged, nothing is thrown', async (t) => {
  const port = await freePort()
  const { lines, log } = recorder()
  const mailer = createMailer({ from: 'x@example.com', smtpUrl: `smtp://127.0.0.1:${port}`, outbox: join(tempDir(t), 'outbox'), log, attempts: 3, retryDelayMs: 10 })
  mailer.queue('reset', () => MAIL)
  await mailer.idle()
  t.same(lines.map((l) => [l.level, l.msg]), [
    ['warn', 'mail failed; retrying'], ['warn', 'mail failed; retrying'], ['error', 'mail could not be sent; giving up']
  ])
  t.equal(lines[2].code, 'ESOCKET')
  t.equal(lines[2].attempts, 3)
  noSecrets(t, lines)
  await mailer.close()
})

t.test('the outbox folder, made before the first mail, is made again when it was removed meanwhile', async (t) => {
  const outbox = join(tempDir(t), 'outbox')
  const { lines, log } = recorder()
  const mailer = createMailer({ from: 'x@example.com', outbox, log })
  mailer.queue('reset', () => MAIL)
  await mailer.idle()
  rmSync(outbox, { recursive: true })
  mailer.queue('verify', () => MAIL)
  mailer.queue('reset', () => MAIL)
  await mailer.idle()
  t.equal(readdirSync(outbox).length, 2, 'both later mails written')
  t.equal(statSync(outbox).mode & 0o777, 0o700, 'the folder is 0700 again')
  t.match(lines, [{ level: 'info' }, { level: 'info', kind: 'verify' }, { level: 'info', kind: 'reset' }])
  await mailer.close()
})

t.test('a compose that throws is logged, and later mails still go out', async (t) => {
  const outbox = join(tempDir(t), 'outbox')
  const { lines, log } = recorder()
  const mailer = createMailer({ from: 'x@example.com', outbox, log })
  mailer.queue('reset', () => { throw new Error('database is locked') })
  mailer.queue('reset', () => MAIL)
  await mailer.idle()
  t.match(lines, [{ level: 'error', msg: 'mail could not be composed', error: 'database is locked' }, { level: 'info' }])
  t.equal(readdirSync(outbox).length, 1)
  await mailer.close()
})

t.test('close stops waiting between retries and flushes what is pending', async (t) => {
  const port = await freePort()
  const { lines, log } = recorder()
  // A one-hour backoff: close must not sleep through it.
  const mailer = createMailer({ from: 'x@example.com', smtpUrl: `smtp://127.0.0.1:${port}`, outbox: join(tempDir(t), 'outbox'), log, attempts: 3, retryDelayMs: 3_600_000 })
  mailer.queue('reset', () => MAIL)
  await new Promise((resolve) => setTimeout(resolve, 200))
  await mailer.close()
  t.same(lines.map((l) => l.msg), ['mail failed; retrying', 'mail failed; retrying', 'mail could not be sent; giving up'],
    'the remaining attempts ran at once')

  const outbox = join(tempDir(t), 'outbox')
  const flushed = createMailer({ from: 'x@example.com', outbox, log })
  flushed.queue('verify', () => MAIL)
  await flushed.close()
  t.equal(readdirSync(outbox).length, 1, 'a mail queued just before close is written')
})

t.test('plugins/mail.ts on a bare Fastify: app.mail writes to <data dir>/outbox and flushes on close', async (t) => {
  const config = testConfig(t)
  const app = Fastify()
  await app.register(configPlugin, { config })
  await app.register(mailPlugin)
  await app.ready()
  t.equal(app.mail.transport, 'outbox')
  app.mail.queue('verify', () => MAIL)
  await app.close()
  const outbox = join(config.DATABASE_PATH, '..', 'outbox')
  t.equal(readdirSync(outbox).length, 1)
})
