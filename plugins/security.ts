// Security headers (helmet) and the per-IP rate limiter the auth routes opt into.
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import rateLimit, { type RateLimitOptions } from '@fastify/rate-limit'
import { redisRateLimitOptions } from '../src/rate-limit-redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** `config.rateLimit` for the routes that cost a hash or a write (per IP); false when turned off. */
    authRateLimit: RateLimitOptions | false
  }
}

export default fp(async (app) => {
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        // Swagger UI is served over plain http on localhost; upgrading its requests would break it.
        upgradeInsecureRequests: null
      }
    },
    // HSTS is the TLS-terminating proxy's decision, not an http server's.
    strictTransportSecurity: false
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
