// plugins/recovery.ts and plugins/mail.ts on a bare Fastify: app.recovery mails through app.mail, and the
// services plugin's purge timer deletes expired reset and verification tokens.
import t from 'tap'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import auditPlugin from '../../plugins/audit.js'
import configPlugin from '../../plugins/config.js'
import dbPlugin from '../../plugins/db.js'
import mailPlugin from '../../plugins/mail.js'
import recoveryPlugin from '../../plugins/recovery.js'
import servicesPlugin from '../../plugins/services.js'
import { testConfig } from '../helper.js'

t.test('recovery plugin: a verification mail in the outbox; expired tokens purged on the timer', async (t) => {
  const config = testConfig(t, { SESSION_PURGE_INTERVAL: 1, VERIFY_TOKEN_TTL: 1 })
  const app = Fastify({ logger: false })
  await app.register(configPlugin, { config })
  await app.register(dbPlugin)
  await app.register(auditPlugin)
  await app.register(servicesPlugin)
  await app.register(mailPlugin)
  await app.register(recoveryPlugin)
  await app.ready()
  t.ok(app.recovery)
  t.ok(app.accountTokens)
  const user = await app.users.register({ username: 'rec_user', email: 'r@example.com', password: 'a long enough passphrase' })
  const count = () => app.sqlite.prepare('SELECT count(*) FROM account_tokens').pluck().get()
  app.recovery.sendVerification(user)
  t.equal(count(), 0, 'nothing is written before the answer: the token is issued with the mail')
  await app.mail.idle()
  t.equal(count(), 1, 'the token, issued when the mail was composed')
  t.equal(readdirSync(join(config.DATABASE_PATH, '..', 'outbox')).length, 1)
  // The token expires after 1 s and the timer runs every second; a loaded machine may take longer.
  for (let waited = 0; count() !== 0 && waited < 30_000; waited += 250) await new Promise((resolve) => setTimeout(resolve, 250))
  t.equal(count(), 0, 'purged by the timer once expired')
  await app.close()
})
