// Security headers (helmet's, computed once at start-up) and the per-IP rate limiter the auth routes opt into.
import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'
import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit'
import { redisRateLimitOptions } from '../src/rate-limit-redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** `config.rateLimit` for the routes that cost a hash or a write (per IP); false when turned off. */
    authRateLimit: RateLimitOptions | false
  }
}

// Static options only (no function-valued CSP directive, no nonces): the headers are the same on every response.
export const helmetOptions: Readonly<HelmetOptions> = {
  contentSecurityPolicy: {
    directives: {
      // Swagger UI is served over plain http on localhost; upgrading its requests would break it.
      upgradeInsecureRequests: null
    }
  },
  // HSTS is the TLS-terminating proxy's decision, not an http server's.
  strictTransportSecurity: false
}

/**
 * The headers helmet's middleware sets for `options`, in its order and its spelling: its middleware run once
 * against a recording response. (Its only removal, X-Powered-By, concerns a header nothing here ever sets.)
 */
export function helmetHeaders (options: Readonly<HelmetOptions>): Array<[name: string, value: string]> {
  const headers: Array<[string, string]> = []
  const recorder = {
    setHeader (name: string, value: string) { headers.push([name, value]) },
    removeHeader () {}
  }
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => { if (err) throw err })
  return headers
}

export default fp(async (app) => {
  // @fastify/helmet rebuilt helmet(options) — parsing and serialising the CSP — on every request (~10–20 µs).
  // The same headers, set the same way (on the raw response, before any route code, so a route's own
  // reply.header still overrides one), from one hook on every request, 404s and errors included.
  const headers = helmetHeaders(helmetOptions)
  const names = headers.map(([name]) => name)
  const values = headers.map(([, value]) => value)
  app.addHook('onRequest', function securityHeaders (_request, reply, done) {
    const res = reply.raw
    for (let i = 0; i < names.length; i++) res.setHeader(names[i], values[i])
    done()
  })
  // CORS (CORS_ORIGINS) lives with the refresh cookie it grants credentials for: plugins/browser.ts.
  // RATE_LIMIT_PER_MINUTE=0 turns it off (test suites, benchmarks).
  app.decorate('authRateLimit', app.config.RATE_LIMIT_PER_MINUTE > 0
    ? { max: app.config.RATE_LIMIT_PER_MINUTE, timeWindow: 60_000 }
    : false)
  // global: false — only routes that set `config.rateLimit` are limited (src/routes/auth.ts, users.ts).
  await app.register(rateLimit, {
    global: false,
    // REDIS_URL: counters shared by every instance, failing open when Redis is down (src/rate-limit-redis.ts).
    ...(await redisRateLimitOptions(app)),
    // Keyed by request.ip: with TRUST_PROXY that is the X-Forwarded-For entry our proxy appended
    // (trustProxy is one hop, see src/app.ts), never an entry the client wrote itself.
    errorResponseBuilder: (request, context) => {
      app.metrics.rateLimitRejections.inc({ route: request.routeOptions.url ?? 'unmatched' })
      return Object.assign(new Error(`Too many requests: retry in ${Math.ceil(context.ttl / 1000)} s`), { statusCode: 429 })
    }
  })
}, { name: 'security', dependencies: ['config', 'metrics'] })
