// One error handler: every thrown error becomes an RFC 9457 problem, or an RFC 6749 error on OAuth2 routes.
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { STATUS_CODES } from 'node:http'
import { DomainError, fieldSubject, invalidRequestSentence, OAuthError, Problem, type FieldError } from '../src/errors.js'
import { PASSWORD_MAX } from '../src/services/passwords.js'
import { STORAGE_RETRY_AFTER, storageFault } from '../src/db/faults.js'
import { loggable } from '../src/log.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Errors on this route use the OAuth2 shape `{ error, error_description }` (RFC 6749 §5.2). */
    oauth?: boolean
  }
}

interface AjvError {
  instancePath: string
  keyword: string
  schemaPath: string
  message?: string
  params: Record<string, unknown>
  /** Present with AJV's `verbose` option (plugins/validation.ts): carries `x-pattern-message`. */
  parentSchema?: Record<string, unknown>
}

// AJV's own phrases ("must be a object", "must NOT have fewer than 1 characters") never reach a client:
// every keyword a schema here uses is stated as a sentence, once, in this table.
const plural = (n: unknown, one: string, many: string) => `${String(n)} ${Number(n) === 1 ? one : many}`
const TYPE_NAMES: Record<string, string> = {
  object: 'a JSON object',
  array: 'a JSON array',
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean',
  null: 'null'
}
const typeName = (t: unknown) => String(t).split(',').map((one) => TYPE_NAMES[one] ?? `of type ${one}`).join(' or ')
const FORMAT_NAMES: Record<string, string> = {
  email: 'a valid email address',
  'date-time': 'a date and time in ISO 8601 format',
  date: 'a date in ISO 8601 format (YYYY-MM-DD)',
  uri: 'a valid absolute URL',
  url: 'a valid absolute URL',
  uuid: 'a valid UUID'
}
const literal = (v: unknown) => JSON.stringify(v)
const oneOfList = (values: unknown[]) =>
  values.length <= 1 ? literal(values[0]) : `${values.slice(0, -1).map(literal).join(', ')} or ${literal(values[values.length - 1])}`

function describe (e: AjvError): string {
  const p = e.params
  switch (e.keyword) {
    case 'required': return 'is required'
    case 'type': return `must be ${typeName(p.type)}`
    case 'minLength': return `must be at least ${plural(p.limit, 'character', 'characters')}`
    case 'maxLength': return `must be at most ${plural(p.limit, 'character', 'characters')}`
    case 'minimum': return `must be at least ${String(p.limit)}`
    case 'maximum': return `must be at most ${String(p.limit)}`
    case 'exclusiveMinimum': return `must be greater than ${String(p.limit)}`
    case 'exclusiveMaximum': return `must be less than ${String(p.limit)}`
    case 'multipleOf': return `must be a multiple of ${String(p.multipleOf)}`
    case 'minItems': return `must have at least ${plural(p.limit, 'item', 'items')}`
    case 'maxItems': return `must have at most ${plural(p.limit, 'item', 'items')}`
    case 'uniqueItems': return 'must not contain the same item twice'
    case 'minProperties': return `must have at least ${plural(p.limit, 'field', 'fields')}`
    case 'maxProperties': return `must have at most ${plural(p.limit, 'field', 'fields')}`
    case 'format': return `must be ${FORMAT_NAMES[String(p.format)] ?? `a valid ${String(p.format)}`}`
    case 'enum': return `must be one of ${oneOfList(p.allowedValues as unknown[])}`
    case 'const': return `must be ${literal(p.allowedValue)}`
    case 'pattern': {
      const message = e.parentSchema?.['x-pattern-message']
      return typeof message === 'string' ? message : `must match the pattern ${String(p.pattern)}`
    }
    case 'additionalProperties': return `must not have the field "${String(p.additionalProperty)}"`
    default: return 'is not valid'
  }
}

// Password fields carry a loose schema bound (512) so that over-long input never reaches the hash; the
// limit a user must meet is the policy's (128 code points after NFKC), so that is the one to state.
const PASSWORD_FIELD = /(^|\/)(password|new_password)$/

export function fieldErrors (errors: AjvError[]): FieldError[] {
  // A TypeBox Union (anyOf) fails once per branch, then once as a whole: say it once, as a list.
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
  const branchesOf = (u: AjvError) => errors.filter((b) => b.schemaPath.startsWith(`${u.schemaPath}/`))
  const isBranch = (e: AjvError) => unions.some((u) => e.schemaPath.startsWith(`${u.schemaPath}/`))
  const out: FieldError[] = []
  for (const e of errors) {
    if (isBranch(e)) continue
    const field = e.keyword === 'required' ? `${e.instancePath}/${String(e.params.missingProperty)}` : e.instancePath
    let message: string
    if (unions.includes(e)) {
      const branches = branchesOf(e)
      const consts = branches.filter((b) => b.keyword === 'const').map((b) => b.params.allowedValue)
      const types = branches.filter((b) => b.keyword === 'type').map((b) => String(b.params.type))
      const simple = branches.every((b) => b.keyword === 'const' || b.keyword === 'type')
      // A TypeBox Literal is `{ type, const }`: a wrong type fails both, so the constants are the list.
      message = simple && consts.length > 0
        ? `must be one of ${oneOfList([...new Set(consts)])}`
        : simple && types.length > 0 ? `must be ${typeName([...new Set(types)].join(','))}` : 'is not valid'
    } else if (e.keyword === 'maxLength' && PASSWORD_FIELD.test(e.instancePath)) {
      message = `must be at most ${PASSWORD_MAX} characters`
    } else {
      message = describe(e)
    }
    // `format` and `pattern` on one field (Email) say the same thing: say it once.
    if (!out.some((o) => o.field === field && o.message === message)) out.push({ field, message })
  }
  return out
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
        ? extra.errors.map((e) => `${fieldSubject(e.field.slice(1), 'The request body')} ${e.message}`).join('; ')
        : OAUTH_MESSAGES[status] ?? detail
      // `detail` repeats the description for clients written against FastAPI, which read `detail` (API.md).
      return reply.type('application/json; charset=utf-8').send({ error, error_description: description, detail: description, ...extra.members })
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
    // The services' refusals (domain errors, src/errors.ts): each carries its status and sentence.
    if (err instanceof DomainError) {
      return send(request, reply, err.status, err.message, { headers: err.headers, errors: err.errors })
    }
    if (err.validation) {
      // API.md: a path id that is not a positive integer is a 404, like a missing row.
      if (err.validationContext === 'params') return send(request, reply, 404, 'Not found')
      const errors = fieldErrors(err.validation)
      const oauth = request.routeOptions.config?.oauth === true
      return send(request, reply, oauth ? 400 : 422, invalidRequestSentence(errors), { errors })
    }
    const fault = storageFault(err)
    if (fault === 'unavailable') {
      request.log.error({ err: loggable(err) }, 'storage unavailable')
      return send(request, reply, 503, 'The database cannot accept writes right now; try again later',
        { headers: { 'retry-after': String(STORAGE_RETRY_AFTER) } })
    }
    // A constraint no service translated (a row deleted meanwhile, a race on a unique key): a conflict, not a bug.
    if (fault === 'constraint') {
      request.log.warn({ err: loggable(err) }, 'constraint violation')
      return send(request, reply, 409, 'The request conflicts with the current state of the data; reload and try again')
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
