// Shared TypeBox schemas: error shapes, users, tasks, tokens, pagination.
import { Type, type TSchema } from '@sinclair/typebox'

export const ProblemResponse = Type.Object({
  type: Type.String({ description: 'Problem type URI (about:blank)', examples: ['about:blank'] }),
  title: Type.String({ description: 'HTTP status phrase', examples: ['Unauthorized'] }),
  status: Type.Integer({ description: 'HTTP status code', examples: [401] }),
  detail: Type.String({ description: 'Human-readable explanation', examples: ['Not authenticated'] }),
  errors: Type.Optional(Type.Array(Type.Object({
    field: Type.String({ description: 'JSON pointer to the offending field', examples: ['/email'] }),
    message: Type.String({ examples: ['is required'] })
  }), { description: 'Per-field validation errors (422 only)' }))
}, { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' })

export const OAuthErrorResponse = Type.Object({
  error: Type.String({ description: 'RFC 6749 §5.2 error code', examples: ['invalid_grant'] }),
  error_description: Type.String({ examples: ['Incorrect username or password'] }),
  detail: Type.String({ description: 'The same sentence as error_description, for clients written against FastAPI', examples: ['Incorrect username or password'] }),
  mfa_required: Type.Optional(Type.Boolean({
    description: 'Password grant only: true when the password was right but the account needs a one-time code (send it in `totp`)',
    examples: [true]
  }))
}, { $id: 'OAuthError', description: 'RFC 6749 §5.2 error response' })

/** Response entries for a set of problem statuses, each described for Swagger readers. */
export function problems (...statuses: number[]): Record<number, TSchema> {
  const text: Record<number, string> = {
    400: 'Unparsable body',
    401: 'Missing, invalid or expired access token',
    403: 'Not allowed',
    404: 'Not found',
    409: 'Conflict',
    413: 'Body too large',
    415: 'Unsupported content type',
    422: 'Body, query or field fails validation',
    429: 'Too many requests',
    503: 'Database unavailable'
  }
  return Object.fromEntries(statuses.map((s) => [s, Type.Ref(ProblemResponse, { description: text[s] ?? 'Error' })]))
}

export const oauthErrors = (...statuses: number[]): Record<number, TSchema> =>
  Object.fromEntries(statuses.map((s) => [s, Type.Ref(OAuthErrorResponse)]))

export const Username = Type.String({
  minLength: 3,
  maxLength: 32,
  pattern: '^[A-Za-z0-9_.-]+$',
  'x-pattern-message': 'must contain only letters A-Z and a-z, digits, "_", "." and "-"',
  description: '3–32 characters of A-Z a-z 0-9 _ . -; unique ignoring case',
  examples: ['alice']
})
// ajv-formats' `email` wants a dot in the domain; the pattern says so to OpenAPI readers too.
export const Email = Type.String({
  format: 'email',
  pattern: '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$',
  'x-pattern-message': 'must be a valid email address',
  maxLength: 254,
  description: 'Email address, stored lower-cased, unique',
  examples: ['alice@example.com']
})
// The policy (8–128 code points after NFKC, src/services/passwords.ts) is what OpenAPI shows. The
// schema only caps the raw input at 512 so that a 10,000-character password never reaches the hash:
// a bound on the raw string cannot be the policy, since NFKC changes lengths ("ﬃ" is "ffi").
export const NewPassword = Type.String({
  maxLength: 512,
  'x-documented': { minLength: 8, maxLength: 128 },
  description: '8–128 characters, counted in code points after Unicode NFKC normalisation (input over 512 ' +
    'characters is refused before that); not the username, the email or a common password',
  examples: ['correct horse battery staple']
})
export const AnyPassword = Type.String({ minLength: 1, maxLength: 512, description: 'The password', examples: ['correct horse battery staple'] })

export const UserResponse = Type.Object({
  id: Type.Integer({ examples: [1] }),
  username: Type.String({ examples: ['alice'] }),
  email: Type.String({ examples: ['alice@example.com'] }),
  email_verified: Type.Boolean({ description: 'Whether the user proved they receive mail at this address', examples: [false] }),
  role: Type.Union([Type.Literal('user'), Type.Literal('admin')], { examples: ['user'] }),
  disabled: Type.Boolean({ examples: [false] }),
  totp_enabled: Type.Boolean({ description: 'Whether sign-in needs a one-time code (TOTP)', examples: [false] }),
  created_at: Type.String({ format: 'date-time', examples: ['2026-01-01T12:00:00.000Z'] })
}, { $id: 'User', description: 'A user account (never any password or hash)' })

export const TokenResponse = Type.Object({
  access_token: Type.String({ description: 'JWT access token' }),
  token_type: Type.Literal('bearer'),
  expires_in: Type.Integer({ description: 'Access token lifetime, seconds', examples: [1800] }),
  refresh_token: Type.Optional(Type.String({ description: 'Opaque refresh token; rotates on every use. Absent with mode=cookie (it is in the cookie)' }))
}, { $id: 'TokenResponse', description: 'OAuth2 token response (RFC 6749 §5.1)' })

export const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size (1–100)', examples: [20] })
export const Cursor = Type.String({ maxLength: 64, description: 'next_cursor from the previous page', examples: ['aWQ6MjA'] })

export const Page = <T extends TSchema>(item: T, description: string) => Type.Object({
  items: Type.Array(item),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Opaque cursor for the next page; null on the last page' })
}, { description })

export const IdParams = Type.Object({
  id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Numeric id' })
})

export const NoContent = Type.Null({ description: 'No content' })

// Either scheme: Swagger UI's OAuth2 password form has no field for a one-time code, so a TOTP user
// signs in elsewhere (curl -d totp=…) and pastes the access token into HTTPBearer.
export const bearer: Array<Record<string, string[]>> = [{ OAuth2PasswordBearer: [] }, { HTTPBearer: [] }]
