// Imported hashes behind the password hasher: recognition, caps, passlib's bcrypt rules, rehash on first login.
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import bcrypt from 'bcrypt'
import argon2 from 'argon2'
import Database from 'better-sqlite3'
import { eq } from 'drizzle-orm'
import { users } from '../../src/db/schema.js'
import { readSource, resolveColumns } from '../../src/import/source.js'
import { importUsers } from '../../src/import/users.js'
import { openSqliteStore } from '../../src/store/sqlite.js'
import { packageRoot } from '../../src/paths.js'
import { ab64Decode, classifyHash, FOREIGN_CAPS, hashPrefix } from '../../src/services/foreign-hashes.js'
import { createPasswordHasher, isForeignHash, type Argon2Cost } from '../../src/services/passwords.js'
import { createAuditService } from '../../src/services/audit.js'
import { createUsersService } from '../../src/services/users.js'
import { PASSWORD, tempDir } from '../helper.js'

const CHEAP: Argon2Cost = { memoryCost: 1024, timeCost: 1, parallelism: 1 }
const fixtures = join(packageRoot, 'test', 'fixtures', 'import')
const passwords = JSON.parse(readFileSync(join(fixtures, 'passwords.json'), 'utf8')) as Record<string, string>

/** The fixture hashes, made by passlib and argon2-cffi (make-fixtures.py), by the password's name. */
function fixtureHashes (): Record<string, string> {
  const out: Record<string, string> = {}
  const bcryptDb = new Database(join(fixtures, 'tutorial-bcrypt.db'), { readonly: true, fileMustExist: true })
  const names = ['alice', 'bob', 'carol', 'dan', 'dave', 'dave2', 'ALICE', 'alice_dup', 'eve', 'frank', 'grace', 'heidi', 'ivan', 'judy']
  for (const [i, row] of (bcryptDb.prepare('SELECT hashed_password FROM users ORDER BY id').all() as Array<{ hashed_password: string }>).entries()) out[names[i]] = row.hashed_password
  bcryptDb.close()
  const pbkdf2Db = new Database(join(fixtures, 'tutorial-pbkdf2.db'), { readonly: true, fileMustExist: true })
  for (const row of pbkdf2Db.prepare('SELECT email, hashed_password FROM user').all() as Array<{ email: string, hashed_password: string }>) {
    out[row.email === 'alice@example.com' ? 'alice_pbkdf2' : row.email.split('@')[0]] = row.hashed_password
  }
  pbkdf2Db.close()
  return out
}
const hashes = fixtureHashes()
const hasher = createPasswordHasher(CHEAP)

t.test('the fixtures are what the tutorials write', async (t) => {
  t.match(hashes.alice, /^\$2b\$12\$/, 'CryptContext(schemes=["bcrypt"]) default')
  t.match(hashes.bob, /^\$2b\$04\$/)
  t.match(hashes.ivan, /^\$2y\$04\$/)
  t.match(hashes.judy, /^\$2a\$04\$/)
  t.match(hashes.pat, /^\$pbkdf2-sha256\$29000\$/, 'passlib pbkdf2_sha256 default')
  t.match(hashes.rose, /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/, 'argon2-cffi PasswordHasher()')
  t.match(hashes.sam, /^\$argon2i\$v=19\$/)
  t.match(hashes.frank, /^\$1\$/, 'md5-crypt')
})

t.test('classifyHash: supported, over the cap, unknown', async (t) => {
  const scheme = (h: string) => classifyHash(h, CHEAP)
  for (const name of ['alice', 'bob', 'ivan', 'judy']) t.same(scheme(hashes[name]), { kind: 'supported', scheme: 'bcrypt' }, name)
  t.same(scheme(hashes.pat), { kind: 'supported', scheme: 'pbkdf2-sha256' })
  t.same(scheme(hashes.rose), { kind: 'supported', scheme: 'argon2id' })
  t.same(scheme(hashes.sam), { kind: 'supported', scheme: 'argon2i' })
  t.same(scheme(await hasher.hash('x')), { kind: 'supported', scheme: 'argon2id' }, "the server's own")

  t.same(scheme(hashes.heidi), { kind: 'over-cap', scheme: 'bcrypt', reason: 'bcrypt cost 15 is over the cap of 14' })
  t.same(scheme(hashes.uma), { kind: 'over-cap', scheme: 'pbkdf2-sha256', reason: 'pbkdf2-sha256 with 2000000 rounds is over the cap of 1000000' })
  t.same(scheme(hashes.tom), { kind: 'over-cap', scheme: 'argon2id', reason: 'argon2id with memory 131072 KiB (cap 102400) is over the cap' })
  const gib = '$argon2id$v=19$m=1048576,t=20,p=16$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'
  t.match(scheme(gib), { kind: 'over-cap', reason: /memory 1048576 KiB.*20 passes.*16 lanes/ }, 'a 1 GiB argon2 hash is refused')
  t.same(classifyHash(hashes.tom, { memoryCost: 131072, timeCost: 1, parallelism: 1 }), { kind: 'supported', scheme: 'argon2id' },
    "the server's own cost is always accepted, even above the cap")
  t.equal(FOREIGN_CAPS.bcryptCost, 14)

  t.same(scheme(hashes.frank), { kind: 'unknown', prefix: '$1$' })
  t.same(scheme(hashes.rose.replace('$argon2id$', '$argon2d$')), { kind: 'unknown', prefix: '$argon2d$' })
  t.same(scheme(hashes.bob.slice(0, -1)), { kind: 'unknown', prefix: '$2b$' }, 'a truncated bcrypt hash')
  t.same(scheme(hashes.bob.replace('$04$', '$03$')), { kind: 'unknown', prefix: '$2b$' }, 'bcrypt cost below 4 does not exist')
  t.same(scheme('$2x$04$' + hashes.bob.slice(7)), { kind: 'unknown', prefix: '$2x$' })
  t.same(scheme(hashes.rose.replace(/m=\d+/, 't=5')), { kind: 'unknown', prefix: '$argon2id$' }, 'argon2 without a memory parameter')
  t.same(scheme(hashes.rose.replace(/m=\d+/, 'm=4')), { kind: 'unknown', prefix: '$argon2id$' }, 'argon2 memory below 8 KiB per lane')
  t.same(scheme('plaintext'), { kind: 'unknown', prefix: '(not a modular crypt hash)' })
  t.equal(hashPrefix('$6$rounds=5000$salt$hash'), '$6$', 'only the scheme is ever printed, never the hash')
})

t.test('passlib adapted base64', async (t) => {
  t.same(ab64Decode('A4AwhlDqnXPufS/F2DunlA'), Buffer.from('A4AwhlDqnXPufS/F2DunlA==', 'base64'))
  t.same(ab64Decode('..8'), Buffer.from('++8', 'base64'), '. stands for +')
})

t.test('every supported fixture verifies with its old password, and not with another', async (t) => {
  for (const name of ['alice', 'bob', 'carol', 'dan', 'ivan', 'judy', 'pat', 'quinn', 'rose', 'sam', 'alice_pbkdf2']) {
    t.equal(await hasher.verify(hashes[name], passwords[name]), true, `${name} (${hashPrefix(hashes[name])})`)
    t.equal(await hasher.verify(hashes[name], `x${passwords[name]}`), false, `${name}, wrong password`)
  }
  t.equal(await hasher.verify(hashes.quinn, 'sälj-lösenord'.normalize('NFD')), false,
    'pbkdf2 compares the bytes passlib hashed (no normalisation), as the old server did')
})

t.test("bcrypt's 72-byte truncation and NUL rule behave as passlib's", async (t) => {
  const long = passwords.carol
  t.ok(Buffer.byteLength(long) > 72, 'the fixture password is longer than 72 bytes')
  const first72 = Buffer.from(long).subarray(0, 72).toString()
  t.equal(await hasher.verify(hashes.carol, first72), true, 'only the first 72 bytes count')
  t.equal(await hasher.verify(hashes.carol, `${first72}something else`), true, 'anything after byte 72 is ignored, as passlib did')
  t.equal(await hasher.verify(hashes.carol, first72.slice(0, -1)), false, '70 bytes are not enough')
  t.equal(await hasher.verify(hashes.bob, `${passwords.bob}\u0000`), false, 'passlib refuses NUL bytes, so they never match')
  t.equal(await hasher.verify(hashes.bob, `${passwords.bob}\u0000tail`), false)
})

t.test('over-cap and unknown hashes never verify, not even with the right password', async (t) => {
  for (const name of ['heidi', 'uma', 'tom', 'frank']) {
    t.equal(await hasher.verify(hashes[name], passwords[name]), false, name)
  }
})

t.test('needsRehash: every imported hash, not the server\'s own', async (t) => {
  for (const name of ['alice', 'ivan', 'judy', 'pat', 'rose', 'sam']) {
    t.equal(hasher.needsRehash(hashes[name]), true, name)
    t.equal(isForeignHash(hashes[name]), name !== 'rose', `${name} foreign`)
  }
  t.equal(hasher.needsRehash(await hasher.hash('x')), false)
})

t.test('verification runs off the event loop', async (t) => {
  // A $2b$12$ verify takes a noticeable while; the loop keeps turning meanwhile (a sync binding would starve it).
  let turns = 0
  let done = false
  const verified = hasher.verify(hashes.alice, passwords.alice).finally(() => { done = true })
  await new Promise<void>((resolve) => {
    const spin = () => { if (done) resolve(); else { turns++; setImmediate(spin) } }
    setImmediate(spin)
  })
  t.equal(await verified, true)
  t.ok(turns > 10, `the event loop turned ${turns} times during one bcrypt verify`)
})

t.test('login with an imported hash: rehashed to argon2id once, over the verified hash only', async (t) => {
  const store = openSqliteStore(join(tempDir(t), 'latchkey.db'))
  const { db } = store
  t.teardown(() => store.close())
  const service = createUsersService(store, hasher, createAuditService(store))
  const insert = (username: string, passwordHash: string) =>
    db.insert(users).values({ username, email: `${username}@example.com`, passwordHash, createdAt: new Date() }).returning().all()[0]
  const stored = (id: number) => db.select().from(users).where(eq(users.id, id)).get()!.passwordHash

  const bob = insert('bob', hashes.bob)
  const sam = insert('sam', hashes.sam)
  const pat = insert('pat', hashes.pat)
  const heidi = insert('heidi', hashes.heidi)

  t.equal(await service.verifyLogin('bob', 'not bob\'s password'), undefined, 'wrong old password')
  t.equal(stored(bob.id), hashes.bob, 'a failed login leaves the imported hash')
  t.equal((await service.verifyLogin('BOB@example.com', passwords.bob))?.id, bob.id)
  t.match(stored(bob.id), /^\$argon2id\$v=19\$/, 'the first login stored argon2id…')
  t.equal(hasher.needsRehash(stored(bob.id)), false, '…with the server\'s cost')
  t.equal((await service.verifyLogin('bob', passwords.bob))?.id, bob.id, 'and the same password keeps working')
  t.equal(await service.verifyLogin('bob', `${passwords.bob}x`), undefined)

  t.equal((await service.verifyLogin('sam', passwords.sam))?.id, sam.id, 'argon2i')
  t.match(stored(sam.id), /^\$argon2id\$/, 'argon2i becomes argon2id')
  t.equal((await service.verifyLogin('pat', passwords.pat))?.id, pat.id, 'pbkdf2-sha256')
  t.match(stored(pat.id), /^\$argon2id\$/)

  t.equal(await service.verifyLogin('heidi', passwords.heidi), undefined, 'an over-cap hash that got in anyway is never verified')
  t.equal(stored(heidi.id), hashes.heidi)
  t.equal(await service.verifyLogin('nobody', 'whatever'), undefined, 'unknown users: the dummy path, padded by a stored imported hash')
  await t.rejects(service.requirePassword(db.select().from(users).where(eq(users.id, heidi.id)).get()!, passwords.heidi), { name: 'WrongPassword' })
})

/**
 * A users service whose hasher runs the real argon2 and bcrypt, each wrapped to count the verifies it runs:
 * `cost` answers how many of each one failed login took. Our own modules are the real ones, loaded afresh
 * over the counting libraries (tap's loader does not carry the library mocks through a .js → .ts import
 * on its own, so passwords.ts is handed the real foreign-hashes.ts loaded that way).
 */
async function countingService (t: Test, path: string) {
  const counts = { argon2: 0, bcrypt: 0 }
  const countingArgon2 = { ...argon2, verify: async (...args: Parameters<typeof argon2.verify>) => { counts.argon2 += 1; return await argon2.verify(...args) } }
  const countingBcrypt = { ...bcrypt, compare: async (...args: Parameters<typeof bcrypt.compare>) => { counts.bcrypt += 1; return await bcrypt.compare(...args) } }
  const libraries = { argon2: { ...countingArgon2, default: countingArgon2 }, bcrypt: { ...countingBcrypt, default: countingBcrypt } }
  const foreign = await t.mockImport<typeof import('../../src/services/foreign-hashes.js')>('../../src/services/foreign-hashes.js', libraries)
  const counted = await t.mockImport<typeof import('../../src/services/passwords.js')>('../../src/services/passwords.js', {
    ...libraries, '../../src/services/foreign-hashes.js': foreign
  })
  const store = openSqliteStore(path)
  t.teardown(() => store.close())
  const service = createUsersService(store, counted.createPasswordHasher(CHEAP), createAuditService(store))
  async function cost (login: string, password: string): Promise<{ argon2: number, bcrypt: number }> {
    counts.argon2 = 0
    counts.bcrypt = 0
    t.equal(await service.verifyLogin(login, password), undefined, `${login}: refused`)
    return { ...counts }
  }
  return { service, cost }
}

t.test('a wrong password that NFKC changes costs an unknown name as many argon2 verifies as an account', async (t) => {
  const { service, cost } = await countingService(t, join(tempDir(t), 'latchkey.db'))
  await service.register({ username: 'alice', email: 'alice@example.com', password: PASSWORD })
  const typed = 'ｗｒｏｎｇ ｐａｓｓｗｏｒｄ'
  t.not(typed.normalize('NFKC'), typed, 'full-width letters: NFKC changes them')
  t.same(await cost('alice', typed), { argon2: 2, bcrypt: 0 }, 'the account: the NFKC form, then the form as typed')
  t.same(await cost('nobody', typed), { argon2: 2, bcrypt: 0 }, 'an unknown name: the same two verifies')
  t.same(await cost('alice', 'wrong password'), { argon2: 1, bcrypt: 0 }, 'a password NFKC leaves alone: one verify…')
  t.same(await cost('nobody', 'wrong password'), { argon2: 1, bcrypt: 0 }, '…for an unknown name too')
})

t.test('right after `latchkey import` beside a running server, an imported account still pads with argon2', async (t) => {
  const path = join(tempDir(t), 'latchkey.db')
  const { cost } = await countingService(t, path)
  t.same(await cost('nobody', 'wrong password'), { argon2: 1, bcrypt: 0 }, 'no imported hash yet: the server caches that for a while')
  // `latchkey import` in another process: another connection to the same file.
  const other = openSqliteStore(path)
  const source = readSource(join(fixtures, 'tutorial-bcrypt.db'))
  t.ok((await importUsers(other, source, resolveColumns(source, {}), { dryRun: false, own: CHEAP })).imported > 0, 'imported')
  await other.close()
  t.same(await cost('bob', 'wrong password'), { argon2: 1, bcrypt: 1 }, 'the imported account: its bcrypt, padded with the argon2 dummy')
  t.same(await cost('nobody', 'wrong password'), { argon2: 1, bcrypt: 1 }, 'from then on unknown names are padded with an imported hash')
  t.same(await cost('bob', 'ｗｒｏｎｇ'), { argon2: 2, bcrypt: 1 }, 'the dummy pad runs the NFKC pair as well')
  t.same(await cost('nobody', 'ｗｒｏｎｇ'), { argon2: 2, bcrypt: 1 })
})
