// Security headers (helmet), opt-in CORS and the per-IP rate limiter the auth routes opt into.
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'

/**
 * The address to rate-limit. Behind a proxy it is the X-Forwarded-For entry the proxy itself
 * appended (the last one): `request.ip` under `trustProxy: true` is the *first* entry, which the
 * client writes, so prepending random entries would buy a fresh bucket per request.
 * `request.ips` is [socket, last X-Forwarded-For entry, …, first].
 */
export function clientAddress (request: FastifyRequest, trustProxy: boolean): string {
  return (trustProxy ? request.ips?.[1] : undefined) ?? request.socket.remoteAddress ?? request.ip
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
  const origins = app.config.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean)
  if (origins.length > 0) {
    await app.register(cors, { origin: origins, methods: ['GET', 'POST', 'PATCH', 'DELETE'] })
  }
  // global: false — only routes that set `config.rateLimit` are limited (see src/routes/auth.ts).
  await app.register(rateLimit, {
    global: false,
    keyGenerator: (request) => clientAddress(request, app.config.TRUST_PROXY),
    errorResponseBuilder: (_request, context) =>
      Object.assign(new Error(`Too many requests: retry in ${Math.ceil(context.ttl / 1000)} s`), { statusCode: 429 })
  })
}, { name: 'security', dependencies: ['config'] })
