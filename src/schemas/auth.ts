// Auth: registration, the OAuth2 form bodies (token, revoke), the JSON refresh and logout bodies, the token response.
import { Type, type Static } from '@sinclair/typebox'
import { ModeField } from './cookie-mode.js'
import { Email, NewPassword, Username } from './users.js'

export const RegisterBody = Type.Object({
  username: Username,
  email: Email,
  password: NewPassword
})

export const FormField = (description: string, examples?: string[]) =>
  Type.Optional(Type.String({ maxLength: 1024, description, ...(examples ? { examples } : {}) }))

export const TokenBody = Type.Object({
  grant_type: FormField('`password` (the default when omitted) or `refresh_token`', ['password']),
  username: FormField('Password grant: the username or the email, any case', ['alice']),
  password: FormField('Password grant: the password', ['correct horse battery staple']),
  totp: FormField('Password grant, accounts with TOTP on: the current 6-digit code or an unused recovery code (ignored otherwise)', ['123456']),
  refresh_token: FormField('Refresh grant: the refresh token'),
  scope: FormField('Accepted and ignored (v1 grants no scopes)'),
  client_id: FormField('Accepted and ignored'),
  client_secret: FormField('Accepted and ignored'),
  mode: ModeField
}, { description: 'application/x-www-form-urlencoded (RFC 6749 §4.3, §6)' })

export const RefreshBody = Type.Object({
  refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'The current refresh token (required unless mode=cookie)' })),
  mode: ModeField
})

export const LogoutBody = Type.Object({
  refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Ends the session this refresh token belongs to' })),
  all: Type.Optional(Type.Boolean({ description: 'With a bearer token: end every session of the user', examples: [true] })),
  mode: ModeField
})

export const RevokeBody = Type.Object({
  token: Type.String({ maxLength: 1024, description: 'The refresh or access token to revoke' }),
  token_type_hint: FormField('`refresh_token` or `access_token`; a hint only', ['refresh_token'])
}, { description: 'application/x-www-form-urlencoded (RFC 7009)' })

export const TokenResponse = Type.Object({
  access_token: Type.String({ description: 'JWT access token' }),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Access token lifetime, seconds', examples: [1800] }),
  refresh_token: Type.Optional(Type.String({ description: 'Opaque refresh token; rotates on every use. Absent with mode=cookie (it is in the cookie)' }))
}, { $id: 'TokenResponse', description: 'OAuth2 token response (RFC 6749 §5.1)' })

export type RegisterInput = Static<typeof RegisterBody>
