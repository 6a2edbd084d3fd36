// Browser apps: CORS for CORS_ORIGINS, the httpOnly refresh-token cookie (mode=cookie) and the CSRF rule for it.
import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import cookie from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { corsOrigins } from '../src/config.js'
import { OAuthError, Problem } from '../src/errors.js'

export const REFRESH_COOKIE = 'latchkey_refresh'
// Browsers send the cookie to /auth/* only (the token, refresh, logout and login endpoints), never to the API.
const COOKIE_PATH = '/auth'
export const FOREIGN_ORIGIN = 'Cookie mode needs a request from an allowed origin'

declare module 'fastify' {
  interface FastifyInstance {
    /** The refresh token as an httpOnly cookie; every read and every request for it passes the origin check. */
    refreshCookie: {
      /** `mode === 'cookie'`, after checking that the request may use the cookie (else a 403). */
      wanted (request: FastifyRequest, mode: string | undefined): boolean
      /**
       * The cookie's value, if the request carries one and its route is under /auth (the cookie's path: it is
       * never read elsewhere, not even on the /token alias); checks the origin first when it does.
       */
      read (request: FastifyRequest): string | undefined
      set (reply: FastifyReply, refreshToken: string): void
      clear (reply: FastifyReply): void
    }
  }
}

const isUnderAuth = (url: string) => url === COOKIE_PATH || url.startsWith(`${COOKIE_PATH}/`) || url.startsWith(`${COOKIE_PATH}?`)

export default fp(async (app) => {
  const { config } = app
  const origins = corsOrigins(config)
  let ownOrigin: string | undefined
  try {
    ownOrigin = new URL(config.JWT_ISSUER).origin
  } catch {
    // An issuer that is not a URL names no origin: only CORS_ORIGINS may then use the cookie.
  }
  const cookieOrigins = new Set([...origins, ...(ownOrigin ? [ownOrigin] : [])])

  if (origins.length > 0) {
    // Other origins get no CORS headers at all (origin: false), not even on a preflight, which then 404s.
    // Credentials (the refresh cookie) only under /auth: the API itself takes bearer tokens.
    await app.register(cors, {
      delegator: (request, callback) => {
        const origin = request.headers.origin
        if (origin === undefined || !origins.includes(origin)) return callback(null, { origin: false })
        callback(null, {
          origin,
          credentials: isUnderAuth(request.url),
          methods: ['GET', 'POST', 'PATCH', 'DELETE'],
          allowedHeaders: ['Authorization', 'Content-Type'],
          // A page must read `error_description="The access token expired"` to know when to refresh.
          exposedHeaders: ['WWW-Authenticate', 'Retry-After']
        })
      }
    })
  }

  // hook: false — no route parses cookies on its own; `read` below is the only reader.
  await app.register(cookie, { hook: false })

  /**
   * CSRF defence for anything that asks for or uses the cookie: the browser's Origin must be ours or a
   * listed one, and the request must not be cross-site (Fetch Metadata, https://w3c.github.io/webappsec-fetch-metadata/).
   */
  function requireAllowedOrigin (request: FastifyRequest): void {
    const origin = request.headers.origin
    const allowed = origin !== undefined && cookieOrigins.has(origin) && request.headers['sec-fetch-site'] !== 'cross-site'
    if (allowed) return
    throw request.routeOptions.config?.oauth === true
      ? new OAuthError(403, 'invalid_request', FOREIGN_ORIGIN)
      : new Problem(403, FOREIGN_ORIGIN)
  }

  const attributes = (maxAge: number) => ({
    httpOnly: true, sameSite: 'strict' as const, path: COOKIE_PATH, maxAge, secure: config.COOKIE_SECURE
  })

  app.decorate('refreshCookie', {
    wanted (request: FastifyRequest, mode: string | undefined) {
      if (mode !== 'cookie') return false
      requireAllowedOrigin(request)
      return true
    },
    read (request: FastifyRequest) {
      // The route's own path, not the raw URL: the handler of /auth/token also serves /token.
      if (!isUnderAuth(request.routeOptions.url ?? request.url)) return undefined
      const header = request.headers.cookie
      if (header === undefined) return undefined
      const value = app.parseCookie(header)[REFRESH_COOKIE]
      if (value === undefined || value === '') return undefined
      requireAllowedOrigin(request)
      return value
    },
    set (reply: FastifyReply, refreshToken: string) {
      reply.setCookie(REFRESH_COOKIE, refreshToken, attributes(config.REFRESH_TOKEN_TTL))
    },
    clear (reply: FastifyReply) {
      reply.setCookie(REFRESH_COOKIE, '', attributes(0))
    }
  })
}, { name: 'browser', dependencies: ['config', 'errors'] })
