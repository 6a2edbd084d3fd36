// buildApp(config): the whole application as one Fastify instance, plugins then routes, in order.
import Fastify, { type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config.js'
import configPlugin from '../plugins/config.js'
import dbPlugin from '../plugins/db.js'
import servicesPlugin from '../plugins/services.js'
import auditPlugin from '../plugins/audit.js'
import metricsPlugin from '../plugins/metrics.js'
import mailPlugin, { type MailPluginOptions } from '../plugins/mail.js'
import recoveryPlugin from '../plugins/recovery.js'
import totpPlugin from '../plugins/totp.js'
import authPlugin from '../plugins/auth.js'
import tokensPlugin from '../plugins/tokens.js'
import errorsPlugin, { frameworkErrors } from '../plugins/errors.js'
import { schemaController } from '../plugins/validation.js'
import securityPlugin from '../plugins/security.js'
import browserPlugin from '../plugins/browser.js'
import swaggerPlugin from '../plugins/swagger.js'
import { OAuthErrorResponse, ProblemResponse } from './schemas/common.js'
import authRoutes from './routes/auth.js'
import userRoutes from './routes/users.js'
import adminRoutes from './routes/admin.js'
import auditRoutes from './routes/audit.js'
import taskRoutes from './routes/tasks.js'
import wellKnownRoutes from './routes/well-known.js'
import healthRoutes from './routes/health.js'
import tutorialRoutes from './routes/tutorials.js'
import { logSerializers } from './log.js'
import recoveryRoutes from './routes/recovery.js'
import recoveryPages from './routes/recovery-pages.js'

export interface BuildOptions {
  logger?: FastifyServerOptions['logger']
  mail?: MailPluginOptions
}

// Never log a password, a token or an Authorization header, whatever a serializer is later taught to log.
export const logRedactPaths = [
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization',
  '*.password', '*.current_password', '*.new_password', '*.refresh_token', '*.access_token', '*.token', '*.client_secret',
  '*.totp', '*.secret', '*.otpauth_uri', '*.recovery_codes'
]

export async function buildApp (config: Config, options: BuildOptions = {}) {
  // 'silent' means no logger at all: a per-request child logger with redaction costs ~15 µs.
  const logger = options.logger ?? (config.LOG_LEVEL === 'silent' ? false : { level: config.LOG_LEVEL })
  const app = Fastify({
    // Whatever logger a caller passes, it redacts secrets and query values (src/log.ts).
    logger: typeof logger === 'object' ? { redact: logRedactPaths, ...logger, serializers: { ...logSerializers, ...logger.serializers } } : logger,
    // One trusted hop: request.ip is the address our proxy appended to X-Forwarded-For, not the
    // first entry, which the client writes (prepending random ones would dodge the rate limit).
    trustProxy: config.TRUST_PROXY ? (_address: string, hop: number) => hop < 1 : false,
    frameworkErrors,
    bodyLimit: 1024 * 1024,
    // Reject requests whose JSON carries __proto__ / constructor.prototype instead of parsing them.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { ignoreTrailingSlash: true },
    schemaController
  }).withTypeProvider<TypeBoxTypeProvider>()

  // JSON everywhere (the OAuth2 routes add form parsing for themselves): text/plain is a 415, not a string body.
  app.removeContentTypeParser('text/plain')

  await app.register(configPlugin, { config })
  await app.register(metricsPlugin)
  // Shared schemas, before any route: the validator factory (plugins/validation.ts) receives them.
  app.addSchema(ProblemResponse)
  app.addSchema(OAuthErrorResponse)
  await app.register(errorsPlugin)
  await app.register(securityPlugin)
  await app.register(browserPlugin)
  await app.register(swaggerPlugin)
  await app.register(dbPlugin)
  await app.register(auditPlugin)
  await app.register(servicesPlugin)
  await app.register(mailPlugin, options.mail ?? {})
  await app.register(recoveryPlugin)
  await app.register(totpPlugin)
  await app.register(authPlugin)
  await app.register(tokensPlugin)

  await app.register(healthRoutes)
  await app.register(wellKnownRoutes)
  await app.register(authRoutes)
  await app.register(userRoutes)
  await app.register(adminRoutes)
  await app.register(auditRoutes)
  await app.register(taskRoutes)
  await app.register(tutorialRoutes)
  await app.register(recoveryRoutes)
  await app.register(recoveryPages)
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
