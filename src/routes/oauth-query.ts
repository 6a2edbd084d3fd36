// The OAuth2 form endpoints refuse credentials in the query string: URLs end up in proxy logs, browser
// history and Referer headers (RFC 6749 §3.2 and §2.3.1 put them in the body). One tutorial's code reads
// them from the query, so the answer says what to do instead.
import type { onRequestAsyncHookHandler } from 'fastify'
import { OAuthError } from '../errors.js'

export const QUERY_CREDENTIALS = 'Send the credentials as form fields in the request body ' +
  '(application/x-www-form-urlencoded), not in the query string'

/** An onRequest hook: 400 invalid_request when the query string carries any of `fields`. */
export function refuseQueryCredentials (fields: string[]): onRequestAsyncHookHandler {
  const names = new Set(fields)
  return async (request) => {
    const query = request.query
    if (query !== null && typeof query === 'object' && Object.keys(query).some((k) => names.has(k))) {
      throw new OAuthError(400, 'invalid_request', QUERY_CREDENTIALS)
    }
  }
}
