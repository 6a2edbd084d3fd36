// The TOTP service without HTTP, on a pinned clock: RFC 6238 vectors, the ±1 step window, replay, recovery
// codes, enrolment states, sessions ending on confirm, encryption at rest and the key file.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { Secret, TOTP, URI } from 'otpauth'
import { sessions, totpRecoveryCodes, totpSecrets, users } from '../../src/db/schema.js'
import { listKeys, loadOrCreateKeys } from '../../src/services/keys.js'
import {
  assertKeyOpens, createTotpCipher, loadOrCreateTotpKey, TotpKeyError, totpKeyPath
} from '../../src/services/totp-key.js'
import {
  contextOf, countTotpSecrets, createTotpService, resetTotp, sampleTotpSecret, timeStep, TotpRefused, type TotpRefusal
} from '../../src/services/totp.js'
import { openSqliteStore } from '../../src/store/sqlite.js'
import { tempDir } from '../helper.js'
import { codeAt, STEP } from '../totp-codes.js'

// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890"; 8-digit values.
const RFC_SEED = '12345678901234567890'
const RFC_VECTORS: Array<[seconds: number, code: string]> = [
  [59, '94287082'], [1111111109, '07081804'], [1111111111, '14050471'],
  [1234567890, '89005924'], [2000000000, '69279037'], [20000000000, '65353130']
]

// A moment in the middle of a step, so "previous step" and "two steps old" are exact.
const T0 = 1_800_000_000 * 1000 + 15_000

function setup (t: Test) {
  const dir = tempDir(t)
  const store = openSqliteStore(join(dir, 'latchkey.db'))
  const { db, sqlite } = store
  t.teardown(() => store.close())
  const clock = { now: T0 }
  const cipher = createTotpCipher(randomBytes(32))
  const service = createTotpService(store, cipher, { clock: () => clock.now })
  let n = 0
  const addUser = () => {
    n += 1
    return db.insert(users).values({ username: `u${n}`, email: `u${n}@example.com`, passwordHash: 'x', createdAt: new Date() }).returning().all()[0]
  }
  const userRow = (id: number) => db.select().from(users).where(eq(users.id, id)).get()!
  return { dir, store, db, sqlite, clock, cipher, service, addUser, userRow }
}

async function refusalOf (t: Test, action: () => Promise<unknown>): Promise<TotpRefusal | undefined> {
  try {
    await action()
  } catch (err) {
    if (err instanceof TotpRefused) return err.reason
    throw err
  }
  t.fail('expected a refusal')
  return undefined
}

/** An enrolled, confirmed user; confirmation used the code of the step at `clock.now`. */
async function enabledUser (s: ReturnType<typeof setup>) {
  const user = s.addUser()
  const { secret } = await s.service.enrol(user)
  const recovery = await s.service.confirm(user.id, codeAt(secret, s.clock.now), 0)
  return { user: s.userRow(user.id), secret, recovery }
}

t.test('RFC 6238 Appendix B SHA-1 vectors (otpauth, 8 digits)', async (t) => {
  const secret = Secret.fromLatin1(RFC_SEED)
  for (const [seconds, code] of RFC_VECTORS) {
    t.equal(TOTP.generate({ secret, algorithm: 'SHA1', digits: 8, period: 30, timestamp: seconds * 1000 }), code, `T=${seconds}`)
  }
})

t.test('the service accepts the RFC vectors (their last 6 digits) for the RFC seed', async (t) => {
  const s = setup(t)
  const user = s.addUser()
  // The seed as it would be stored after an enrolment: encrypted for this user, then confirmed.
  s.db.insert(totpSecrets).values({
    userId: user.id, secretEncrypted: s.cipher.encrypt(Secret.fromLatin1(RFC_SEED).base32, contextOf(user.id)), createdAt: new Date(), confirmedAt: new Date()
  }).run()
  s.db.update(users).set({ totpEnabled: true }).where(eq(users.id, user.id)).run()
  for (const [seconds, code] of RFC_VECTORS) {
    s.clock.now = seconds * 1000
    t.equal(timeStep(s.clock.now), Math.floor(seconds / 30))
    t.equal(await s.service.checkLogin(s.userRow(user.id), code.slice(2)), 'ok', `T=${seconds}: ${code.slice(2)}`)
  }
})

t.test('a code is accepted ±1 step, never two steps away, and each step only once', async (t) => {
  t.test('the previous step is accepted', async (t) => {
    const s = setup(t)
    s.clock.now = T0 - 10 * STEP // confirm long ago, so the steps below are all newer
    const { user, secret } = await enabledUser(s)
    s.clock.now = T0
    t.equal(await s.service.checkLogin(user, codeAt(secret, T0 - STEP)), 'ok')
    t.equal(await s.service.checkLogin(user, codeAt(secret, T0 - STEP)), 'wrong_code', 'the same code again: replay')
  })
  t.test('a code two steps old is refused', async (t) => {
    const s = setup(t)
    s.clock.now = T0 - 10 * STEP
    const { user, secret } = await enabledUser(s)
    s.clock.now = T0
    t.equal(await s.service.checkLogin(user, codeAt(secret, T0 - 2 * STEP)), 'wrong_code')
    t.equal(await s.service.checkLogin(user, codeAt(secret, T0 + 2 * STEP)), 'wrong_code', 'two steps ahead too')
    t.equal(await s.service.checkLogin(user, codeAt(secret, T0 + STEP)), 'ok', 'the next step is accepted')
  })
  t.test('replay: the current code works once; an older step after a newer one is refused', async (t) => {
    const s = setup(t)
    s.clock.now = T0 - 10 * STEP
    const { user, secret } = await enabledUser(s)
    s.clock.now = T0
    t.equal(await s.service.checkLogin(user, codeAt(secret, T0)), 'ok')
    t.equal(await s.service.checkLogin(user, codeAt(secret, T0)), 'wrong_code', 'the same code a second time')
    t.equal(await s.service.checkLogin(user, codeAt(secret, T0 - STEP)), 'wrong_code', 'the previous step, after the current one was used')
    s.clock.now = T0 + STEP
    t.equal(await s.service.checkLogin(user, codeAt(secret, T0 + STEP)), 'ok', 'the next step works')
    t.equal(s.db.select().from(totpSecrets).where(eq(totpSecrets.userId, user.id)).get()!.lastUsedStep, timeStep(T0 + STEP))
  })
  t.test('the code that confirmed the enrolment cannot sign in', async (t) => {
    const s = setup(t)
    const { user, secret } = await enabledUser(s)
    t.equal(await s.service.checkLogin(user, codeAt(secret, T0)), 'wrong_code')
  })
  t.test('spaces in a code are ignored; other shapes are wrong codes', async (t) => {
    const s = setup(t)
    s.clock.now = T0 - 10 * STEP
    const { user, secret } = await enabledUser(s)
    s.clock.now = T0
    const code = codeAt(secret, T0)
    t.equal(await s.service.checkLogin(user, '12345'), 'wrong_code')
    t.equal(await s.service.checkLogin(user, 'abcdef'), 'wrong_code')
    t.equal(await s.service.checkLogin(user, `${code.slice(0, 3)} ${code.slice(3)}`), 'ok')
  })
})

t.test('checkLogin: no TOTP passes; TOTP without a code asks for one', async (t) => {
  const s = setup(t)
  const plain = s.addUser()
  t.equal(await s.service.checkLogin(plain, undefined), 'ok')
  t.equal(await s.service.checkLogin(plain, '000000'), 'ok', 'a code sent by a user without TOTP is ignored')
  const { user } = await enabledUser(s)
  t.equal(await s.service.checkLogin(user, undefined), 'code_required')
  t.equal(await s.service.checkLogin(user, ''), 'code_required')
  t.equal(await s.service.checkLogin(user, '  '), 'code_required')
})

t.test('recovery codes: ten, distinct, stored hashed, each works once', async (t) => {
  const s = setup(t)
  const { user, recovery } = await enabledUser(s)
  t.equal(recovery.length, 10)
  t.equal(new Set(recovery).size, 10)
  for (const code of recovery) t.match(code, /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/)
  const stored = s.db.select().from(totpRecoveryCodes).where(eq(totpRecoveryCodes.userId, user.id)).all()
  t.equal(stored.length, 10)
  const dump = JSON.stringify(stored)
  for (const code of recovery) t.notOk(dump.includes(code) || dump.includes(code.replace(/-/g, '')), 'no code in clear')

  t.equal(await s.service.checkLogin(user, recovery[0]), 'ok')
  t.equal(await s.service.checkLogin(user, recovery[0]), 'wrong_code', 'a used recovery code is refused')
  t.equal(await s.service.checkLogin(user, recovery[1].toUpperCase().replace(/-/g, ' ')), 'ok', 'any case, spaces for dashes')
  t.equal(await s.service.checkLogin(user, recovery[1]), 'wrong_code')
  t.equal(await s.service.checkLogin(user, 'aaaa-bbbb-cccc-dddd'), 'wrong_code', 'an invented code')
  const other = await enabledUser(s)
  t.equal(await s.service.checkLogin(other.user, recovery[2]), 'wrong_code', "another user's code")
  for (const code of recovery.slice(2)) t.equal(await s.service.checkLogin(user, code), 'ok')
  t.equal(s.db.select().from(totpRecoveryCodes).where(eq(totpRecoveryCodes.userId, user.id)).all().filter((r) => r.usedAt === null).length, 0)
})

t.test('enrolment states', async (t) => {
  const s = setup(t)
  const user = s.addUser()
  t.equal(await refusalOf(t, () => s.service.confirm(user.id, '123456', 0)), 'nothing_pending')
  const first = await s.service.enrol(user)
  const uri = URI.parse(first.otpauthUri) as TOTP
  t.match(uri, { issuer: 'Latchkey', label: user.username, algorithm: 'SHA1', digits: 6, period: 30 })
  t.equal(uri.secret.base32, first.secret)
  t.equal(Secret.fromBase32(first.secret).bytes.length, 20, '160-bit secret')
  t.equal(s.userRow(user.id).totpEnabled, false, 'pending: not enabled yet')
  t.equal(await s.service.checkLogin(s.userRow(user.id), undefined), 'ok', 'a pending enrolment does not change sign-in')

  const second = await s.service.enrol(user)
  t.not(second.secret, first.secret, 'asking again replaces the pending secret')
  t.equal(s.db.select().from(totpSecrets).where(eq(totpSecrets.userId, user.id)).all().length, 1)
  t.equal(await refusalOf(t, () => s.service.confirm(user.id, codeAt(first.secret, T0), 0)), 'wrong_code', 'the replaced secret no longer confirms')
  t.equal(await refusalOf(t, () => s.service.confirm(user.id, 'nope', 0)), 'wrong_code')
  await s.service.confirm(user.id, codeAt(second.secret, T0), 0)
  t.equal(s.userRow(user.id).totpEnabled, true)
  t.equal(await refusalOf(t, () => s.service.enrol(user)), 'already_enabled')
  t.equal(await refusalOf(t, () => s.service.confirm(user.id, codeAt(second.secret, T0 + STEP), 0)), 'already_enabled')

  t.test('disable needs a fresh code or a recovery code', async (t) => {
    const { user, secret, recovery } = await enabledUser(s)
    t.equal(await refusalOf(t, () => s.service.disable(user.id, codeAt(secret, T0))), 'wrong_code', 'the confirming code again')
    t.equal(await refusalOf(t, () => s.service.disable(user.id, '000000')), 'wrong_code')
    await s.service.disable(user.id, recovery[3])
    t.equal(s.userRow(user.id).totpEnabled, false)
    t.equal(s.db.select().from(totpRecoveryCodes).where(eq(totpRecoveryCodes.userId, user.id)).all().length, 0)
    t.equal(await refusalOf(t, () => s.service.disable(user.id, recovery[4])), 'not_enabled')
    const again = await enabledUser(s)
    s.clock.now = T0 + STEP
    await s.service.disable(again.user.id, codeAt(again.secret, T0 + STEP))
    t.equal(s.userRow(again.user.id).totpEnabled, false)
  })
})

t.test('confirming ends every other session of the user, in the same transaction', async (t) => {
  const s = setup(t)
  const startSession = async (userId: number) =>
    ({ sessionId: await s.store.insertSession({ userId, now: new Date(), expiresAt: new Date(Date.now() + 3600_000), userAgent: null, ip: null }) })
  const user = s.addUser()
  const bystander = s.addUser()
  const keep = await startSession(user.id)
  const other = await startSession(user.id)
  const theirs = await startSession(bystander.id)
  const { secret } = await s.service.enrol(user)
  await s.service.confirm(user.id, codeAt(secret, T0), keep.sessionId)
  const byId = (id: number) => s.db.select().from(sessions).where(eq(sessions.id, id)).get()!
  t.equal(byId(keep.sessionId).endedAt, null, 'the confirming session continues')
  t.match(byId(other.sessionId), { endReason: 'totp_enabled' })
  t.not(byId(other.sessionId).endedAt, null)
  t.equal(byId(theirs.sessionId).endedAt, null, "another user's session is untouched")
})

t.test('secrets are encrypted at rest: AES-256-GCM, a random IV each, bound to the user', async (t) => {
  const s = setup(t)
  const user = s.addUser()
  const { secret } = await s.service.enrol(user)
  const row = s.db.select().from(totpSecrets).where(eq(totpSecrets.userId, user.id)).get()!
  t.notOk(row.secretEncrypted.includes(secret), 'not stored in clear')
  const [format, iv, tag] = row.secretEncrypted.split('.')
  t.equal(format, 'v1')
  t.equal(Buffer.from(iv, 'base64url').length, 12, '96-bit IV')
  t.equal(Buffer.from(tag, 'base64url').length, 16, '128-bit tag')
  t.equal(s.cipher.decrypt(row.secretEncrypted, contextOf(user.id)), secret)
  t.not(s.cipher.encrypt(secret, 'x'), s.cipher.encrypt(secret, 'x'), 'a fresh IV every time')
  t.throws(() => s.cipher.decrypt(row.secretEncrypted, contextOf(user.id + 1)), 'another user\'s context does not open it')
  t.throws(() => createTotpCipher(randomBytes(32)).decrypt(row.secretEncrypted, contextOf(user.id)), 'another key does not open it')
  const tampered = row.secretEncrypted.slice(0, -2) + (row.secretEncrypted.endsWith('A') ? 'BB' : 'AA')
  t.throws(() => s.cipher.decrypt(tampered, contextOf(user.id)), 'tampering is detected')
  t.notOk(readFileSync(join(s.dir, 'latchkey.db')).includes(secret), 'the database file holds no clear secret')
  t.equal(await countTotpSecrets(s.store), 1)
  t.same(await sampleTotpSecret(s.store), { stored: row.secretEncrypted, context: contextOf(user.id) })
})

t.test('resetTotp turns TOTP off without the key; false for an unknown user', async (t) => {
  const s = setup(t)
  const { user } = await enabledUser(s)
  t.equal(await resetTotp(s.store, user.id), true)
  t.equal(s.userRow(user.id).totpEnabled, false)
  t.equal(await countTotpSecrets(s.store), 0)
  t.equal(s.db.select().from(totpRecoveryCodes).all().length, 0)
  t.equal(await resetTotp(s.store, 9999), false)
  const pending = s.addUser()
  await s.service.enrol(pending)
  t.equal(await resetTotp(s.store, pending.id), true, 'a pending enrolment goes too')
  t.equal(await countTotpSecrets(s.store), 0)
})

t.test('the key file: created 0600 beside the signing keys, never taken for one', async (t) => {
  const dir = tempDir(t)
  const signing = loadOrCreateKeys(dir)
  const key = loadOrCreateTotpKey(dir, 0)
  const file = totpKeyPath(dir)
  t.equal(file, join(dir, 'keys', 'totp.key'))
  t.equal(key.length, 32)
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.same(loadOrCreateTotpKey(dir, 1), key, 'the same key on the next start')
  t.same(listKeys(dir).map((k) => k.kid), signing.map((k) => k.kid), 'the signing-key loader ignores totp.key')
  t.same(loadOrCreateKeys(dir).map((k) => k.kid), signing.map((k) => k.kid))
})

t.test('a missing or wrong key is a clear error naming the file', async (t) => {
  const dir = tempDir(t)
  const file = totpKeyPath(dir)
  t.throws(() => loadOrCreateTotpKey(dir, 3), new TotpKeyError(`${file} is missing, but 3 TOTP secret(s) in the database were encrypted with it: ` +
    'restore the file from a backup (or reset TOTP for those users with `latchkey user reset-totp`)'))
  const key = loadOrCreateTotpKey(dir, 0)
  const cipher = createTotpCipher(key)
  const sample = { stored: cipher.encrypt('JBSWY3DPEHPK3PXP', contextOf(1)), context: contextOf(1) }
  t.doesNotThrow(() => assertKeyOpens(cipher, file, sample))
  t.doesNotThrow(() => assertKeyOpens(createTotpCipher(randomBytes(32)), file, undefined), 'no secret: any key will do')
  t.throws(() => assertKeyOpens(createTotpCipher(randomBytes(32)), file, sample),
    new TotpKeyError(`${file} does not decrypt the TOTP secrets in the database (it is not the key they were encrypted with): restore the original file from a backup`))
  writeFileSync(file, 'not a key\n')
  t.throws(() => loadOrCreateTotpKey(dir, 1), { name: 'TotpKeyError', message: new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a TOTP key`) })
})
