// Small typed errors that routes and services throw; plugins/errors.ts turns them into the contract's shapes.

export interface FieldError { field: string, message: string }

/** A field's subject in a sentence: the root pointer "" is the body itself. */
export const fieldSubject = (field: string, root = 'The request body') => field === '' ? root : field

/** One sentence for a list of field errors, for `detail` and `error_description`. */
export function invalidRequestSentence (errors: FieldError[]): string {
  if (errors.length === 1 && errors[0].field === '') return `${fieldSubject('')} ${errors[0].message}`
  return `The request is invalid: ${errors.map((e) => `${fieldSubject(e.field)} ${e.message}`).join('; ')}`
}

/** An RFC 9457 problem: `detail` is the human sentence clients show. */
export class Problem extends Error {
  constructor (
    readonly statusCode: number,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
    readonly errors?: FieldError[]
  ) {
    super(detail)
    this.name = 'Problem'
  }
}

/** An RFC 6749 §5.2 error, used on the OAuth2 endpoints (/auth/token, /auth/revoke). */
export class OAuthError extends Error {
  constructor (
    readonly statusCode: number,
    readonly error: 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type' | 'slow_down' | 'invalid_client',
    readonly description: string,
    readonly headers: Record<string, string> = {},
    /** Extension members of the error body (e.g. `mfa_required`), declared in OAuthErrorResponse. */
    readonly members: Record<string, unknown> = {}
  ) {
    super(description)
    this.name = 'OAuthError'
  }
}

/**
 * The right password for an address not yet verified, while REQUIRE_VERIFIED_EMAIL is on. An OAuthError,
 * so the token endpoint answers 401 invalid_grant; any other route shows it as a problem with the same sentence.
 * No WWW-Authenticate: on the token endpoint that challenge is misread by strict OAuth clients (API.md v2).
 */
export class EmailNotVerified extends OAuthError {
  constructor () {
    super(401, 'invalid_grant', 'Verify your email address before signing in')
    this.name = 'EmailNotVerified'
  }
}

export const notAuthenticated = () =>
  new Problem(401, 'Not authenticated', { 'www-authenticate': 'Bearer' })

// RFC 6750 §3.1: invalid_token, with a description when the token merely expired so clients refresh.
export const invalidToken = (expired = false) =>
  new Problem(401, 'Could not validate credentials', {
    'www-authenticate': expired
      ? 'Bearer error="invalid_token", error_description="The access token expired"'
      : 'Bearer error="invalid_token"'
  })

export const adminRequired = () => new Problem(403, 'Admin access required')
export const notFound = (what = 'Not found') => new Problem(404, what)
export const conflict = (detail: string) => new Problem(409, detail)
export const unprocessable = (errors: FieldError[]) => new Problem(422, invalidRequestSentence(errors), {}, errors)

/** A unique-key violation from either engine (services translate it into a 409). */
export function isUniqueViolation (err: unknown): boolean {
  // SQLite's codes, or PostgreSQL's unique_violation (23505); drizzle may wrap the driver's error in `cause`.
  for (let e = err as { code?: unknown, cause?: unknown } | null | undefined, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === '23505') return true
  }
  return false
}

// Domain errors: what the services refuse, in their own terms. The error plugin (plugins/errors.ts) maps each
// to an HTTP problem; the CLI prints the same sentence. No service throws an HTTP error.

/** A refusal a client can act on; `message` is the sentence shown to people (problem `detail`, CLI output). */
export abstract class DomainError extends Error {
  /** The HTTP status the error plugin answers with. */
  abstract readonly status: 400 | 403 | 404 | 409 | 422 | 429
  /** Extra response headers (Retry-After). */
  readonly headers: Record<string, string> = {}
  /** Field errors, for 422s. */
  readonly errors?: FieldError[]
}

/** A username or email another account holds (the unique indexes decide, so racing requests get one of these). */
export class Taken extends DomainError {
  readonly status = 409
  constructor () { super('Username or email already registered'); this.name = 'Taken' }
}

/** The change would leave no active admin. */
export class LastAdmin extends DomainError {
  readonly status = 409
  constructor () { super('Cannot demote, disable or delete the last active admin'); this.name = 'LastAdmin' }
}

/** The (current) password given to confirm a change is wrong. */
export class WrongPassword extends DomainError {
  readonly status = 403
  constructor (message = 'Current password is incorrect') { super(message); this.name = 'WrongPassword' }
}

/** Another request changed the same thing first (a check made before an await no longer holds). */
export class ChangedMeanwhile extends DomainError {
  readonly status = 409
  constructor (message: string) { super(message); this.name = 'ChangedMeanwhile' }
}

/** The state already is what was asked for, or forbids it (409). */
export class StateConflict extends DomainError {
  readonly status = 409
  constructor (message: string) { super(message); this.name = 'StateConflict' }
}

export class NotFound extends DomainError {
  readonly status = 404
  constructor (message = 'Not found') { super(message); this.name = 'NotFound' }
}

/** A mailed link or other single-use token that is unknown, used, expired or no longer matches (400). */
export class InvalidToken extends DomainError {
  readonly status = 400
  constructor (message: string) { super(message); this.name = 'InvalidToken' }
}

/** Input the rules refuse (password policy, a cursor this server did not issue): 422 with field errors. */
export class InvalidInput extends DomainError {
  readonly status = 422
  override readonly errors: FieldError[]
  constructor (errors: FieldError[], message: string) { super(message); this.name = 'InvalidInput'; this.errors = errors }
}

/** Asked again too soon; `retryAfter` seconds. */
export class TooSoon extends DomainError {
  readonly status = 429
  override readonly headers: Record<string, string>
  constructor (message: string, readonly retryAfter: number) {
    super(message)
    this.name = 'TooSoon'
    this.headers = { 'retry-after': String(retryAfter) }
  }
}
