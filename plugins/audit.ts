// The audit trail as `app.audit`, and `request.auditContext` (client address, user agent, the acting account)
// for routes to hand to the services that record events.
import fp from 'fastify-plugin'
import { createAuditService, type AuditContext, type AuditService } from '../src/services/audit.js'

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditService
  }
  interface FastifyRequest {
    /** Where the request comes from and who is signed in (once `authenticate` ran), for audit events. */
    readonly auditContext: AuditContext
  }
}

export default fp(async (app) => {
  app.decorate('audit', createAuditService(app.store, app.log))
  // A getter: read when a service is called, so the account set by `authenticate` is already there.
  app.decorateRequest('auditContext', {
    getter () {
      return { ip: this.ip, userAgent: this.headers['user-agent'], actorId: this.account?.id }
    }
  })
}, { name: 'audit', dependencies: ['config', 'db'] })
