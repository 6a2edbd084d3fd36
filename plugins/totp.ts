// The TOTP service: loads (or creates) the encryption key at start, refuses to start with a missing or wrong one.
import fp from 'fastify-plugin'
import type { UserRow } from '../src/db/schema.js'
import { OAuthError } from '../src/errors.js'
import { assertKeyOpens, createTotpCipher, loadOrCreateTotpKey, totpKeyPath } from '../src/services/totp-key.js'
import { loadOrCreateDbTotpKey } from '../src/services/keys-pg.js'
import type { PostgresStore } from '../src/store/postgres.js'
import { countTotpSecrets, createTotpService, sampleTotpSecret, type TotpService } from '../src/services/totp.js'

export const CODE_REQUIRED = 'A one-time code is required'
export const WRONG_CODE = 'Incorrect one-time code'

declare module 'fastify' {
  interface FastifyInstance {
    totp: TotpService & {
      /**
       * The password grant's second step, after the password was verified: undefined when the user may
       * sign in, else the OAuth2 error to answer with (a wrong or missing code is a failed attempt).
       */
      checkLoginCode (user: Pick<UserRow, 'id' | 'totpEnabled'>, code: string | undefined): Promise<OAuthError | undefined>
    }
  }
}

export default fp(async (app) => {
  const { dataDir } = app
  // The key is read before any request, like the signing keys: whether it is needed depends on the database.
  // On PostgreSQL it lives in the database (server_secrets), shared by every instance.
  const pg = app.store.engine === 'postgres' ? (app.store as PostgresStore).db : undefined
  const cipher = createTotpCipher(pg === undefined
    ? loadOrCreateTotpKey(dataDir, await countTotpSecrets(app.store))
    : await loadOrCreateDbTotpKey(pg))
  assertKeyOpens(cipher, pg === undefined ? totpKeyPath(dataDir) : "the TOTP key in PostgreSQL's server_secrets", await sampleTotpSecret(app.store))
  const service = createTotpService(app.store, cipher, { audit: app.audit })

  app.decorate('totp', Object.assign(service, {
    async checkLoginCode (user: Pick<UserRow, 'id' | 'totpEnabled'>, code: string | undefined): Promise<OAuthError | undefined> {
      const verdict = await service.checkLogin(user, code)
      if (verdict === 'ok') return undefined
      return verdict === 'code_required'
        ? new OAuthError(401, 'invalid_grant', CODE_REQUIRED, {}, { mfa_required: true })
        : new OAuthError(401, 'invalid_grant', WRONG_CODE)
    }
  }))
}, { name: 'totp', dependencies: ['config', 'db', 'audit'] })
