// Builds the services once per app (prepared statements live as long as the process) and decorates them.
import fp from 'fastify-plugin'
import { loggable } from '../src/log.js'
import { createAccountTokensService, type AccountTokensService } from '../src/services/account-tokens.js'
import { createPasswordHasher, type PasswordHasher } from '../src/services/passwords.js'
import { createSessionsService, type SessionsService } from '../src/services/sessions.js'
import { createTasksService, type TasksService } from '../src/services/tasks.js'
import { createUsersService, type UsersService } from '../src/services/users.js'

declare module 'fastify' {
  interface FastifyInstance {
    passwords: PasswordHasher
    users: UsersService
    sessions: SessionsService
    tasks: TasksService
    /** One housekeeping pass (the purge timer's): how many sessions, mailed links and audit events went. */
    purgeExpired (): { sessions: number, accountTokens: number, auditEvents: number }
    accountTokens: AccountTokensService
  }
}

export default fp(async (app) => {
  const { config } = app
  const passwords = createPasswordHasher({
    memoryCost: config.ARGON2_MEMORY_COST,
    timeCost: config.ARGON2_TIME_COST,
    parallelism: config.ARGON2_PARALLELISM
  })
  const sessions = createSessionsService(app.db, {
    refreshTtl: config.REFRESH_TOKEN_TTL,
    reuseGrace: config.REFRESH_REUSE_GRACE
  }, app.audit)
  app.decorate('passwords', passwords)
  app.decorate('users', createUsersService(app.db, passwords, {
    requireVerifiedEmail: config.REQUIRE_VERIFIED_EMAIL,
    audit: app.audit,
    onAuditLost: (err) => app.log.warn({ err: loggable(err) }, 'a login.failed audit event could not be stored (storage fault)')
  }))
  app.decorate('sessions', sessions)
  app.decorate('tasks', createTasksService(app.db))
  const accountTokens = createAccountTokensService(app.db, { ttl: { reset: config.RESET_TOKEN_TTL, verify: config.VERIFY_TOKEN_TTL } })
  app.decorate('accountTokens', accountTokens)

  // One purge pass: ended and expired sessions, expired reset/verification links, and audit events past
  // AUDIT_RETENTION_DAYS.
  app.decorate('purgeExpired', () => ({
    sessions: sessions.purge(),
    accountTokens: accountTokens.purge(),
    auditEvents: app.audit.purge(config.AUDIT_RETENTION_DAYS)
  }))

  // Housekeeping: the purge pass runs on a timer that never keeps the process alive.
  if (config.SESSION_PURGE_INTERVAL > 0) {
    const timer = setInterval(() => {
      try {
        app.purgeExpired()
      } catch (err) {
        app.log.warn({ err: loggable(err) }, 'session purge failed')
      }
    }, config.SESSION_PURGE_INTERVAL * 1000)
    timer.unref()
    app.addHook('onClose', async () => { clearInterval(timer) })
  }
}, { name: 'services', dependencies: ['config', 'db', 'audit'] })
