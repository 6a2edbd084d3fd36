// Admin routes (role admin, read from the database row): user management and statistics.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { notFound } from '../errors.js'
import { bearer, IdParams, NoContent, Page, problems } from '../schemas/common.js'
import { AdminUpdateBody, ListUsersQuery, StatsResponse, UserResponse } from '../schemas/users.js'
import { toPublicUser } from '../services/users.js'
import { totpAdminRoutes } from './totp.js'

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
