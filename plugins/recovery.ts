// Account recovery and email verification (src/services/recovery.ts) as `app.recovery`.
import fp from 'fastify-plugin'
import { createRecoveryService, type RecoveryService } from '../src/services/recovery.js'

declare module 'fastify' {
  interface FastifyInstance {
    recovery: RecoveryService
  }
}

export default fp(async (app) => {
  app.decorate('recovery', createRecoveryService({
    store: app.store,
    users: app.users,
    tokens: app.accountTokens,
    audit: app.audit,
    mailer: app.mail,
    options: { appUrl: app.config.APP_URL, ttl: { reset: app.config.RESET_TOKEN_TTL, verify: app.config.VERIFY_TOKEN_TTL } }
  }))
}, { name: 'recovery', dependencies: ['config', 'db', 'audit', 'services', 'mail'] })
