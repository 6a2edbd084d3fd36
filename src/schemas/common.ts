// Shared TypeBox schemas: error shapes, pagination, ids, the bearer security schemes (resources have their own files).
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
