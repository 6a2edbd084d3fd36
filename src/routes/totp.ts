// TOTP routes: the signed-in user's enrolment, confirmation and turning it off; the admin's reset.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RateLimitOptions } from '@fastify/rate-limit'
import { notFound, Problem } from '../errors.js'
import { bearer, IdParams, NoContent, problems } from '../schemas/common.js'
import { AnyPassword } from '../schemas/users.js'
import { qrSvg, TotpRefused, type TotpRefusal } from '../services/totp.js'
import { noStore } from './no-store.js'

const Code = (description: string) => Type.String({ minLength: 1, maxLength: 64, description, examples: ['123456'] })

const EnrolBody = Type.Object({ password: AnyPassword })
const ConfirmBody = Type.Object({ code: Code('The current 6-digit code from the authenticator app') })
const DisableBody = Type.Object({
  password: AnyPassword,
  code: Code('The current 6-digit code, or an unused recovery code')
})

const EnrolmentResponse = Type.Object({
  secret: Type.String({ description: 'The shared secret, base32 (for typing into an app by hand); shown only in this answer', examples: ['JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'] }),
  otpauth_uri: Type.String({
    description: 'otpauth:// URI (issuer Latchkey, label the username; SHA-1, 6 digits, 30 s)',
    examples: ['otpauth://totp/Latchkey:alice?issuer=Latchkey&secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30']
  }),
  qr_svg: Type.String({ description: 'The URI as an SVG QR code, to scan with an authenticator app', examples: ['<svg xmlns="http://www.w3.org/2000/svg" …</svg>'] })
}, { description: 'Pending enrolment: confirm it with a code from the app' })

const RecoveryCodesResponse = Type.Object({
  recovery_codes: Type.Array(Type.String({ examples: ['k7f3-q9xm-2hdp-w4ra'] }), {
    minItems: 10, maxItems: 10, description: 'Ten single-use codes for when the device is lost: shown this once, stored hashed'
  })
}, { description: 'TOTP is on; every other session of the user has ended' })

const REFUSALS: Record<TotpRefusal, () => Problem> = {
  already_enabled: () => new Problem(409, 'TOTP is already enabled: turn it off before enrolling again'),
  nothing_pending: () => new Problem(409, 'No TOTP enrolment is pending: start one with POST /users/me/totp'),
  not_enabled: () => new Problem(409, 'TOTP is not enabled'),
  wrong_code: () => new Problem(403, 'The one-time code is incorrect')
}

/** Service refusals become problems, so the per-account throttle counts wrong codes like wrong passwords (403). */
async function refusalsAsProblems<T> (action: () => Promise<T>): Promise<T> {
  try {
    return await action()
  } catch (err) {
    if (err instanceof TotpRefused) throw REFUSALS[err.reason]()
    throw err
  }
}

export interface TotpRouteOptions {
  /** The per-account guard of the password-checking /users/me routes (src/routes/users.ts). */
  throttled: <T>(userId: number, check: () => Promise<T>) => Promise<T>
  rateLimit: RateLimitOptions | false
}

/** /users/me/totp: registered inside the /users/me plugin, so `authenticate` already ran. */
export const totpSelfRoutes: FastifyPluginAsyncTypebox<TotpRouteOptions> = async (app, { throttled, rateLimit }) => {
  app.post('/users/me/totp', {
    config: { rateLimit },
    schema: {
      tags: ['users'],
      summary: 'Start TOTP enrolment',
      description: 'Checks the password and returns a new secret (as text, otpauth URI and QR code), pending until ' +
        'POST /users/me/totp/confirm. Asking again replaces a pending secret. The secret appears in no other answer.',
      security: bearer,
      body: EnrolBody,
      response: { 201: EnrolmentResponse, ...problems(400, 401, 403, 409, 413, 415, 422, 429) }
    }
  }, async (request, reply) => {
    const { account } = request
    if (account.totpEnabled) throw REFUSALS.already_enabled()
    await throttled(account.id, () => app.users.requirePassword(account, request.body.password))
    const enrolment = await refusalsAsProblems(() => app.totp.enrol(account))
    return noStore(reply.code(201)).send({
      secret: enrolment.secret,
      otpauth_uri: enrolment.otpauthUri,
      qr_svg: await qrSvg(enrolment.otpauthUri)
    })
  })

  app.post('/users/me/totp/confirm', {
    config: { rateLimit },
    schema: {
      tags: ['users'],
      summary: 'Confirm TOTP enrolment with a first code',
      description: 'TOTP is on from now: sign-in needs a code. Returns ten recovery codes, this once. ' +
        'Every other session of the user ends; this one continues.',
      security: bearer,
      body: ConfirmBody,
      response: { 200: RecoveryCodesResponse, ...problems(400, 401, 403, 409, 413, 415, 422, 429) }
    }
  }, async (request, reply) => {
    const codes = await throttled(request.account.id, () =>
      refusalsAsProblems(() => app.totp.confirm(request.account.id, request.body.code, request.sessionId, request.auditContext)))
    return noStore(reply).send({ recovery_codes: codes })
  })

  app.delete('/users/me/totp', {
    config: { rateLimit },
    schema: {
      tags: ['users'],
      summary: 'Turn TOTP off',
      description: 'Needs the password and a current code or an unused recovery code. The secret and the recovery codes are deleted.',
      security: bearer,
      body: DisableBody,
      response: { 204: NoContent, ...problems(400, 401, 403, 409, 413, 415, 422, 429) }
    }
  }, async (request, reply) => {
    const { account } = request
    if (!account.totpEnabled) throw REFUSALS.not_enabled()
    await throttled(account.id, async () => {
      await app.users.requirePassword(account, request.body.password)
      await refusalsAsProblems(() => app.totp.disable(account.id, request.body.code, request.auditContext, request.sessionId))
    })
    return reply.code(204).send(null)
  })
}

/** DELETE /users/{id}/totp: registered inside the admin plugin (authenticate + requireAdmin). */
export const totpAdminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.delete('/users/:id/totp', {
    schema: {
      tags: ['admin'],
      summary: 'Turn a user’s TOTP off (lost device)',
      description: 'Deletes the secret (pending or confirmed) and the recovery codes; the user signs in with the password alone. ' +
        'Idempotent: 204 also when TOTP was off.',
      security: bearer,
      params: IdParams,
      response: { 204: NoContent, ...problems(401, 403, 404) }
    }
  }, async (request, reply) => {
    if (!await app.totp.reset(request.params.id, request.auditContext)) throw notFound('User not found')
    return reply.code(204).send(null)
  })
}
