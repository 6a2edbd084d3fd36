// OpenAPI 3 document at /docs/json and Swagger UI at /docs, whose Authorize button runs the password flow.
// Swagger UI (@fastify/swagger-ui with @fastify/static, its assets and their modules) is loaded on the first
// request for a page under /docs, not at start-up: most servers never serve it.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { packageVersion as version } from '../src/paths.js'
import { applyDocumentedBounds } from '../src/schemas/documented.js'

interface OpenApiResponse { content?: Record<string, { schema?: { $ref?: string } }> }
type OpenApiPaths = Record<string, Record<string, { responses?: Record<string, OpenApiResponse> }>>

/** Problem responses are served as application/problem+json (RFC 9457): say so in the document. */
function problemContentType (paths: OpenApiPaths | undefined): void {
  for (const item of Object.values(paths ?? {})) {
    for (const operation of Object.values(item)) {
      for (const response of Object.values(operation.responses ?? {})) {
        const json = response.content?.['application/json']
        if (json?.schema?.$ref === '#/components/schemas/Problem') response.content = { 'application/problem+json': json }
      }
    }
  }
}

export default fp(async (app) => {
  await app.register(swagger, {
    // Shared schemas keep their $id as their name in the document ("Problem", "User", …), not "def-0".
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` },
    transformObject: (documents) => {
      if ('openapiObject' in documents) problemContentType(documents.openapiObject.paths as OpenApiPaths | undefined)
      return applyDocumentedBounds('openapiObject' in documents ? documents.openapiObject : documents.swaggerObject)
    },
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Latchkey',
        version,
        description: 'Self-contained JWT authentication API. Click **Authorize**, enter a username (or email) and password, then use "Try it out" on protected routes.'
      },
      tags: [
        { name: 'auth', description: 'Registration, OAuth2 token endpoint, refresh, logout, revocation' },
        { name: 'users', description: 'The signed-in user: profile, password, sessions' },
        { name: 'tasks', description: "The signed-in user's tasks" },
        { name: 'admin', description: 'Administration (role admin)' },
        { name: 'discovery', description: 'Keys and metadata for other services' },
        { name: 'operations', description: 'Health and readiness' },
        { name: 'fastapi-tutorials', description: 'The paths the FastAPI JWT tutorials use, as aliases of the routes above (TUTORIAL_ROUTES=off removes them)' },
        { name: 'pages', description: 'The pages that password reset and verification mails link to' }
      ],
      components: {
        securitySchemes: {
          OAuth2PasswordBearer: {
            type: 'oauth2',
            description: 'OAuth2 password flow: the token endpoint returns a bearer access token.',
            flows: { password: { tokenUrl: '/auth/token', refreshUrl: '/auth/token', scopes: {} } }
          },
          // The OAuth2 form has no field for a one-time code: TOTP users paste an access token here instead.
          HTTPBearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'Paste an access token from POST /auth/token (users with TOTP: sign in with curl, adding `-d totp=123456`).'
          }
        }
      }
    }
  })
  // The document itself is served by this app, as @fastify/swagger-ui serves it (its /json and /yaml routes).
  app.get('/docs/json', { schema: { hide: true } }, async (_request, reply) => await reply.send(app.swagger()))
  app.get('/docs/yaml', { schema: { hide: true } }, async (_request, reply) => await reply.type('application/x-yaml').send(app.swagger({ yaml: true })))
  // Everything else under /docs (the page, its assets) is answered by Swagger UI, loaded on first use in an
  // app of its own. This app's hooks (security headers, CORS) still run on these routes as they did on the plugin's.
  let ui: Promise<FastifyInstance> | undefined
  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    ui ??= swaggerUiApp(app).catch((err: unknown) => { ui = undefined; throw err })
    // Always a GET: for a HEAD this app's own HEAD route drops the body and keeps its length, as before.
    const answer = await (await ui).inject({ method: 'GET', url: request.url, headers: request.headers })
    // A file Swagger UI does not have is this app's 404, as it was when @fastify/static called callNotFound.
    if (answer.statusCode === 404) return reply.callNotFound()
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !HOP_HEADERS.has(name)) reply.header(name, value)
    }
    // An empty answer (a redirect) is sent without a body, so no content-type is added to it.
    return await reply.code(answer.statusCode).send(answer.rawPayload.length === 0 ? undefined : answer.rawPayload)
  }
  app.addHook('onClose', async () => { if (ui !== undefined) await (await ui).close() })
  app.get('/docs', { schema: { hide: true } }, page)
  app.get('/docs/*', { schema: { hide: true } }, page)
}, { name: 'swagger' })

/** Headers of the inner answer that belong to its own connection, not to the one this app answers on. */
const HOP_HEADERS = new Set(['connection', 'content-length', 'transfer-encoding', 'keep-alive', 'date'])

/** Swagger UI under /docs, its document read from `app`. */
async function swaggerUiApp (app: FastifyInstance): Promise<FastifyInstance> {
  const [{ default: Fastify }, { default: swaggerUi }] = await Promise.all([import('fastify'), import('@fastify/swagger-ui')])
  const ui = Fastify({ logger: false, routerOptions: { ignoreTrailingSlash: true } })
  // What @fastify/swagger-ui needs of @fastify/swagger: the plugin name (a dependency) and the document.
  await ui.register(fp(async (inner) => { inner.decorate('swagger', app.swagger.bind(app)) }, { name: '@fastify/swagger' }))
  await ui.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true, persistAuthorization: false }
  })
  await ui.ready()
  return ui
}
