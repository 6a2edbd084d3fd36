import t from 'tap'
import Fastify from 'fastify'
import configPlugin from '../../plugins/config.js'
import dbPlugin from '../../plugins/db.js'
import errorsPlugin from '../../plugins/errors.js'
import auditPlugin from '../../plugins/audit.js'
import servicesPlugin from '../../plugins/services.js'
import authPlugin from '../../plugins/auth.js'
import { testConfig } from '../helper.js'

t.test('auth plugin on a bare Fastify: sign, authenticate, requireAdmin', async (t) => {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(configPlugin, { config: testConfig(t) })
  await app.register(errorsPlugin)
  await app.register(dbPlugin)
  await app.register(auditPlugin)
  await app.register(servicesPlugin)
  await app.register(authPlugin)
  app.get('/me', { onRequest: app.authenticate }, async (request) => ({ id: request.account.id, sid: request.sessionId }))
  app.get('/admin', { onRequest: [app.authenticate, app.requireAdmin] }, async () => ({ ok: true }))
  await app.ready()

  const user = await app.users.register({ username: 'plugin_user', email: 'p@example.com', password: 'a long enough passphrase' })
  const { sessionId } = await app.sessions.create(user.id, {})
  const token = app.signAccessToken(user, sessionId)
  const claims = app.verifyAccessToken(token)
  t.equal(claims.sub, String(user.id))
  t.equal(claims.sid, sessionId)

  const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.same(me.json(), { id: user.id, sid: sessionId })
  const forbidden = await app.inject({ url: '/admin', headers: { authorization: `Bearer ${token}` } })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.json().detail, 'Admin access required')

  await app.users.setRoleOrDisabled(user.id, { role: 'admin' })
  const allowed = await app.inject({ url: '/admin', headers: { authorization: `Bearer ${token}` } })
  t.equal(allowed.statusCode, 200, 'the role is read from the database row, not the token')

  t.throws(() => app.verifyAccessToken('not.a.token'))
  t.equal(app.jwks.keys.length, 1)
})
