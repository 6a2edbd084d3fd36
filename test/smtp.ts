// A real SMTP server (smtp-server) on a free loopback port for tests: it collects what nodemailer
// sends, parsed with mailparser, and can refuse the first N messages to exercise retries.
import type { Test } from 'tap'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'

export interface Inbox {
  /** smtp://tester:secret@127.0.0.1:<port> */
  url: string
  mails: ParsedMail[]
  /** Users that authenticated. */
  logins: string[]
  /** Resolves with the n-th mail (0-based) once it has arrived. */
  mail: (n: number) => Promise<ParsedMail>
  /** Messages refused so far (see `refuseFirst`). */
  refused: number
}

export async function startSmtp (t: Test, opts: { refuseFirst?: number } = {}): Promise<Inbox> {
  const waiters: Array<{ n: number, resolve: (m: ParsedMail) => void }> = []
  const inbox: Inbox = {
    url: '',
    mails: [],
    logins: [],
    refused: 0,
    mail: async (n) => inbox.mails[n] ?? await new Promise((resolve) => waiters.push({ n, resolve }))
  }
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth (auth, _session, callback) {
      if (auth.username === 'tester' && auth.password === 'secret') {
        inbox.logins.push(auth.username)
        callback(null, { user: auth.username })
      } else {
        callback(new Error('Invalid username or password'))
      }
    },
    onData (stream, _session, callback) {
      simpleParser(stream).then((parsed) => {
        if (inbox.refused < (opts.refuseFirst ?? 0)) {
          inbox.refused += 1
          callback(Object.assign(new Error('Try again later'), { responseCode: 451 }))
          return
        }
        inbox.mails.push(parsed)
        for (const w of waiters.filter((w) => w.n < inbox.mails.length)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(inbox.mails[w.n])
        }
        callback()
      }, callback)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.server.address() as AddressInfo
  inbox.url = `smtp://tester:secret@127.0.0.1:${port}`
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return inbox
}

/** The link in a mail's text body that starts with `prefix`, and its token. */
export function linkIn (mail: ParsedMail, prefix: string): { link: string, token: string } {
  const link = (mail.text ?? '').split('\n').find((line) => line.startsWith(prefix))
  if (link === undefined) throw new Error(`no link starting with ${prefix} in: ${mail.text}`)
  return { link, token: new URL(link).searchParams.get('token') ?? '' }
}

/** A pino destination that keeps every log line as an object. */
export function logLines (): { lines: Array<Record<string, unknown>>, stream: { write: (s: string) => void } } {
  const lines: Array<Record<string, unknown>> = []
  return { lines, stream: { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>) } } }
}
