import t from 'tap'
import Fastify from 'fastify'
import configPlugin from '../../plugins/config.js'
import dbPlugin from '../../plugins/db.js'
import auditPlugin from '../../plugins/audit.js'
import servicesPlugin from '../../plugins/services.js'
import { testConfig } from '../helper.js'

t.test('services plugin decorates the services and purges on its timer until closed', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(configPlugin, { config: testConfig(t, { SESSION_PURGE_INTERVAL: 1 }) })
  await app.register(dbPlugin)
  await app.register(auditPlugin)
  await app.register(servicesPlugin)
  await app.ready()
  for (const name of ['passwords', 'users', 'sessions', 'tasks'] as const) t.ok(app[name], name)
  const user = await app.users.register({ username: 'svc_user', email: 's@example.com', password: 'a long enough passphrase' })
  const { sessionId } = await app.sessions.create(user.id, {})
  await app.sessions.end(sessionId, 'logout')
  await new Promise((resolve) => setTimeout(resolve, 1150))
  t.equal(app.sqlite.prepare('SELECT count(*) FROM sessions').pluck().get(), 0, 'purged by the timer')
  await app.close()
})
