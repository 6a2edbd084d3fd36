// createServices(store, config, log): every service of the app built once over one store, for the plugins and the CLI alike.
import type { Config } from '../config.js'
import { loggable } from '../log.js'
import type { Store } from '../store/index.js'
import type { PostgresStore } from '../store/postgres.js'
import { createSharedLoginThrottles } from './login-throttle-pg.js'
import { createAccountTokensService } from './account-tokens.js'
import { createAuditService, type AuditService, type WarnLogger } from './audit.js'
import { createLoginThrottles } from './login-throttle.js'
import { createPasswordHasher } from './passwords.js'
import { createSessionsService } from './sessions.js'
import { createTasksService } from './tasks.js'
import { createUsersService } from './users.js'

export interface PurgeCounts { sessions: number, accountTokens: number, auditEvents: number, loginThrottle?: number }

/**
 * `audit` may be passed in when it is already built (the audit plugin decorates its own); otherwise it is
 * made here over `store` and `log`.
 */
export function createServices (store: Store, config: Config, log?: WarnLogger, parts: { audit?: AuditService } = {}) {
  const audit = parts.audit ?? createAuditService(store, log)
  const passwords = createPasswordHasher({
    memoryCost: config.ARGON2_MEMORY_COST,
    timeCost: config.ARGON2_TIME_COST,
    parallelism: config.ARGON2_PARALLELISM
  })
  const sessions = createSessionsService(store, { refreshTtl: config.REFRESH_TOKEN_TTL, reuseGrace: config.REFRESH_REUSE_GRACE }, audit)
  const users = createUsersService(store, passwords, audit, {
    requireVerifiedEmail: config.REQUIRE_VERIFIED_EMAIL,
    onAuditLost: (err) => log?.warn({ err: loggable(err) }, 'a login.failed audit event could not be stored (storage fault)')
  })
  const accountTokens = createAccountTokensService(store, { ttl: { reset: config.RESET_TOKEN_TTL, verify: config.VERIFY_TOKEN_TTL } })
  // On PostgreSQL the counters are the fleet's, in the database; on SQLite (one process) they live in memory.
  const shared = store.engine === 'postgres' ? createSharedLoginThrottles((store as PostgresStore).db, config.LOGIN_THROTTLE_AFTER) : undefined
  const loginThrottle = shared ?? createLoginThrottles(config.LOGIN_THROTTLE_AFTER)
  return {
    audit,
    passwords,
    users,
    sessions,
    tasks: createTasksService(store),
    accountTokens,
    loginThrottle,

    /** One housekeeping pass: ended and expired sessions, expired mailed links, audit events past AUDIT_RETENTION_DAYS. */
    purgeExpired: async (): Promise<PurgeCounts> => ({
      sessions: await sessions.purge(),
      accountTokens: await accountTokens.purge(),
      auditEvents: await audit.purge(config.AUDIT_RETENTION_DAYS),
      ...(shared === undefined ? {} : { loginThrottle: await shared.purge() })
    })
  }
}

export type Services = ReturnType<typeof createServices>
