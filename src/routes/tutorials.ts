// The FastAPI JWT tutorials' own paths (API.md "Coming from the FastAPI tutorials"): aliases of the real
// routes, on unless TUTORIAL_ROUTES=off. The token and signup aliases are registered by src/routes/auth.ts
// with the very handlers of /auth/token and /auth/register; this file holds their documentation, the
// signup username rule and the two tutorial-only pages /secure-data and /admin/dashboard.
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { bearer, problems } from '../schemas/common.js'
import { Email, NewPassword, Username } from '../schemas/users.js'
import { deriveUsername } from '../services/usernames.js'

export const TUTORIAL_TAG = 'fastapi-tutorials'

/** The tutorials' URLs for POST /auth/token (FastAPI's `tokenUrl="token"` and the `/auth/login` habit). */
export const tokenAliases = (config: Config): string[] => config.TUTORIAL_ROUTES ? ['/token', '/auth/login'] : []

/** Schema fields that make an alias's operation its own in OpenAPI; nothing for the real route. */
export function aliasDocs (url: string, of: string): { tags?: string[], summary?: string, description?: string } {
  if (url === of) return {}
  return {
    tags: [TUTORIAL_TAG],
    summary: `${url}: alias of POST ${of} (FastAPI tutorials)`,
    description: `The same handler, fields and answers as \`POST ${of}\`, under the path the FastAPI tutorials use.`
  }
}

export const SignupBody = Type.Object({
  email: Email,
  password: NewPassword,
  username: Type.Optional({
    ...Username,
    description: 'Optional: without it one is derived from the email (its local part, cleaned, then -2, -3, … while taken)'
  })
})

/**
 * POST /users/signup (an email-only signup): the options that go with the register handler. The preHandler
 * fills in a username derived from the email, so the handler sees a complete registration.
 */
export function signupOptions (app: FastifyInstance, rateLimit: FastifyInstance['authRateLimit'], response: Record<number, unknown>) {
  return {
    config: { rateLimit },
    preHandler: async (request: FastifyRequest) => {
      const body = request.body as Static<typeof SignupBody>
      // findByLogin compares usernames ignoring case; a candidate never contains "@", so never matches an email.
      body.username ??= await deriveUsername(body.email.toLowerCase(), async (name) => await app.users.findByLogin(name) !== undefined)
    },
    schema: {
      tags: [TUTORIAL_TAG],
      summary: '/users/signup: alias of POST /auth/register (FastAPI tutorials)',
      description: 'JSON `{ email, password, username? }`. Without `username` one is derived from the email: the lower-cased ' +
        'local part with characters outside `A-Z a-z 0-9 _ . -` as `_`, cut or padded to 3–32, then `-2`, `-3`, … while taken.',
      body: SignupBody,
      response
    }
  }
}

const SecureData = Type.Object({
  message: Type.String({ examples: ['Hello alice, this is sensitive data!'] }),
  status: Type.Literal('Authorized')
}, { description: 'The tutorial’s greeting' })

const Dashboard = Type.Object({
  message: Type.Literal('Welcome to the admin dashboard'),
  users: Type.Integer({ description: 'All users', examples: [42] }),
  admins: Type.Integer({ description: 'Active admins (role admin, not disabled)', examples: [1] }),
  active_sessions: Type.Integer({ description: 'Sessions neither ended nor expired', examples: [17] })
}, { description: 'The tutorial’s admin greeting, with the counts of GET /admin/stats' })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  if (!app.config.TUTORIAL_ROUTES) return
  app.addHook('onRequest', app.authenticate)

  app.get('/secure-data', {
    schema: {
      tags: [TUTORIAL_TAG],
      summary: 'Any signed-in user: the tutorial’s protected example',
      security: bearer,
      response: { 200: SecureData, ...problems(401) }
    }
  }, async (request) => ({ message: `Hello ${request.account.username}, this is sensitive data!`, status: 'Authorized' as const }))

  app.get('/admin/dashboard', {
    onRequest: app.requireAdmin,
    schema: {
      tags: [TUTORIAL_TAG],
      summary: 'Admins only: the tutorial’s role check, with the counts of GET /admin/stats',
      security: bearer,
      response: { 200: Dashboard, ...problems(401, 403) }
    }
  }, async () => ({ message: 'Welcome to the admin dashboard' as const, ...await app.users.stats() }))
}

export default routes
