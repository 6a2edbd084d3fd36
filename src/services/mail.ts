// Outgoing mail: SMTP through nodemailer when SMTP_URL is set, otherwise .eml files in the dev outbox.
// Sending runs in the background (after the HTTP answer), is retried with backoff, and never throws.
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Transporter } from 'nodemailer'
import { loggable } from '../log.js'

export interface Mail {
  to: string
  subject: string
  text: string
  html: string
}

/** What a mail is for; the only thing besides the file name or SMTP answer that a log line names. */
export type MailKind = 'reset' | 'verify'

/** The part of a pino logger the mailer writes to. */
export interface MailLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

export interface MailerOptions {
  from: string
  /** smtp:// or smtps:// URL; without it mails are written to `outbox`. */
  smtpUrl?: string
  outbox: string
  log: MailLog
  /** Attempts per mail, the first included (default 3). */
  attempts?: number
  /** Delay before the first retry, doubling after each failure (default 1000 ms). */
  retryDelayMs?: number
}

export interface Mailer {
  /** `smtp` or `outbox`: where mails go. */
  readonly transport: 'smtp' | 'outbox'
  /**
   * Run `compose` after the current request is answered and send the mail it returns (nothing when it
   * returns undefined). Errors are logged, never thrown.
   */
  queue: (kind: MailKind, compose: () => Mail | undefined | Promise<Mail | undefined>) => void
  /** Resolves when every queued mail has been sent or given up on. */
  idle: () => Promise<void>
  /** Stop waiting between retries, wait up to `timeoutMs` for pending mails, then close the transport. */
  close: (timeoutMs?: number) => Promise<void>
}

const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 }

/**
 * The parts of an error that say what happened, never the message content: an SMTP error's code and
 * answer, or for a failed query while composing, only the SQL and the driver's code and message (its
 * bound values, an address and a token hash, stay out; see loggable).
 */
const describeError = (err: unknown) => {
  const safe = loggable(err)
  if (safe !== err) return { error: safe }
  const e = err as { code?: unknown, responseCode?: unknown, message?: unknown }
  return { code: e.code, responseCode: e.responseCode, error: typeof e.message === 'string' ? e.message : String(err) }
}

export function createMailer (options: MailerOptions): Mailer {
  const attempts = options.attempts ?? 3
  const retryDelayMs = options.retryDelayMs ?? 1000
  const { log } = options
  const transport = options.smtpUrl === undefined ? 'outbox' : 'smtp'
  // nodemailer is loaded with the first mail, not at start: it is a large module and the server's
  // start (and every CLI command) would pay for it whether or not a mail is ever sent.
  let transporter: Promise<Transporter> | undefined
  const getTransporter = async (): Promise<Transporter> => {
    transporter ??= import('nodemailer').then(({ default: nodemailer }) => options.smtpUrl === undefined
      // streamTransport builds the raw RFC 5322 message (the bytes SMTP would carry) without sending it.
      ? nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' })
      : nodemailer.createTransport({ url: options.smtpUrl, ...SMTP_TIMEOUTS } as Parameters<typeof nodemailer.createTransport>[0]))
    return await transporter
  }

  const pending = new Set<Promise<void>>()
  let closing = false
  const wakers = new Set<() => void>()

  /** Wait before a retry; cut short when the app closes, so shutdown flushes instead of sleeping. */
  const pause = (ms: number) => new Promise<void>((resolve) => {
    if (closing) { resolve(); return }
    const done = () => { clearTimeout(timer); wakers.delete(done); resolve() }
    const timer = setTimeout(done, ms)
    wakers.add(done)
  })

  const makeOutbox = () => {
    try {
      mkdirSync(options.outbox, { mode: 0o700 })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  // The folder is made before the first mail, and again only when a write finds it gone (removed meanwhile).
  let outboxMade = false
  function writeToOutbox (raw: Buffer): string {
    if (!outboxMade) { makeOutbox(); outboxMade = true }
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.eml`
    const file = join(options.outbox, name)
    try {
      writeFileSync(file, raw, { mode: 0o600, flag: 'wx' })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      makeOutbox()
      writeFileSync(file, raw, { mode: 0o600, flag: 'wx' })
    }
    return file
  }

  async function deliver (kind: MailKind, mail: Mail): Promise<void> {
    const message = { from: options.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html }
    for (let attempt = 1; ; attempt++) {
      try {
        const sender = await getTransporter()
        if (transport === 'outbox') {
          const built = await sender.sendMail(message) as unknown as { message: Buffer }
          log.info({ kind, file: writeToOutbox(built.message) }, 'mail written to the outbox')
        } else {
          const info = await sender.sendMail(message) as { messageId?: string, response?: string }
          log.info({ kind, messageId: info.messageId, response: info.response }, 'mail sent over SMTP')
        }
        return
      } catch (err) {
        if (attempt >= attempts) {
          log.error({ kind, attempts, ...describeError(err) }, 'mail could not be sent; giving up')
          return
        }
        const delay = retryDelayMs * 2 ** (attempt - 1)
        log.warn({ kind, attempt, retryInMs: delay, ...describeError(err) }, 'mail failed; retrying')
        await pause(delay)
      }
    }
  }

  return {
    transport,

    queue (kind, compose) {
      const job = new Promise<void>((resolve) => setImmediate(resolve))
        .then(async () => {
          const mail = await compose()
          if (mail !== undefined) await deliver(kind, mail)
        })
        .catch((err: unknown) => { log.error({ kind, ...describeError(err) }, 'mail could not be composed') })
        .finally(() => { pending.delete(job) })
      pending.add(job)
    },

    async idle () {
      while (pending.size > 0) await Promise.all([...pending])
    },

    async close (timeoutMs = 10_000) {
      closing = true
      for (const wake of [...wakers]) wake()
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs) })
      const outcome = await Promise.race([this.idle().then(() => 'done' as const), timeout])
      clearTimeout(timer)
      if (outcome === 'timeout') log.error({ unsent: pending.size }, 'mails still pending at shutdown were dropped')
      if (transporter !== undefined) (await transporter).close()
    }
  }
}
