// Prometheus metrics (prom-client): the counters routes increment as `app.metrics`, a per-request hook,
// and — only when METRICS_PORT is set — a second small HTTP server that serves GET /metrics on HOST:METRICS_PORT,
// so the API port never exposes them. Without it prom-client is never loaded and the counters count nothing.
import { createServer, type Server } from 'node:http'
import fp from 'fastify-plugin'
import type { Registry } from 'prom-client'

export type GrantOutcome = 'success' | 'failure' | 'throttled'
export type RefreshOutcomeLabel = 'success' | 'invalid' | 'reused'

/** What a route does with a counter: count one event with these labels. */
export interface Count<L extends string> {
  inc: (labels: Record<L, string>) => void
}

export interface Metrics {
  /** prom-client's registry, only when metrics are served (METRICS_PORT). */
  registry: Registry | undefined
  passwordGrants: Count<'outcome'>
  refreshes: Count<'outcome'>
  throttleRejections: Count<'throttle'>
  rateLimitRejections: Count<'route'>
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** The label of a request's route: its pattern (`/users/:id`), never the raw URL; one label for unknown routes. */
const UNMATCHED = 'unmatched'

// Latchkey's answers are mostly sub-millisecond (a token check) or tens of milliseconds (argon2).
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

const UNCOUNTED: Count<string> = { inc () {} }

export default fp(async (app) => {
  const port = app.config.METRICS_PORT
  if (port === undefined) {
    // prom-client, its default collectors and OpenTelemetry's API are ~5 % of the server's start-up code.
    app.decorate('metrics', { registry: undefined, passwordGrants: UNCOUNTED, refreshes: UNCOUNTED, throttleRejections: UNCOUNTED, rateLimitRejections: UNCOUNTED } satisfies Metrics)
    return
  }
  const { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } = await import('prom-client')
  const registry = new Registry()
  const metrics: Metrics = {
    registry,
    passwordGrants: new Counter({
      name: 'latchkey_password_grants_total',
      help: 'Password grants by outcome (success, failure: wrong or unknown credentials, throttled: refused by the login throttle)',
      labelNames: ['outcome'],
      registers: [registry]
    }),
    refreshes: new Counter({
      name: 'latchkey_refreshes_total',
      help: 'Refresh-token exchanges by outcome (success, invalid, reused: reuse detected and the session revoked)',
      labelNames: ['outcome'],
      registers: [registry]
    }),
    throttleRejections: new Counter({
      name: 'latchkey_throttle_rejections_total',
      help: 'Requests refused by a per-account throttle (login: password grants, password_check: routes that check the current password)',
      labelNames: ['throttle'],
      registers: [registry]
    }),
    rateLimitRejections: new Counter({
      name: 'latchkey_rate_limit_rejections_total',
      help: 'Requests refused by the per-IP rate limit, by route pattern',
      labelNames: ['route'],
      registers: [registry]
    })
  }
  app.decorate('metrics', metrics)

  collectDefaultMetrics({ register: registry })
  registry.registerMetric(new Gauge({
    name: 'latchkey_password_hashes_in_flight',
    help: 'argon2 hashes and verifications running now',
    registers: [],
    // app.passwords and app.store are decorated after this plugin (by services, db); scrapes come after ready.
    collect () { this.set(app.passwords.inFlight) }
  }))
  registry.registerMetric(new Gauge({
    name: 'latchkey_active_sessions',
    help: 'Sessions neither ended nor expired (read from the database on scrape)',
    registers: [],
    // prom-client awaits an async collect before it renders the scrape.
    async collect () { this.set(await app.store.countActiveSessions(new Date())) }
  }))
  // The hook runs on every request. prom-client hashes a label set on every inc/observe (about a microsecond
  // each), so the request counter is a plain number per (method, status, route) copied into the Counter at
  // scrape time; only the histogram observation goes through prom-client.
  const series = new Map<string, { labels: Record<'method' | 'route' | 'status', string>, count: number, duration: { observe (v: number): void } }>()
  registry.registerMetric(new Counter({
    name: 'latchkey_http_requests_total',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'],
    registers: [],
    collect () {
      this.reset()
      for (const s of series.values()) this.inc(s.labels, s.count)
    }
  }))
  const durations = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'],
    buckets: DURATION_BUCKETS,
    registers: [registry]
  })

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED
    const key = `${request.method} ${reply.statusCode} ${route}`
    let s = series.get(key)
    if (s === undefined) {
      const labels = { method: request.method, route, status: String(reply.statusCode) }
      s = { labels, count: 0, duration: durations.labels(labels) }
      series.set(key, s)
    }
    s.count += 1
    s.duration.observe(reply.elapsedTime / 1000)
    done()
  })

  let server: Server | undefined
  app.addHook('onReady', async () => {
    server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: metrics are at GET /metrics\n')
        return
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => {
          app.log.error({ err }, 'metrics collection failed')
          res.writeHead(500, { 'content-type': 'text/plain' }).end('Metrics collection failed\n')
        }
      )
    })
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject)
      server!.listen(port, app.config.HOST, () => { server!.off('error', reject); resolve() })
    })
    const address = server.address()
    app.log.info({ address }, 'metrics served at GET /metrics')
  })
  app.addHook('onClose', async () => {
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise((resolve) => server!.close(resolve))
  })
}, { name: 'metrics', dependencies: ['config'] })
