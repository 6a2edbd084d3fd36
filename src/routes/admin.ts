// Admin routes (role admin, read from the database row): user management and statistics.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { notFound } from '../errors.js'
import { bearer, Cursor, IdParams, Limit, NoContent, Page, problems, UserResponse } from '../schemas/common.js'
import { toPublicUser } from '../services/users.js'
import { totpAdminRoutes } from './totp.js'

const ListUsersQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Cursor),
  q: Type.Optional(Type.String({ maxLength: 254, description: 'Case-insensitive substring of username or email (% and _ literal)', examples: ['example.com'] }))
})

const AdminUpdateBody = Type.Object({
  role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('admin')], { description: 'New role' })),
  disabled: Type.Optional(Type.Boolean({ description: 'Disabling ends every session of the user at once' })),
  email_verified: Type.Optional(Type.Boolean({ description: 'Mark the email address verified (or not) without a mail' }))
})

const StatsResponse = Type.Object({
  users: Type.Integer({ description: 'All users', examples: [42] }),
  admins: Type.Integer({ description: 'Active admins (role admin, not disabled)', examples: [1] }),
  active_sessions: Type.Integer({ description: 'Sessions neither ended nor expired', examples: [17] })
}, { description: 'Counts' })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)
  app.addHook('onRequest', app.requireAdmin)

  app.get('/users', {
    schema: {
      tags: ['admin'],
      summary: 'List users',
      security: bearer,
      querystring: ListUsersQuery,
      response: { 200: Page(UserResponse, 'A page of users, by id ascending'), ...problems(401, 403, 422) }
    }
  }, async (request) => await app.users.list({ limit: request.query.limit ?? 20, cursor: request.query.cursor, q: request.query.q }))

  app.get('/users/:id', {
    schema: {
      tags: ['admin'],
      summary: 'Get a user',
      security: bearer,
      params: IdParams,
      response: { 200: UserResponse, ...problems(401, 403, 404) }
    }
  }, async (request) => {
    const user = await app.users.findById(request.params.id)
    if (user === undefined) throw notFound('User not found')
    return toPublicUser(user)
  })

  app.patch('/users/:id', {
    schema: {
      tags: ['admin'],
      summary: 'Change a user’s role, disabled or email_verified flag',
      security: bearer,
      description: 'The last active admin can be neither demoted nor disabled (409).',
      params: IdParams,
      body: AdminUpdateBody,
      response: { 200: UserResponse, ...problems(400, 401, 403, 404, 409, 413, 415, 422) }
    }
  }, async (request) => {
    const user = await app.users.setRoleOrDisabled(request.params.id, request.body, request.auditContext)
    if (user === undefined) throw notFound('User not found')
    return toPublicUser(user)
  })

  app.delete('/users/:id', {
    schema: {
      tags: ['admin'],
      summary: 'Delete a user',
      security: bearer,
      description: 'Deletes the user with their tasks and sessions. The last active admin cannot be deleted (409).',
      params: IdParams,
      response: { 204: NoContent, ...problems(401, 403, 404, 409) }
    }
  }, async (request, reply) => {
    if (await app.users.findById(request.params.id) === undefined) throw notFound('User not found')
    await app.users.remove(request.params.id, request.auditContext)
    return reply.code(204).send(null)
  })

  await app.register(totpAdminRoutes)

  app.get('/admin/stats', {
    schema: {
      tags: ['admin'],
      summary: 'Counts of users, active admins and active sessions',
      security: bearer,
      response: { 200: StatsResponse, ...problems(401, 403) }
    }
  }, async () => await app.users.stats())
}

export default routes
