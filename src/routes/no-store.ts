// The caching headers of answers that carry credentials (tokens, TOTP secrets, recovery codes).
import type { FastifyReply } from 'fastify'

/** RFC 6749 §5.1: Cache-Control: no-store, and Pragma: no-cache for HTTP/1.0 caches. Returns the reply to chain `send`. */
export function noStore<R extends Pick<FastifyReply, 'header'>> (reply: R): R {
  reply.header('cache-control', 'no-store')
  reply.header('pragma', 'no-cache')
  return reply
}
