// One error handler: every thrown error becomes an RFC 9457 problem, or an RFC 6749 error on OAuth2 routes.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { STATUS_CODES } from 'node:http'
import { OAuthError, Problem, type FieldError } from '../src/errors.js'
import { PASSWORD_MAX } from '../src/services/passwords.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Errors on this route use the OAuth2 shape `{ error, error_description }` (RFC 6749 §5.2). */
    oauth?: boolean
  }
}

interface AjvError { instancePath: string, keyword: string, message?: string, params: Record<string, unknown> }

function describe (e: AjvError): string {
  const p = e.params
  switch (e.keyword) {
    case 'required': return 'is required'
    case 'minLength': return `must be at least ${String(p.limit)} characters`
    case 'maxLength': return `must be at most ${String(p.limit)} characters`
    case 'format': return `must be a valid ${String(p.format)}`
    case 'type': return `must be ${p.type === 'integer' ? 'an integer' : `a ${String(p.type)}`}`
    default: return e.message ?? 'is invalid'
  }
}

// Password fields carry a loose schema bound (512) so that over-long input never reaches the hash; the
// limit a user must meet is the policy's (128 code points after NFKC), so that is the one to state.
const PASSWORD_FIELD = /(^|\/)(password|new_password)$/

export function fieldErrors (errors: AjvError[]): FieldError[] {
  return errors.map((e) => ({
    field: e.keyword === 'required' ? `${e.instancePath}/${String(e.params.missingProperty)}` : e.instancePath,
    message: e.keyword === 'maxLength' && PASSWORD_FIELD.test(e.instancePath)
      ? `must be at most ${PASSWORD_MAX} characters`
      : describe(e)
  }))
}

const STORAGE_UNAVAILABLE = /^SQLITE_(READONLY|FULL|BUSY|LOCKED|IOERR|CANTOPEN)/

/** The SQLite error code, also when an ORM wrapped the driver's error (drizzle's DrizzleQueryError keeps it in `cause`). */
function sqliteCode (err: unknown): string | undefined {
  for (let e = err as { code?: unknown, cause?: unknown } | undefined, depth = 0; e !== undefined && e !== null && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) return e.code
  }
  return undefined
}

/**
 * What to log of an error: a wrapped query error's message and `params` carry the bound values
 * (emails, password and token hashes), which no log should hold — keep the SQL and the cause only.
 */
function loggable (err: unknown): unknown {
  if (typeof err === 'object' && err !== null && 'params' in err && 'query' in err) {
    const { name, query, cause } = err as { name?: unknown, query: unknown, cause?: { code?: unknown, message?: unknown } }
    return { type: name, query, code: cause?.code, message: cause?.message }
  }
  return err
}

const OAUTH_MESSAGES: Record<number, string> = {
  413: 'The request body is too large',
  415: 'Send the request body as application/x-www-form-urlencoded (OAuth2, RFC 6749)'
}

/**
 * Fastify's `frameworkErrors` option: failures the router raises before any route or hook runs
 * (a path segment over 100 characters, malformed percent-encoding) would otherwise get Fastify's
 * own JSON shape (414 / 400 that echoes the path). API.md: a path id that is not a positive integer
 * is a 404, like a missing row. Pass as `Fastify({ frameworkErrors })`.
 */
export function frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const routing = err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_MAX_PARAM_LENGTH'
  const status = routing ? 404 : 500
  if (!routing) request.log.error({ err }, 'router error')
  reply.code(status).type('application/problem+json; charset=utf-8').send({
    type: 'about:blank',
    title: STATUS_CODES[status],
    status,
    detail: routing ? 'Not found' : 'An unexpected error occurred'
  })
}

export default fp(async (app) => {
  function send (request: FastifyRequest, reply: FastifyReply, status: number, detail: string,
    extra: { headers?: Record<string, string>, errors?: FieldError[], oauthError?: string, members?: Record<string, unknown> } = {}) {
    if (extra.headers) reply.headers(extra.headers)
    reply.code(status)
    if (request.routeOptions.config?.oauth === true) {
      // 503 (storage unavailable) is temporary: say so, as RFC 6749 §4.1.2.1 does for the authorization endpoint.
      const error = extra.oauthError ??
        (status === 429 ? 'slow_down' : status === 503 ? 'temporarily_unavailable' : status >= 500 ? 'server_error' : 'invalid_request')
      const description = status === 400 && extra.errors?.length
        ? extra.errors.map((e) => `${e.field.slice(1) || 'body'} ${e.message}`).join('; ')
        : OAUTH_MESSAGES[status] ?? detail
      return reply.type('application/json; charset=utf-8').send({ error, error_description: description, ...extra.members })
    }
    return reply.type('application/problem+json; charset=utf-8').send({
      type: 'about:blank',
      title: STATUS_CODES[status] ?? 'Error',
      status,
      detail,
      ...(extra.errors ? { errors: extra.errors } : {})
    })
  }

  app.setErrorHandler((err: FastifyError & { validation?: AjvError[], validationContext?: string }, request, reply) => {
    if (err instanceof OAuthError) {
      return send(request, reply, err.statusCode, err.description, { headers: err.headers, oauthError: err.error, members: err.members })
    }
    if (err instanceof Problem) {
      return send(request, reply, err.statusCode, err.detail, { headers: err.headers, errors: err.errors })
    }
    if (err.validation) {
      // API.md: a path id that is not a positive integer is a 404, like a missing row.
      if (err.validationContext === 'params') return send(request, reply, 404, 'Not found')
      const errors = fieldErrors(err.validation)
      const oauth = request.routeOptions.config?.oauth === true
      return send(request, reply, oauth ? 400 : 422,
        `The request is invalid: ${errors.map((e) => `${e.field || '/'} ${e.message}`).join('; ')}`, { errors })
    }
    const code = sqliteCode(err)
    if (code !== undefined && STORAGE_UNAVAILABLE.test(code)) {
      request.log.error({ err: loggable(err) }, 'storage unavailable')
      return send(request, reply, 503, 'The database cannot accept writes right now; try again later')
    }
    const status = err.statusCode ?? 500
    if (status >= 400 && status < 500) {
      const detail = status === 400 && err.code === 'FST_ERR_CTP_INVALID_JSON_BODY'
        ? 'The request body is not valid JSON'
        : status === 413
          ? 'The request body is too large'
          : status === 415
            ? `Unsupported content type: send ${request.routeOptions.config?.oauth === true ? 'application/x-www-form-urlencoded' : 'application/json'}`
            : status === 400
              ? 'The request could not be parsed'
              : err.message || STATUS_CODES[status] || 'Bad request'
      return send(request, reply, status, detail)
    }
    request.log.error({ err: loggable(err) }, 'unhandled error')
    return send(request, reply, 500, 'An unexpected error occurred')
  })

  app.setNotFoundHandler((request, reply) =>
    send(request, reply, 404, `No route for ${request.method} ${request.url.split('?')[0]}`))
}, { name: 'errors' })
