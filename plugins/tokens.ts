// The tokens plugin: decorates `app.tokens` (src/services/tokens.ts) over the sessions service and the auth plugin's signer.
import fp from 'fastify-plugin'
import { createTokensService, type TokensService } from '../src/services/tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Issue, refresh and revoke token pairs: one call per grant. */
    tokens: TokensService
  }
}

export default fp(async (app) => {
  app.decorate('tokens', createTokensService({
    sessions: app.sessions,
    signAccessToken: app.signAccessToken,
    verifyAccessToken: app.verifyAccessToken,
    accessTtl: app.config.ACCESS_TOKEN_TTL,
    onRefresh: (outcome) => { app.metrics.refreshes.inc({ outcome }) }
  }))
}, { name: 'tokens', dependencies: ['config', 'metrics', 'services', 'auth'] })
