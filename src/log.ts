// What a request log line may say about a request: the query string's names, never its values
// (`/auth/token?username=…&password=…`, `/reset-password?token=…`, `/users?q=<an email>`).
import type { FastifyRequest } from 'fastify'

const REDACTED = '[redacted]'
// A name is kept only in a `name=value` pair and when it looks like a parameter name: a bare `?eyJhbGci…`
// or an odd name could itself be the secret.
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_[\]-]{0,31}$/

/** The URL with every query value (and every name that may not be one) replaced by [redacted]. */
export function redactQueryValues (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const pairs = url.slice(q + 1).split('&').filter((pair) => pair !== '').map((pair) => {
    const eq = pair.indexOf('=')
    const name = pair.slice(0, eq)
    return eq > 0 && PARAMETER_NAME.test(name) ? `${name}=${REDACTED}` : REDACTED
  })
  return `${url.slice(0, q)}?${pairs.join('&')}`
}

/** Fastify's own `req` serializer (lib/logger-pino.js), with the query values redacted. */
export const logSerializers = {
  req: (req: FastifyRequest) => ({
    method: req.method,
    url: redactQueryValues(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort
  })
}

/**
 * What to log of an error: a wrapped query error's message and `params` carry the bound values
 * (emails, password and token hashes), which no log should hold — keep the SQL and the cause only.
 */
export function loggable (err: unknown): unknown {
  if (typeof err === 'object' && err !== null && 'params' in err && 'query' in err) {
    const { name, query, cause } = err as { name?: unknown, query: unknown, cause?: { code?: unknown, message?: unknown } }
    return { type: name, query, code: cause?.code, message: cause?.message }
  }
  return err
}
