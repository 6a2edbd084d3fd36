// Account recovery and email verification: which mails go out when, and what using their links does.
import type { UserRow } from '../db/schema.js'
import { InvalidToken, StateConflict, TooSoon } from '../errors.js'
import type { Store } from '../store/index.js'
import type { AuditContext, AuditEvent, AuditService } from './audit.js'
import type { AccountTokenKind, AccountTokensService } from './account-tokens.js'
import type { Mail, Mailer } from './mail.js'
import type { UsersService } from './users.js'

/** At most one mail of each kind per address in this many seconds (API.md). */
export const MAIL_INTERVAL_S = 60

export const FORGOT_ANSWER = 'If that address has an account, a reset link is on its way'
export const VERIFICATION_ANSWER = 'A verification link is on its way'
const BAD_RESET = 'The reset link is invalid or has expired'
const BAD_VERIFY = 'The verification link is invalid or has expired'

export interface RecoveryOptions {
  appUrl: string
  ttl: Record<AccountTokenKind, number>
}

/** "30 minutes", "24 hours", "1 second": a lifetime as a mail reader wants to read it. */
export function humanDuration (seconds: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  if (seconds % 86400 === 0 && seconds > 86400) return unit(seconds / 86400, 'day')
  if (seconds % 3600 === 0) return unit(seconds / 3600, 'hour')
  if (seconds % 60 === 0) return unit(seconds / 60, 'minute')
  return unit(seconds, 'second')
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** One mail with a link: the plain-text body and an HTML body saying the same. */
function linkMail (to: string, subject: string, greeting: string, lines: string[], link: string, button: string, footer: string): Mail {
  const text = [greeting, '', ...lines, '', link, '', footer, ''].join('\n')
  const html = '<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">' +
    `<p>${escapeHtml(greeting)}</p>` +
    lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('') +
    `<p><a href="${escapeHtml(link)}">${escapeHtml(button)}</a></p>` +
    `<p>If the button does not work, copy this address into your browser:<br>${escapeHtml(link)}</p>` +
    `<p>${escapeHtml(footer)}</p></body></html>`
  return { to, subject, text, html }
}

export function createRecoveryService (deps: {
  store: Store
  users: UsersService
  tokens: AccountTokensService
  audit: AuditService
  mailer: Mailer
  options: RecoveryOptions
}) {
  const { store, users: usersService, tokens, audit, mailer, options } = deps

  const resetMail = (user: UserRow, token: string): Mail => linkMail(
    user.email,
    'Reset your Latchkey password',
    `Hello ${user.username},`,
    ['Someone (hopefully you) asked to reset the password of your Latchkey account.',
      `To choose a new password, open this link within ${humanDuration(options.ttl.reset)}:`],
    `${options.appUrl}/reset-password?token=${token}`,
    'Choose a new password',
    'If you did not ask for this, ignore this mail: your password stays as it is.')

  const verifyMail = (user: UserRow, token: string): Mail => linkMail(
    user.email,
    'Verify your email address for Latchkey',
    `Hello ${user.username},`,
    [`Please confirm that ${user.email} is your address by opening this link within ${humanDuration(options.ttl.verify)}:`],
    `${options.appUrl}/verify-email?token=${token}`,
    'Verify my email address',
    'If you did not create a Latchkey account, ignore this mail.')

  /** Issue a link token and record the event that it went out, in one transaction. */
  const issueRecorded = async (user: UserRow, kind: 'reset' | 'verify', event: AuditEvent): Promise<string> =>
    await store.transaction(async (tx) => {
      const now = new Date()
      const token = await tokens.issue(user.id, kind, user.email, now, tx)
      await audit.record(event, now, tx)
      return token
    })

  /**
   * Queue a verification mail to the user's current address. Everything that writes (the token, its
   * event) runs in the mail's compose step, after the answer: the change that asked for the mail has
   * committed, and a storage fault now is a logged mail failure, not an error answer for a stored
   * account. Skipped when a verification mail went to the address in the last minute, or when the
   * address changed again meanwhile (that change queued its own mail).
   */
  function queueVerification (user: UserRow, ctx: AuditContext): void {
    mailer.queue('verify', async () => {
      const current = await usersService.findById(user.id)
      if (current === undefined || current.email !== user.email || current.emailVerified) return undefined
      if (await tokens.waitBeforeNext('verify', current.email, MAIL_INTERVAL_S) > 0) return undefined
      const token = await issueRecorded(current, 'verify', { type: 'email.verification_sent', userId: current.id, ...ctx })
      return verifyMail(current, token)
    })
  }

  return {
    /**
     * Forgot password: everything, the lookup included, happens after the answer, so the answer and
     * its timing are the same for every address (API.md: no account enumeration). Whoever asked is not
     * known to own the address: the event has no actor, and an unknown address records nothing.
     */
    requestPasswordReset (email: string, ctx: AuditContext = {}): void {
      mailer.queue('reset', async () => {
        const user = await usersService.findByLogin(email.toLowerCase())
        if (user === undefined || user.disabled || user.email !== email.toLowerCase()) return undefined
        if (await tokens.waitBeforeNext('reset', user.email, MAIL_INTERVAL_S) > 0) return undefined
        const event: AuditEvent = { type: 'password.reset_requested', userId: user.id, ip: ctx.ip, userAgent: ctx.userAgent, actorId: null }
        return resetMail(user, await issueRecorded(user, 'reset', event))
      })
    },

    /** Registration and email changes: mail the (new) address; silently skipped within the minute. */
    sendVerification (user: UserRow, ctx: AuditContext = {}): void {
      queueVerification(user, ctx)
    },

    /** POST /users/me/email/verification: StateConflict (409) when verified, TooSoon (429) within the minute. */
    async resendVerification (user: UserRow, ctx: AuditContext = {}): Promise<void> {
      if (user.emailVerified) throw new StateConflict('The email address is already verified')
      const wait = await tokens.waitBeforeNext('verify', user.email, MAIL_INTERVAL_S)
      if (wait > 0) throw new TooSoon(`A verification mail was sent less than ${MAIL_INTERVAL_S} s ago: retry in ${wait} s`, wait)
      queueVerification(user, ctx)
    },

    /**
     * Set a new password with a reset token: the policy applies (422, the token stays usable), then in one
     * transaction the token is used up, the user's other reset tokens are retired and every session ends
     * (users.setPassword). A link mailed to an address the user no longer has resets nothing. Receiving
     * the link proves the address, so it also counts as verified.
     */
    async resetPassword (token: string, newPassword: string, ctx: AuditContext = {}): Promise<void> {
      const found = await tokens.find(token, 'reset')
      const user = found === undefined ? undefined : await usersService.findById(found.userId)
      if (found === undefined || user === undefined || user.disabled || found.email !== user.email) throw new InvalidToken(BAD_RESET)
      await usersService.setPassword(user, newPassword, {
        event: 'password.reset',
        reason: 'password_reset',
        // Checked again inside the transaction: argon2 ran since, and the email may have changed meanwhile.
        check: async (tx, now) => {
          const current = await tx.userById(user.id)
          if (current === undefined || current.disabled || current.email !== found.email || !await tokens.consume(tx, found.id, now)) {
            throw new InvalidToken(BAD_RESET)
          }
          await tokens.retireOthers(tx, user.id, 'reset', found.id)
          if (current.emailVerified) return undefined
          await audit.record({ type: 'email.verified', userId: user.id, ...ctx, detail: { via: 'password_reset' } }, now, tx)
          return { emailVerified: true }
        }
      }, ctx)
    },

    /** Mark the address verified; a link sent to an address the user no longer has verifies nothing. */
    async verifyEmail (token: string, ctx: AuditContext = {}): Promise<void> {
      const now = new Date()
      await store.transaction(async (tx) => {
        const found = await tokens.find(token, 'verify', now, tx)
        const user = found === undefined ? undefined : await tx.userById(found.userId)
        if (found === undefined || user === undefined || user.email !== found.email || !await tokens.consume(tx, found.id, now)) {
          throw new InvalidToken(BAD_VERIFY)
        }
        if (user.emailVerified) return
        await tx.updateUser(user.id, { emailVerified: true })
        await audit.record({ type: 'email.verified', userId: user.id, ...ctx, detail: { via: 'link' } }, now, tx)
      })
    }
  }
}

export type RecoveryService = ReturnType<typeof createRecoveryService>
