// Domain errors: what the services refuse, in their own terms. The error plugin (plugins/errors.ts) maps each
// to an HTTP problem; the CLI (src/cli.ts) prints the same sentence. No service throws an HTTP error.
import type { FieldError } from '../errors.js'

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

/** The current password given to confirm a change is wrong. */
export class WrongPassword extends DomainError {
  readonly status = 403
  constructor () { super('Current password is incorrect'); this.name = 'WrongPassword' }
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
