// A query error wrapped by drizzle (DrizzleQueryError) carries the bound values in its message and
// `params`: an address, a token or password hash. The mailer's log and the CLI's one line keep only the
// SQL, the SQLite code and the driver's own message (review items 5 and 6).
import t from 'tap'
import { join } from 'node:path'
import { DrizzleQueryError } from 'drizzle-orm'
import { driverError } from '../../src/db/faults.js'
import { loggable } from '../../src/log.js'
import { createMailer } from '../../src/services/mail.js'
import { tempDir } from '../helper.js'

const EMAIL = 'victim@example.com'
const HASH = 'q2w3e4r5t6y7u8i9o0pAsDfGhJkLzXcVbNm1234567'
const wrapped = () => new DrizzleQueryError(
  'insert into "account_tokens" ("user_id", "kind", "email", "token_hash") values (?, ?, ?, ?)', [7, 'reset', EMAIL, HASH],
  Object.assign(new Error('tokens down\nsecond line'), { code: 'SQLITE_CONSTRAINT_TRIGGER' }))

t.test('a mail whose compose step fails on a wrapped query error: logged with the code, without the values', async (t) => {
  const lines: Array<{ level: string, obj: object, msg: string }> = []
  const log = {
    info: (obj: object, msg: string) => { lines.push({ level: 'info', obj, msg }) },
    warn: (obj: object, msg: string) => { lines.push({ level: 'warn', obj, msg }) },
    error: (obj: object, msg: string) => { lines.push({ level: 'error', obj, msg }) }
  }
  const mailer = createMailer({ from: 'Latchkey <no-reply@example.com>', outbox: join(tempDir(t), 'outbox'), log })
  mailer.queue('reset', () => { throw wrapped() })
  await mailer.idle()
  t.equal(lines.length, 1)
  t.match(lines[0], { level: 'error', msg: 'mail could not be composed', obj: { kind: 'reset', error: { code: 'SQLITE_CONSTRAINT_TRIGGER' } } })
  const text = JSON.stringify(lines)
  t.notOk(text.includes(EMAIL), 'no address')
  t.notOk(text.includes(HASH), 'no token hash')
  await mailer.close()
})

t.test('loggable and driverError keep the code and the driver message only', async (t) => {
  const safe = JSON.stringify(loggable(wrapped()))
  t.notOk(safe.includes(EMAIL) || safe.includes(HASH))
  t.match(safe, /SQLITE_CONSTRAINT_TRIGGER/)
  t.same(driverError(wrapped()), { code: 'SQLITE_CONSTRAINT_TRIGGER', message: 'tokens down' }, 'first line of the driver message')
  t.same(driverError(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' })), { code: 'SQLITE_IOERR_WRITE', message: 'disk I/O error' })
  t.equal(driverError(new Error('not a database error')), undefined)
  t.equal(driverError(Object.assign(new Error('x'), { code: 'ENOENT' })), undefined)
})
