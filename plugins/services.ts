// The services plugin: createServices over app.store, each service decorated once, and the purge timer.
import fp from 'fastify-plugin'
import { loggable } from '../src/log.js'
import type { AccountTokensService } from '../src/services/account-tokens.js'
import { createServices, type PurgeCounts } from '../src/services/index.js'
import type { LoginThrottles } from '../src/services/login-throttle.js'
import type { PasswordHasher } from '../src/services/passwords.js'
import { schedulePurge, type SessionsService } from '../src/services/sessions.js'
import type { TasksService } from '../src/services/tasks.js'
import type { UsersService } from '../src/services/users.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The hasher (the metrics plugin's in-flight gauge reads it). */
    passwords: PasswordHasher
    users: UsersService
    sessions: SessionsService
    tasks: TasksService
    accountTokens: AccountTokensService
    /** The login, per-account and password-check throttles, shared by every route. */
    loginThrottle: LoginThrottles
    /** One housekeeping pass (the purge timer's): how many sessions, mailed links and audit events went. */
    purgeExpired (): Promise<PurgeCounts>
  }
}

export default fp(async (app) => {
  const { config } = app
  const services = createServices(app.store, config, app.log, { audit: app.audit })
  app.decorate('passwords', services.passwords)
  app.decorate('users', services.users)
  app.decorate('sessions', services.sessions)
  app.decorate('tasks', services.tasks)
  app.decorate('accountTokens', services.accountTokens)
  app.decorate('loginThrottle', services.loginThrottle)
  app.decorate('purgeExpired', services.purgeExpired)

  if (config.SESSION_PURGE_INTERVAL > 0) {
    const stop = schedulePurge(config.SESSION_PURGE_INTERVAL, services.purgeExpired,
      (err) => { app.log.warn({ err: loggable(err) }, 'session purge failed') })
    app.addHook('onClose', async () => { stop() })
  }
}, { name: 'services', dependencies: ['config', 'db', 'audit'] })
