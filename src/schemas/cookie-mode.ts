// Schemas for browser apps (mode=cookie): the request field, the Set-Cookie response header and the cookie parameter.
import { Type } from '@sinclair/typebox'

const MODE_TEXT = '`cookie`: the refresh token travels in the httpOnly `latchkey_refresh` cookie (Path=/auth) instead of the body; ' +
  'needs an `Origin` that is the server\'s own or one of `CORS_ORIGINS` (else 403). `json` (the default): in the body.'

/** `mode`: where the refresh token travels. An enum, so a wrong value says which values are allowed. */
export const ModeField = Type.Optional(Type.Unsafe<'json' | 'cookie'>({
  type: 'string', enum: ['json', 'cookie'], description: MODE_TEXT, examples: ['cookie']
}))

/** Response headers of a token response in cookie mode (OpenAPI only: plain JSON schema, since @fastify/swagger copies it as is). */
export const SetRefreshCookie = {
  'Set-Cookie': {
    type: 'string',
    description: 'With mode=cookie only: `latchkey_refresh=<refresh token>; Max-Age=<REFRESH_TOKEN_TTL>; Path=/auth; HttpOnly; Secure; SameSite=Strict` ' +
      '(`Secure` unless COOKIE_SECURE=false); on logout the same cookie with `Max-Age=0`, which clears it.'
  }
}

/** The cookie a browser sends back (an OpenAPI cookie parameter; Fastify itself does not validate cookies). */
export const RefreshCookieParam = Type.Object({
  latchkey_refresh: Type.Optional(Type.String({
    description: 'The refresh token set by a mode=cookie login; read only with mode=cookie (or by a bodiless logout)'
  }))
})
