// /users/me: the signed-in user's profile, password, account deletion and sessions.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { notFound, Problem, WrongPassword } from '../errors.js'
import { bearer, IdParams, NoContent, problems } from '../schemas/common.js'
import { SessionResponse } from '../schemas/sessions.js'
import { ChangePasswordBody, DeleteMeBody, UpdateMeBody, UserResponse } from '../schemas/users.js'
import { toPublicUser } from '../services/users.js'
import { totpSelfRoutes } from './totp.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)

  // A stolen access token must not become a fast password oracle: the routes that check the current
  // password share the login throttle's rules (per account) and the per-IP limit of the auth routes.
  const throttle = app.loginThrottle.passwordCheck
  const rateLimit = app.authRateLimit
  async function throttled<T> (userId: number, check: () => Promise<T>): Promise<T> {
    const key = `user:${userId}`
    const wait = await throttle.retryAfter(key)
    if (wait > 0) {
      app.metrics.throttleRejections.inc({ throttle: 'password_check' })
      throw new Problem(429, `Too many wrong passwords: retry in ${wait} s`, { 'retry-after': String(wait) })
    }
    try {
      const result = await check()
      await throttle.success(key)
      return result
    } catch (err) {
      if (err instanceof WrongPassword || (err instanceof Problem && err.statusCode === 403)) {
        if (await throttle.failure(key)) app.log.warn({ audit: { user_id: userId } }, 'Password-check throttle engaged after repeated wrong passwords')
      } else await throttle.success(key)
      throw err
    }
  }

  // TOTP enrolment checks the password too: the same throttle and per-IP limit.
  await app.register(totpSelfRoutes, { throttled, rateLimit })

  app.get('/users/me', {
    schema: {
      tags: ['users'],
      summary: 'The signed-in user',
      security: bearer,
      response: { 200: UserResponse, ...problems(401) }
    }
  }, async (request) => toPublicUser(request.account))

  app.patch('/users/me', {
    schema: {
      tags: ['users'],
      summary: 'Change username or email',
      description: 'A new email address is unverified (`email_verified: false`) and gets a verification mail.',
      security: bearer,
      body: UpdateMeBody,
      response: { 200: UserResponse, ...problems(400, 401, 409, 413, 415, 422) }
    }
  }, async (request) => {
    const updated = await app.users.updateProfile(request.account, request.body, request.auditContext)
    if (updated.email !== request.account.email) app.recovery.sendVerification(updated, request.auditContext)
    return toPublicUser(updated)
  })

  app.post('/users/me/password', {
    config: { rateLimit },
    schema: {
      tags: ['users'],
      summary: 'Change password',
      description: 'Checks the current password, applies the password policy and ends every other session of the user.',
      security: bearer,
      body: ChangePasswordBody,
      response: { 204: NoContent, ...problems(400, 401, 403, 409, 413, 415, 422, 429) }
    }
  }, async (request, reply) => {
    await throttled(request.account.id, () =>
      app.users.changePassword(request.account, request.body.current_password, request.body.new_password, request.sessionId, request.auditContext))
    return reply.code(204).send(null)
  })

  app.delete('/users/me', {
    config: { rateLimit },
    schema: {
      tags: ['users'],
      summary: 'Delete my account',
      description: 'Requires the password. The account, its tasks and its sessions are deleted.',
      security: bearer,
      body: DeleteMeBody,
      response: { 204: NoContent, ...problems(400, 401, 403, 409, 413, 415, 422, 429) }
    }
  }, async (request, reply) => {
    await throttled(request.account.id, () => app.users.requirePassword(request.account, request.body.password))
    await app.users.remove(request.account.id, request.auditContext)
    return reply.code(204).send(null)
  })

  app.get('/users/me/sessions', {
    schema: {
      tags: ['users'],
      summary: 'My active sessions',
      security: bearer,
      response: { 200: Type.Array(SessionResponse, { description: 'Active sessions, oldest first' }), ...problems(401) }
    }
  }, async (request) => await app.sessions.listActive(request.account.id, request.sessionId))

  app.delete('/users/me/sessions/:id', {
    schema: {
      tags: ['users'],
      summary: 'End one of my sessions',
      security: bearer,
      params: IdParams,
      response: { 204: NoContent, ...problems(401, 404) }
    }
  }, async (request, reply) => {
    const active = (await app.sessions.listActive(request.account.id, request.sessionId)).some((s) => s.id === request.params.id)
    if (!active) throw notFound('Session not found')
    await app.sessions.endForUser(request.account.id, request.params.id, 'logout', request.auditContext)
    return reply.code(204).send(null)
  })
}

export default routes
