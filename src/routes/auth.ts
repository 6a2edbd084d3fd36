// /auth: registration, the OAuth2 token endpoint (password and refresh grants), refresh, logout, revocation.
import formbody from '@fastify/formbody'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import { notAuthenticated, OAuthError, Problem, unprocessable } from '../errors.js'
import type { AuditContext } from '../services/audit.js'
import type { TokenPair } from '../services/tokens.js'
import { ThrottledAttempt, type Throttle } from '../services/login-throttle.js'
import { toPublicUser } from '../services/users.js'
import { bearer, NoContent, oauthErrors, problems } from '../schemas/common.js'
import { LogoutBody, RefreshBody, RegisterBody, RevokeBody, TokenBody, TokenResponse } from '../schemas/auth.js'
import { UserResponse } from '../schemas/users.js'
import { noStore } from './no-store.js'
import { refuseQueryCredentials } from './oauth-query.js'
import { aliasDocs, signupOptions, tokenAliases } from './tutorials.js'
import { RefreshCookieParam, SetRefreshCookie } from '../schemas/cookie-mode.js'

const AUTH_BODY_LIMIT = 16 * 1024

const INVALID_LOGIN = 'Incorrect username or password'
const REFRESH_TOKEN_REQUIRED = [{ field: '/refresh_token', message: 'is required' }]
const REFRESH_COOKIE_MISSING = 'mode=cookie needs the latchkey_refresh cookie (or a refresh_token field), and the request carries neither'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app
  // Wrong one-time codes also count per account (by id, in a map of its own, so no typed name can collide
  // with it): `alice` and `alice@example.com` share that count (API.md, TOTP).
  const { byName: throttle, byAccount: accountThrottle } = app.loginThrottle
  const rateLimit = app.authRateLimit

  app.addHook('onRoute', (route) => { route.bodyLimit ??= AUTH_BODY_LIMIT })

  function sendTokenPair (reply: FastifyReply, pair: TokenPair, cookieMode: boolean) {
    if (!cookieMode) return noStore(reply).send(pair)
    // mode=cookie: the refresh token goes into the httpOnly cookie only, never into the body scripts read.
    const { refresh_token: refreshToken, ...body } = pair
    app.refreshCookie.set(reply, refreshToken)
    return noStore(reply).send(body)
  }

  // One handler for /auth/register and its tutorial alias /users/signup (src/routes/tutorials.ts).
  async function registerUser (request: FastifyRequest<{ Body: Static<typeof RegisterBody> }>, reply: FastifyReply) {
    const user = await app.users.register(request.body, request.auditContext)
    // The address is unverified until the link mailed to it is opened (sent after this answer).
    app.recovery.sendVerification(user)
    return reply.code(201).header('location', `/users/${user.id}`).send(toPublicUser(user))
  }
  const registerResponses = { 201: UserResponse, ...problems(400, 409, 413, 415, 422, 429) }

  app.post('/auth/register', {
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      summary: 'Register a new user',
      description: 'Creates an account with role `user` and mails a verification link to the address. The password is stored as argon2id only.',
      body: RegisterBody,
      response: registerResponses
    }
  }, registerUser)
  if (config.TUTORIAL_ROUTES) app.post('/users/signup', signupOptions(app, rateLimit, registerResponses), registerUser as RouteHandlerMethod)

  /**
   * The per-account throttle engaged: an audit event (and, through it, a warn log line) with the account's
   * id when the name is one — an unknown name is not recorded, only the address.
   */
  async function recordThrottled (userId: number | null, ctx: AuditContext) {
    await app.audit.record({ type: 'login.throttled', userId, actorId: null, ip: ctx.ip, userAgent: ctx.userAgent, detail: { after_failures: config.LOGIN_THROTTLE_AFTER } })
  }

  /** Admit one password-grant attempt for `key`, or answer 429 slow_down while the throttle makes it wait. */
  async function admit (which: Throttle, key: string): Promise<ThrottledAttempt> {
    const wait = await which.retryAfter(key)
    if (wait > 0) {
      app.metrics.passwordGrants.inc({ outcome: 'throttled' })
      app.metrics.throttleRejections.inc({ throttle: 'login' })
      throw new OAuthError(429, 'slow_down', `Too many failed attempts for this account: retry in ${wait} s`, { 'retry-after': String(wait) })
    }
    return new ThrottledAttempt(which, key)
  }

  /** The password grant: the password first, then (for TOTP users) the code; both count toward the throttle. */
  async function passwordGrant (request: FastifyRequest, login: string, password: string, code: string | undefined) {
    const byName = await admit(throttle, login)
    try {
      const user = await app.users.verifyLogin(login, password, request.auditContext)
      if (user === undefined) {
        app.metrics.passwordGrants.inc({ outcome: 'failure' })
        if (await byName.failure()) await recordThrottled((await app.users.findByLogin(login))?.id ?? null, request.auditContext)
        // No WWW-Authenticate: that is a resource server's challenge (RFC 6750), which strict OAuth
        // clients would report instead of this invalid_grant (API.md, v2).
        throw new OAuthError(401, 'invalid_grant', INVALID_LOGIN)
      }
      // Checked only now that the password is right, like the code itself.
      const byAccount = await admit(accountThrottle, String(user.id))
      try {
        const refusal = await app.totp.checkLoginCode(user, code)
        if (refusal !== undefined) {
          app.metrics.passwordGrants.inc({ outcome: 'mfa_refused' })
          const nameEngaged = await byName.failure()
          const accountEngaged = await byAccount.failure()
          if (nameEngaged || accountEngaged) await recordThrottled(user.id, request.auditContext)
          throw refusal
        }
        await byName.success()
        await byAccount.success()
      } finally {
        await byAccount.release()
      }
      app.metrics.passwordGrants.inc({ outcome: 'success' })
      return user
    } finally {
      // A throw before any verdict (EmailNotVerified, a storage 503) must not leave the attempt in flight.
      await byName.release()
    }
  }

  // The OAuth2 endpoints take form bodies only: JSON sent here is a 415 that says what to send.
  await app.register(async (plain) => {
    const oauth = plain.withTypeProvider<TypeBoxTypeProvider>()
    oauth.removeAllContentTypeParsers()
    await oauth.register(formbody)
    oauth.addHook('onRequest', refuseQueryCredentials([...Object.keys(TokenBody.properties), ...Object.keys(RevokeBody.properties)]))
    // A POST with no body at all is an empty form (missing fields: invalid_request), not a type error.
    oauth.addHook('preValidation', async (request) => { if (request.body === undefined) request.body = {} })

    async function tokenEndpoint (request: FastifyRequest<{ Body: Static<typeof TokenBody> }>, reply: FastifyReply) {
      const body = request.body ?? {}
      const cookieMode = app.refreshCookie.wanted(request, body.mode)
      const grant = body.grant_type || 'password'
      if (grant === 'password') {
        if (!body.username || !body.password) {
          throw new OAuthError(400, 'invalid_request', 'The password grant requires username and password')
        }
        const user = await passwordGrant(request, body.username, body.password, body.totp)
        return sendTokenPair(reply, await app.tokens.issueTokenPair(user, request.auditContext), cookieMode)
      }
      if (grant === 'refresh_token') {
        const token = body.refresh_token || (cookieMode ? app.refreshCookie.read(request) : undefined)
        if (!token) throw new OAuthError(400, 'invalid_request', cookieMode ? REFRESH_COOKIE_MISSING : 'The refresh_token grant requires refresh_token')
        const pair = await app.tokens.refreshTokenPair(token, request.auditContext)
        if (pair === undefined) throw new OAuthError(401, 'invalid_grant', 'The refresh token is invalid, expired or revoked')
        return sendTokenPair(reply, pair, cookieMode)
      }
      throw new OAuthError(400, 'unsupported_grant_type', 'grant_type must be password or refresh_token')
    }

    // One route definition under several URLs: /auth/token and the tutorials' /token and /auth/login.
    for (const url of ['/auth/token', ...tokenAliases(config)]) {
      oauth.post(url, {
        config: { oauth: true, rateLimit },
        schema: {
          tags: ['auth'],
          summary: 'OAuth2 token endpoint (password and refresh_token grants)',
          description: 'Form-encoded. Password grant: `username` (or email) and `password`; creates a session. ' +
            'Refresh grant: `grant_type=refresh_token` and `refresh_token`; rotates the refresh token.',
          ...aliasDocs(url, '/auth/token'),
          consumes: ['application/x-www-form-urlencoded'],
          body: TokenBody,
          // The cookie (Path=/auth) is read under /auth only: /token documents none.
          ...(url.startsWith('/auth/') ? { cookies: RefreshCookieParam } : {}),
          response: { 200: { ...TokenResponse, headers: SetRefreshCookie }, ...oauthErrors(400, 401, 403, 413, 415, 429) }
        }
      }, tokenEndpoint)
    }

    oauth.post('/auth/revoke', {
      config: { oauth: true },
      schema: {
        tags: ['auth'],
        summary: 'Revoke a refresh or access token (RFC 7009)',
        description: 'Ends the session the token belongs to. An unknown token is not an error.',
        consumes: ['application/x-www-form-urlencoded'],
        body: RevokeBody,
        response: { 200: Type.Object({}, { description: 'Revoked (or unknown)' }), ...oauthErrors(400, 413, 415) }
      }
    }, async (request, reply) => {
      const token = request.body?.token
      if (!token) throw new OAuthError(400, 'invalid_request', 'token is required')
      await app.tokens.revokeToken(token, request.auditContext)
      return noStore(reply).send({})
    })
  })

  app.post('/auth/refresh', {
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      summary: 'Exchange a refresh token for a new token pair (JSON)',
      description: 'Same as the refresh grant of /auth/token, with a JSON body. The refresh token rotates. ' +
        'With `"mode": "cookie"` the token is read from the `latchkey_refresh` cookie and the new one set there.',
      body: RefreshBody,
      cookies: RefreshCookieParam,
      response: { 200: { ...TokenResponse, headers: SetRefreshCookie }, ...problems(400, 401, 403, 413, 415, 422, 429) }
    }
  }, async (request, reply) => {
    const cookieMode = app.refreshCookie.wanted(request, request.body.mode)
    const token = request.body.refresh_token ?? (cookieMode ? app.refreshCookie.read(request) : undefined)
    if (token === undefined) {
      if (!cookieMode) throw unprocessable(REFRESH_TOKEN_REQUIRED)
      throw new Problem(400, REFRESH_COOKIE_MISSING)
    }
    const pair = await app.tokens.refreshTokenPair(token, request.auditContext)
    if (pair === undefined) throw new Problem(401, 'The refresh token is invalid, expired or revoked')
    return sendTokenPair(reply, pair, cookieMode)
  })

  app.post('/auth/logout', {
    // A bodiless POST with only a bearer is a logout of that session: validate it as `{}`. Only a truly
    // absent body: a JSON `null` is a body that is not an object, a 422 like `[]` (API.md v2).
    preValidation: async (request) => { if (request.body === undefined) request.body = {} },
    schema: {
      tags: ['auth'],
      summary: 'End a session (or all of them)',
      description: '`{ refresh_token }` ends that session; idempotent. With a bearer token, `{ "all": true }` ends every ' +
        "session of the user, and an empty body ends the bearer token's session. `{ \"mode\": \"cookie\" }` (or an empty body " +
        'that carries the `latchkey_refresh` cookie) ends the cookie\'s session and clears the cookie.',
      security: [{}, ...bearer],
      body: LogoutBody,
      cookies: RefreshCookieParam,
      response: { 204: { ...NoContent, headers: SetRefreshCookie }, ...problems(400, 401, 403, 413, 415, 422) }
    }
  }, async (request, reply) => {
    const body = request.body ?? {}
    let cookieMode = app.refreshCookie.wanted(request, body.mode)
    const hasBearer = request.headers.authorization !== undefined
    if (body.all === true || (body.refresh_token === undefined && hasBearer && !cookieMode)) {
      if (!hasBearer) throw notAuthenticated()
      await app.authenticate(request, reply)
      await app.tokens.endBearerSessions(request.account.id, request.sessionId, body.all === true, request.auditContext)
    } else {
      // An empty body without a bearer is a cookie logout when the request carries the cookie.
      const cookie = body.refresh_token === undefined ? app.refreshCookie.read(request) : undefined
      const token = body.refresh_token ?? cookie
      if (token === undefined && !cookieMode) throw unprocessable(REFRESH_TOKEN_REQUIRED)
      if (token !== undefined) await app.tokens.endSessionOfRefreshToken(token, 'logout', request.auditContext)
      cookieMode ||= cookie !== undefined
    }
    if (cookieMode) app.refreshCookie.clear(reply)
    return reply.code(204).send(null)
  })
}

export default routes
