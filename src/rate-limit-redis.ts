// The shared per-IP rate limit: with REDIS_URL, @fastify/rate-limit counts in Redis, so N instances share one budget.
import type { FastifyInstance } from 'fastify'
import type { RateLimitPluginOptions } from '@fastify/rate-limit'
import type { Command, RedisOptions } from 'ioredis'
import type { WriteableStream } from 'ioredis/built/types.js'

/** Prefix of every counter key; the plugin appends `<METHOD><route>-<ip>` (one bucket per route and IP). */
export const RATE_LIMIT_NAMESPACE = 'latchkey-rate-limit-'

/**
 * The `redis`, `nameSpace` and `skipOnError` options of @fastify/rate-limit, or none without REDIS_URL
 * (then the plugin's in-memory store: a limit per instance).
 *
 * A Redis outage fails open: `skipOnError` lets the request through uncounted. The per-IP limit is a
 * coarse guard against floods; the brute-force guard is the per-account login throttle, which lives
 * in the database, so logins keep working while Redis is away. One warning is logged per outage (on
 * the first failed connection or timed-out command), one info line when Redis answers again; ioredis
 * reconnects by itself.
 */
export async function redisRateLimitOptions (app: FastifyInstance): Promise<Partial<RateLimitPluginOptions>> {
  const url = app.config.REDIS_URL
  if (url === undefined || app.config.RATE_LIMIT_PER_MINUTE === 0) return {}
  // undefined until the first connection attempt settles; never logs the URL (it may hold a password).
  let up: boolean | undefined
  let closing = false
  const lost = (reason: string) => {
    if (closing || up === false) return
    up = false
    app.log.warn({ reason }, 'Redis unreachable: the per-IP rate limit is not enforced until it is back (logins keep working; the per-account login throttle still applies)')
  }
  const answered = () => {
    if (closing) return
    if (up === false) app.log.info('Redis reachable again: the per-IP rate limit is shared and enforced again')
    up = true
  }
  // ioredis is imported only here: without REDIS_URL it is never loaded.
  const WatchedRedis = watchedRedisClass(await import('ioredis'))
  const redis = new WatchedRedis(url, { answered, lost })
  redis.on('ready', answered)
  // Without an 'error' listener ioredis prints every failed reconnect to stderr.
  redis.on('error', (err: Error) => { lost(err.message) })
  redis.on('close', () => { lost('connection closed') })
  app.addHook('onClose', async () => {
    closing = true
    // quit() waits for a reply a dead Redis never sends; disconnect() also stops the reconnect timer.
    if (redis.status === 'ready') await redis.quit().catch(() => {})
    redis.disconnect()
  })
  // Start even when Redis is down (the failure was logged by 'error'); it is picked up when it comes.
  await redis.connect().catch(() => {})
  return { redis, nameSpace: RATE_LIMIT_NAMESPACE, skipOnError: true }
}

// The plugin's README: ioredis defaults do not suit rate limiting (a request must not wait on a dead
// Redis). No offline queue and no per-request retries: while disconnected a command fails at once and
// the request goes through uncounted; commandTimeout bounds a Redis that accepts but hangs.
const CLIENT_OPTIONS = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  connectTimeout: 1000,
  commandTimeout: 500,
  // Keep trying forever, at most every 2 s: limiting resumes by itself when Redis returns.
  retryStrategy: (times: number) => Math.min(times * 100, 2000)
} satisfies RedisOptions

/**
 * An ioredis client that reports each command's fate: a Redis that accepts connections but stops
 * answering emits no connection event, only command timeouts. A reply error (NOSCRIPT, which ioredis
 * answers itself by sending the script) means Redis is there.
 */
function watchedRedisClass ({ Redis, ReplyError }: Pick<typeof import('ioredis'), 'Redis' | 'ReplyError'>) {
  return class WatchedRedis extends Redis {
    constructor (url: string, private readonly health: { answered: () => void, lost: (reason: string) => void }) {
      super(url, CLIENT_OPTIONS)
    }

    override sendCommand (command: Command, stream?: WriteableStream): unknown {
      const sent = super.sendCommand(command, stream)
      // Only a ready client counts as back: the handshake's INFO answers before commands may be sent
      // (without the offline queue they fail until 'ready', which reports the recovery itself).
      const answered = () => { if (this.status === 'ready') this.health.answered() }
      command.promise.then(answered, (err: Error) => {
        if (err instanceof ReplyError) answered()
        else this.health.lost(err.message)
      })
      return sent
    }
  }
}
