// Tokens: issuance, refresh and revocation end to end — the access-token signer (one fast-jwt signer per key),
// sessions started, rotated and ended — so each route calls one function per grant.
import { randomUUID } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import type { UserRow } from '../db/schema.js'
import type { TokenResponse } from '../schemas/auth.js'
import type { Role } from '../schemas/users.js'
import type { Static } from '@sinclair/typebox'
import type { AuditContext } from './audit.js'
import type { EndReason, SessionsService } from './sessions.js'

export interface AccessClaims {
  sub: string
  username: string
  role: Role
  sid: number
  jti: string
  iat: number
  exp: number
  iss: string
  aud: string
}

/** The key that signs now: a PEM private key (EdDSA) or the HS256 secret, with the kid it is named by. */
export interface CurrentSigningKey { kid: string, key: string }

export interface SignerOptions {
  algorithm: 'EdDSA' | 'HS256'
  issuer: string
  audience: string
  /** Access-token lifetime, seconds. */
  ttl: number
}

type TokenSubject = Pick<UserRow, 'id' | 'username' | 'role'>

/**
 * Signs access tokens with whichever key `current()` names; one fast-jwt signer per kid, built once, because on
 * PostgreSQL the signing key changes at run time (KEY_REFRESH_INTERVAL) and a signer per token would be slow.
 */
export function createAccessTokenSigner (options: SignerOptions, current: () => CurrentSigningKey) {
  const signers = new Map<string, (payload: object) => string>()
  const signerOf = ({ kid, key }: CurrentSigningKey) => {
    let signer = signers.get(kid)
    if (signer === undefined) {
      signer = createSigner({ key, algorithm: options.algorithm, kid, iss: options.issuer, aud: options.audience, expiresIn: options.ttl * 1000 })
      signers.set(kid, signer)
    }
    return signer
  }
  return (user: TokenSubject, sessionId: number): string =>
    signerOf(current())({ sub: String(user.id), username: user.username, role: user.role, sid: sessionId, jti: randomUUID() })
}

/** The token response (RFC 6749 §5.1) with its refresh token; cookie mode moves that into the cookie (routes/auth.ts). */
export type TokenPair = Static<typeof TokenResponse> & { refresh_token: string }

export type RefreshCount = 'success' | 'invalid' | 'reused'

export interface TokensOptions {
  sessions: SessionsService
  signAccessToken: (user: TokenSubject, sessionId: number) => string
  /** Verify an access token (throws when invalid): revocation accepts access tokens too. */
  verifyAccessToken: (token: string) => Pick<AccessClaims, 'sid'>
  accessTtl: number
  /** Each refresh's outcome (latchkey_refreshes_total{outcome}): a reuse detection is its own outcome. */
  onRefresh?: (outcome: RefreshCount) => void
}

export function createTokensService ({ sessions, signAccessToken, verifyAccessToken, accessTtl, onRefresh }: TokensOptions) {
  const pair = (user: TokenSubject, sessionId: number, refreshToken: string): TokenPair => ({
    access_token: signAccessToken(user, sessionId),
    token_type: 'bearer',
    expires_in: accessTtl,
    refresh_token: refreshToken
  })

  return {
    signAccessToken,

    /** The password grant's answer: a new session and its first token pair. */
    async issueTokenPair (user: TokenSubject, ctx: AuditContext): Promise<TokenPair> {
      const { sessionId, refreshToken } = await sessions.create(user.id, ctx)
      return pair(user, sessionId, refreshToken)
    },

    /** The refresh grant (both refresh routes): the rotated pair, or undefined when the token is invalid, expired, reused or revoked. */
    async refreshTokenPair (refreshToken: string, ctx: AuditContext): Promise<TokenPair | undefined> {
      const outcome = await sessions.refresh(refreshToken, ctx)
      onRefresh?.(outcome.ok ? 'success' : outcome.reason)
      return outcome.ok ? pair(outcome.user, outcome.sessionId, outcome.refreshToken) : undefined
    },

    /** RFC 7009: end the session of a refresh token or of an access token; an unknown or invalid token is no error. */
    async revokeToken (token: string, ctx: AuditContext): Promise<void> {
      // The hint only orders the checks; both kinds are tried (RFC 7009 §2.1).
      const session = await sessions.sessionOfToken(token)
      if (session !== undefined) {
        await sessions.end(session.id, 'revoked', ctx)
        return
      }
      let sid: number | undefined
      try {
        sid = verifyAccessToken(token).sid
      } catch {
        // Not a token we issued, or already invalid: nothing to revoke.
      }
      if (sid !== undefined) await sessions.end(sid, 'revoked', ctx)
    },

    /** Logout: end the session this refresh token belongs to (an unknown token is no error). */
    async endSessionOfRefreshToken (refreshToken: string, reason: EndReason, ctx: AuditContext): Promise<void> {
      const session = await sessions.sessionOfToken(refreshToken)
      if (session !== undefined) await sessions.end(session.id, reason, ctx)
    },

    /** Logout with a bearer token: its own session, or (`all`) every session of the user. */
    async endBearerSessions (userId: number, sessionId: number, all: boolean, ctx: AuditContext): Promise<void> {
      if (all) await sessions.endAll(userId, 'logout_all', ctx)
      else await sessions.end(sessionId, 'logout', ctx)
    }
  }
}

export type TokensService = ReturnType<typeof createTokensService>
