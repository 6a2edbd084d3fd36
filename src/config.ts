// The environment schema: every setting Latchkey reads, parsed and validated once at the process edge.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

const Seconds = (def: number, description: string) =>
  Type.Integer({ minimum: 1, default: def, description })

export const ConfigSchema = Type.Object({
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Interface to listen on' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000, description: 'TCP port (0 = any free port)' }),
  DATABASE_PATH: Type.String({ minLength: 1, default: './data/latchkey.db', description: 'SQLite file; its folder is the data directory (keys live there too)' }),
  ACCESS_TOKEN_TTL: Seconds(1800, 'Access token lifetime, seconds'),
  REFRESH_TOKEN_TTL: Seconds(604800, 'Refresh token lifetime, seconds'),
  REFRESH_REUSE_GRACE: Type.Integer({ minimum: 0, default: 10, description: 'Seconds during which the previous refresh token may be reused (concurrent refresh)' }),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1, description: 'iss claim; default http://HOST:PORT' })),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'latchkey', description: 'aud claim' }),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'Shared secret (at least 32 bytes): switches signing to HS256' })),
  JWT_CLOCK_TOLERANCE: Type.Integer({ minimum: 0, maximum: 300, default: 0, description: 'Clock tolerance on exp/nbf, seconds' }),
  ARGON2_MEMORY_COST: Type.Integer({ minimum: 1024, maximum: 4194304, default: 19456, description: 'argon2id memory, KiB (OWASP minimum 19456)' }),
  ARGON2_TIME_COST: Type.Integer({ minimum: 1, maximum: 100, default: 2, description: 'argon2id iterations' }),
  ARGON2_PARALLELISM: Type.Integer({ minimum: 1, maximum: 16, default: 1, description: 'argon2id lanes' }),
  // Read by the bin (src/threadpool.cts) before this schema runs; listed here so a bad value is reported like any other.
  THREADPOOL_NICE: Type.Integer({ minimum: 0, maximum: 19, default: 19, description: 'Nice value of the threadpool threads that hash passwords, below the event loop (Linux; 0 = not lowered, pool of cores − 1)' }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'pino log level' }),
  TRUST_PROXY: Type.Boolean({ default: false, description: 'Take the client IP from X-Forwarded-For (only behind a proxy you control)' }),
  RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 0, default: 60, description: 'Requests a minute per IP on /auth/token, /auth/register, /auth/refresh, /auth/password/*, /auth/email/verify (0 = off)' }),
  REDIS_URL: Type.Optional(Type.String({ minLength: 1, description: 'redis://[user:password@]host:port[/db] or rediss://…: share the per-IP rate limit between instances (unset = per instance)' })),
  LOGIN_THROTTLE_AFTER: Type.Integer({ minimum: 0, default: 5, description: 'Failed logins for one name before delays begin (0 = off)' }),
  CORS_ORIGINS: Type.String({ default: '', description: 'Comma-separated origins allowed by CORS (empty = CORS off)' }),
  COOKIE_SECURE: Type.Boolean({ default: true, description: 'Mark the refresh cookie (mode=cookie) Secure; false only for plain-http development' }),
  SESSION_PURGE_INTERVAL: Type.Integer({ minimum: 0, default: 3600, description: 'Seconds between purges of ended and expired sessions (0 = never)' }),
  TUTORIAL_ROUTES: Type.Boolean({ default: true, description: 'Serve the FastAPI tutorials\' paths (/token, /auth/login, /users/signup, /secure-data, /admin/dashboard) as aliases' }),
  SMTP_URL: Type.Optional(Type.String({ minLength: 1, description: 'smtp://user:pass@host:587 or smtps://…; unset = mails go to <data dir>/outbox/*.eml' })),
  MAIL_FROM: Type.String({ minLength: 3, default: 'Latchkey <no-reply@localhost>', description: 'From: of every mail' }),
  APP_URL: Type.Optional(Type.String({ minLength: 1, description: 'Base of the links in mails; default the issuer' })),
  RESET_TOKEN_TTL: Seconds(1800, 'Password reset link lifetime, seconds'),
  VERIFY_TOKEN_TTL: Seconds(86400, 'Email verification link lifetime, seconds'),
  REQUIRE_VERIFIED_EMAIL: Type.Boolean({ default: false, description: 'Refuse the password grant until the email address is verified' }),
  AUDIT_RETENTION_DAYS: Type.Integer({ minimum: 0, default: 90, description: 'Days audit events are kept; each purge pass deletes older ones (0 = every event)' }),
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, description: 'Serve Prometheus metrics at GET /metrics on HOST:METRICS_PORT (unset = off)' })),
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1, description: 'postgres://user:password@host:5432/db: store everything in PostgreSQL instead of the SQLite file (unset = SQLite)' })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'PostgreSQL connections per instance' }),
  DATABASE_STATEMENT_TIMEOUT: Type.Integer({ minimum: 0, default: 5000, description: 'PostgreSQL statement_timeout, milliseconds (0 = none); a statement past it is answered 503' }),
  KEY_REFRESH_INTERVAL: Seconds(60, 'Seconds between reloads of the signing keys from PostgreSQL (a rotation reaches every instance within this)')
})

// Set only when given: the issuer and the app URL get computed defaults, the others mean "off".
const OPTIONAL = new Set(['JWT_ISSUER', 'JWT_SECRET', 'SMTP_URL', 'APP_URL', 'METRICS_PORT', 'DATABASE_URL', 'REDIS_URL'])
// Never echoed in an error: they hold a secret (SMTP_URL, DATABASE_URL and REDIS_URL may carry a password).
const HIDDEN = new Set(['JWT_SECRET', 'SMTP_URL', 'DATABASE_URL', 'REDIS_URL'])

/** A URL string with one of the given protocols and a host, or undefined. */
function urlWith (value: string, protocols: string[]): URL | undefined {
  try {
    const url = new URL(value)
    return protocols.includes(url.protocol) && url.hostname !== '' ? url : undefined
  } catch {
    return undefined
  }
}

export type Config = Static<typeof ConfigSchema> & { JWT_ISSUER: string, APP_URL: string }

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

function allowed (schema: TSchema): string {
  if (schema.anyOf) return `one of ${schema.anyOf.map((s: TSchema) => s.const).join(', ')}`
  if (schema.type === 'boolean') return 'true or false'
  const parts: string[] = [schema.type === 'integer' ? 'a whole number' : 'a string']
  if (schema.minimum !== undefined) parts.push(`>= ${schema.minimum}`)
  if (schema.maximum !== undefined) parts.push(`<= ${schema.maximum}`)
  if (schema.minLength !== undefined) parts.push(`at least ${schema.minLength} characters`)
  return parts.join(', ')
}

/**
 * Turn an environment (process.env or a test's overrides) into a Config.
 * Unknown variables are ignored; every bad one is reported, one line each.
 */
export function parseConfig (env: Record<string, unknown>): Config {
  const input: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key]
    // An empty variable means "not set", as in most twelve-factor tools.
    if (value !== undefined && value !== '') input[key] = value
  }
  const TRUE = ['1', 'true', 'yes', 'on']
  const FALSE = ['0', 'false', 'no', 'off']
  // Every boolean variable reads the same words (TRUST_PROXY=yes, TUTORIAL_ROUTES=off, …).
  for (const [key, schema] of Object.entries(ConfigSchema.properties)) {
    const raw = input[key]
    if (schema.type !== 'boolean' || typeof raw !== 'string') continue
    const v = raw.toLowerCase()
    if (TRUE.includes(v)) input[key] = true
    else if (FALSE.includes(v)) input[key] = false
  }
  const converted = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, input)) as Record<string, unknown>
  const problems: string[] = []
  for (const key of Object.keys(ConfigSchema.properties) as Array<keyof typeof ConfigSchema.properties>) {
    const schema = ConfigSchema.properties[key]
    const value = converted[key]
    if (value === undefined && !OPTIONAL.has(key)) {
      problems.push(`${key} is required: ${allowed(schema)}`)
    } else if (value !== undefined && !Value.Check(schema, value)) {
      problems.push(`${key}=${HIDDEN.has(key) ? '(hidden)' : JSON.stringify(env[key])} is not valid: expected ${allowed(schema)}`)
    }
  }
  if (typeof converted.SMTP_URL === 'string' && urlWith(converted.SMTP_URL, ['smtp:', 'smtps:']) === undefined) {
    problems.push('SMTP_URL is not valid: expected smtp://user:password@host:port or smtps://user:password@host:port')
  }
  if (typeof converted.REDIS_URL === 'string' && urlWith(converted.REDIS_URL, ['redis:', 'rediss:']) === undefined) {
    problems.push('REDIS_URL is not valid: expected redis://[user:password@]host:port[/db] or rediss://[user:password@]host:port[/db]')
  }
  if (typeof converted.DATABASE_URL === 'string' && urlWith(converted.DATABASE_URL, ['postgres:', 'postgresql:']) === undefined) {
    problems.push('DATABASE_URL is not valid: expected postgres://user:password@host:port/database or postgresql://…')
  }
  if (typeof converted.APP_URL === 'string' && urlWith(converted.APP_URL, ['http:', 'https:']) === undefined) {
    problems.push(`APP_URL=${JSON.stringify(env.APP_URL)} is not valid: expected an http:// or https:// URL`)
  }
  if (typeof converted.JWT_SECRET === 'string' && Buffer.byteLength(converted.JWT_SECRET) < 32) {
    if (!problems.some((p) => p.startsWith('JWT_SECRET'))) problems.push('JWT_SECRET is too short: expected at least 32 bytes')
  }
  if (typeof converted.CORS_ORIGINS === 'string') {
    for (const origin of listOrigins(converted.CORS_ORIGINS)) {
      if (!isOrigin(origin)) problems.push(`CORS_ORIGINS entry ${JSON.stringify(origin)} is not an origin: expected scheme://host[:port], without a path or a trailing slash`)
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)
  const config = converted as Config
  config.JWT_ISSUER ??= `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}`
  config.JWT_ISSUER = config.JWT_ISSUER.replace(/\/+$/, '')
  config.APP_URL = (config.APP_URL ?? config.JWT_ISSUER).replace(/\/+$/, '')
  return config
}

function listOrigins (value: string): string[] {
  return value.split(',').map((o) => o.trim()).filter(Boolean)
}

/** An origin exactly as browsers send it in `Origin` (RFC 6454 §6.2): http(s), host, port only when not the default. */
function isOrigin (value: string): boolean {
  try {
    const url = new URL(value)
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value
  } catch {
    return false
  }
}

/** The browser origins CORS_ORIGINS lists (validated at parse time). */
export const corsOrigins = (config: Pick<Config, 'CORS_ORIGINS'>): string[] => listOrigins(config.CORS_ORIGINS)
