// Discovery for other services: the public signing keys (JWKS) and RFC 8414 server metadata.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const Jwk = Type.Object({
  kty: Type.String({ examples: ['OKP'] }),
  crv: Type.String({ examples: ['Ed25519'] }),
  x: Type.String(),
  kid: Type.String({ description: 'RFC 7638 thumbprint' }),
  alg: Type.String({ examples: ['EdDSA'] }),
  use: Type.String({ examples: ['sig'] })
})

const Metadata = Type.Object({
  issuer: Type.String({ examples: ['http://127.0.0.1:8000'] }),
  token_endpoint: Type.String({ examples: ['http://127.0.0.1:8000/auth/token'] }),
  revocation_endpoint: Type.String(),
  jwks_uri: Type.String(),
  grant_types_supported: Type.Array(Type.String(), { examples: [['password', 'refresh_token']] }),
  response_types_supported: Type.Array(Type.String(), { description: 'Empty: there is no authorization endpoint' }),
  token_endpoint_auth_methods_supported: Type.Array(Type.String()),
  revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  scopes_supported: Type.Array(Type.String()),
  service_documentation: Type.String()
}, { description: 'Authorization server metadata (RFC 8414)' })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const issuer = app.config.JWT_ISSUER
  const metadata = {
    issuer,
    token_endpoint: `${issuer}/auth/token`,
    revocation_endpoint: `${issuer}/auth/revoke`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    grant_types_supported: ['password', 'refresh_token'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    scopes_supported: [],
    service_documentation: `${issuer}/docs`
  }

  app.get('/.well-known/jwks.json', {
    schema: {
      tags: ['discovery'],
      summary: 'Public signing keys (JWK Set)',
      description: 'Verify access tokens by `kid`. Empty `keys` in HS256 mode (the secret is never published).',
      response: { 200: Type.Object({ keys: Type.Array(Jwk) }, { description: 'JWK Set (RFC 7517)' }) }
    }
  }, async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(app.jwks))

  app.get('/.well-known/oauth-authorization-server', {
    schema: {
      tags: ['discovery'],
      summary: 'OAuth 2.0 authorization server metadata (RFC 8414)',
      response: { 200: Metadata }
    }
  }, async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(metadata))
}

export default routes
