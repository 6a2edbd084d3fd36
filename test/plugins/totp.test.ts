// The totp plugin on a bare Fastify: the key is created at registration; checkLoginCode answers in OAuth2 terms.
import t from 'tap'
import Fastify from 'fastify'
import { statSync } from 'node:fs'
import { eq } from 'drizzle-orm'
import auditPlugin from '../../plugins/audit.js'
import configPlugin from '../../plugins/config.js'
import dbPlugin from '../../plugins/db.js'
import totpPlugin, { CODE_REQUIRED, WRONG_CODE } from '../../plugins/totp.js'
import { dataDirectory } from '../../src/db/open.js'
import { users } from '../../src/db/schema.js'
import { OAuthError } from '../../src/errors.js'
import { totpKeyPath } from '../../src/services/totp-key.js'
import { testConfig } from '../helper.js'

t.test('totp plugin: key file at registration, the service decorated, login verdicts as OAuth2 errors', async (t) => {
  const config = testConfig(t)
  const app = Fastify({ logger: false })
  await app.register(configPlugin, { config })
  await app.register(dbPlugin)
  await app.register(auditPlugin)
  await app.register(totpPlugin)
  await app.ready()
  t.teardown(() => app.close())
  t.equal(statSync(totpKeyPath(dataDirectory(config.DATABASE_PATH))).mode & 0o777, 0o600)

  const user = app.db.insert(users).values({ username: 'plug', email: 'p@example.com', passwordHash: 'x', createdAt: new Date() }).returning().all()[0]
  t.equal(await app.totp.checkLoginCode(user, undefined), undefined, 'no TOTP: nothing to refuse')
  await app.totp.enrol(user)
  app.db.update(users).set({ totpEnabled: true }).where(eq(users.id, user.id)).run()
  const enabled = { ...user, totpEnabled: true }

  const required = await app.totp.checkLoginCode(enabled, undefined)
  t.ok(required instanceof OAuthError)
  t.match(required, { statusCode: 401, error: 'invalid_grant', description: CODE_REQUIRED, members: { mfa_required: true } })
  t.equal(CODE_REQUIRED, 'A one-time code is required')
  // The enrolment is pending, not confirmed: no code opens it.
  const wrong = await app.totp.checkLoginCode(enabled, '123456')
  t.match(wrong, { statusCode: 401, error: 'invalid_grant', description: WRONG_CODE, members: {} })
  t.equal(WRONG_CODE, 'Incorrect one-time code')
})
