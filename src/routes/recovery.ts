// Password reset and email verification: forgot, reset, verify, and resending the verification mail.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { bearer, NoContent, ProblemResponse, problems } from '../schemas/common.js'
import { Email, NewPassword } from '../schemas/users.js'
import { FORGOT_ANSWER, VERIFICATION_ANSWER } from '../services/recovery.js'

const BODY_LIMIT = 16 * 1024

const LinkToken = Type.String({ minLength: 1, maxLength: 256, description: 'The `token` query parameter of the link in the mail' })

const ForgotBody = Type.Object({ email: Email })
const ResetBody = Type.Object({ token: LinkToken, new_password: NewPassword })
const VerifyBody = Type.Object({ token: LinkToken })

const Accepted = (detail: string, description: string) => Type.Object({
  detail: Type.String({ description: 'Always this sentence', examples: [detail] })
}, { description })

/** 400 on these routes is also the answer to an unknown, used or expired link. */
const badLink = (what: string) => ({
  400: Type.Ref(ProblemResponse, { description: `Unparsable body, or the ${what} link is unknown, used or expired` })
})

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const rateLimit = app.authRateLimit

  app.post('/auth/password/forgot', {
    config: { rateLimit },
    bodyLimit: BODY_LIMIT,
    schema: {
      tags: ['auth'],
      summary: 'Mail a password reset link',
      description: 'Answers 202 with the same sentence for every well-formed address, known or not; the lookup and the ' +
        'mail happen after the answer. At most one reset mail per address per 60 s.',
      body: ForgotBody,
      response: { 202: Accepted(FORGOT_ANSWER, 'Accepted (whether or not the address has an account)'), ...problems(400, 413, 415, 422, 429) }
    }
  }, async (request, reply) => {
    app.recovery.requestPasswordReset(request.body.email, request.auditContext)
    return reply.code(202).send({ detail: FORGOT_ANSWER })
  })

  app.post('/auth/password/reset', {
    config: { rateLimit },
    bodyLimit: BODY_LIMIT,
    schema: {
      tags: ['auth'],
      summary: 'Set a new password with the token from a reset link',
      description: 'The password policy applies (422, and the link stays usable). On success the link is used up, the ' +
        "user's other reset links are retired and every session of the user ends.",
      body: ResetBody,
      response: { 204: NoContent, ...problems(413, 415, 422, 429), ...badLink('reset') }
    }
  }, async (request, reply) => {
    await app.recovery.resetPassword(request.body.token, request.body.new_password, request.auditContext)
    return reply.code(204).send(null)
  })

  app.post('/auth/email/verify', {
    config: { rateLimit },
    bodyLimit: BODY_LIMIT,
    schema: {
      tags: ['auth'],
      summary: 'Verify the email address with the token from a verification link',
      description: 'Sets `email_verified: true`. A link sent to an address the user has since changed verifies nothing.',
      body: VerifyBody,
      response: { 204: NoContent, ...problems(413, 415, 422, 429), ...badLink('verification') }
    }
  }, async (request, reply) => {
    await app.recovery.verifyEmail(request.body.token, request.auditContext)
    return reply.code(204).send(null)
  })

  app.post('/users/me/email/verification', {
    onRequest: app.authenticate,
    schema: {
      tags: ['users'],
      summary: 'Mail me a new verification link',
      description: 'At most one verification mail per 60 s (429 with Retry-After); an address already verified is a 409.',
      security: bearer,
      response: { 202: Accepted(VERIFICATION_ANSWER, 'Accepted: the mail goes out after this answer'), ...problems(401, 409, 429) }
    }
  }, async (request, reply) => {
    await app.recovery.resendVerification(request.account, request.auditContext)
    return reply.code(202).send({ detail: VERIFICATION_ANSWER })
  })
}

export default routes
