// The mailer (SMTP or the dev outbox) as `app.mail`; pending mails are flushed when the app closes.
import fp from 'fastify-plugin'
import { join } from 'node:path'
import { createMailer, type Mailer, type MailerOptions } from '../src/services/mail.js'

declare module 'fastify' {
  interface FastifyInstance {
    mail: Mailer
  }
}

export interface MailPluginOptions {
  /** Retry tuning (tests shorten the backoff); production uses the mailer's defaults. */
  retry?: Pick<MailerOptions, 'attempts' | 'retryDelayMs'>
}

export default fp<MailPluginOptions>(async (app, opts) => {
  const { config } = app
  const mail = createMailer({
    from: config.MAIL_FROM,
    smtpUrl: config.SMTP_URL,
    outbox: join(app.dataDir, 'outbox'),
    log: app.log,
    ...opts.retry
  })
  app.decorate('mail', mail)
  app.addHook('onClose', async () => { await mail.close() })
}, { name: 'mail', dependencies: ['config'] })
