// The audit log over HTTP: every event for admins (GET /admin/audit), one's own for everyone (GET /users/me/audit).
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { bearer, Cursor, Limit, Page, problems } from '../schemas/common.js'
import { AUDIT_EVENT_TYPES, type AuditEventType } from '../services/audit.js'

const EventType = Type.Unsafe<AuditEventType>({
  type: 'string',
  enum: [...AUDIT_EVENT_TYPES],
  description: 'Event type',
  examples: ['login.failed']
})

const NullableId = (description: string, example: number) =>
  Type.Union([Type.Integer(), Type.Null()], { description, examples: [example] })
const NullableText = (description: string, example: string) =>
  Type.Union([Type.String(), Type.Null()], { description, examples: [example] })

export const AuditEventResponse = Type.Object({
  id: Type.Integer({ description: 'Event id; larger is newer', examples: [42] }),
  at: Type.String({ format: 'date-time', description: 'When it happened (UTC)', examples: ['2026-01-01T12:00:00.000Z'] }),
  type: EventType,
  user_id: NullableId('The account the event is about; null for a failed login with an unknown name', 7),
  actor_id: NullableId('Who caused it: the user, an admin, or null (the server itself, the CLI, an unknown client)', 7),
  session_id: NullableId('The session concerned, when there is one', 3),
  ip: NullableText('Client address (request.ip; X-Forwarded-For only with TRUST_PROXY)', '127.0.0.1'),
  user_agent: NullableText('Client User-Agent header', 'curl/8.5.0'),
  detail: Type.Object({}, {
    additionalProperties: true,
    description: 'Type-specific facts (a session\'s end reason, changed fields as { from, to }); never a password, token, code or secret',
    examples: [{ reason: 'logout' }]
  })
}, { description: 'An audit event' })

const AuditPage = Page(AuditEventResponse, 'A page of audit events, newest first')

const PageQuery = {
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Cursor)
}

const AdminAuditQuery = Type.Object({
  user_id: Type.Optional(Type.Integer({ minimum: 1, description: 'Only events about this user id', examples: [7] })),
  type: Type.Optional(EventType),
  ...PageQuery
})

const MyAuditQuery = Type.Object(PageQuery)

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)

  app.get('/admin/audit', {
    onRequest: app.requireAdmin,
    schema: {
      tags: ['admin'],
      summary: 'Audit log: security events, newest first',
      description: 'Filter by `user_id` and `type`; page with `limit` and the opaque `next_cursor`.',
      security: bearer,
      querystring: AdminAuditQuery,
      response: { 200: AuditPage, ...problems(401, 403, 422) }
    }
  }, async (request) => app.audit.list({
    userId: request.query.user_id,
    type: request.query.type,
    limit: request.query.limit ?? 20,
    cursor: request.query.cursor
  }))

  app.get('/users/me/audit', {
    schema: {
      tags: ['users'],
      summary: 'My audit log: security events about my account, newest first',
      security: bearer,
      querystring: MyAuditQuery,
      response: { 200: AuditPage, ...problems(401, 422) }
    }
  }, async (request) => app.audit.list({
    userId: request.account.id,
    limit: request.query.limit ?? 20,
    cursor: request.query.cursor
  }))
}

export default routes
