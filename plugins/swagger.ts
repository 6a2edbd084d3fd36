// OpenAPI 3 document at /docs/json and Swagger UI at /docs, whose Authorize button runs the password flow.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
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
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true, persistAuthorization: false }
  })
}, { name: 'swagger' })
