// Password hashes written by other systems (passlib bcrypt and pbkdf2-sha256, argon2-cffi): recognised by
// prefix, capped in cost, verified off the event loop the way the system that wrote them did.
import { pbkdf2, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import argon2 from 'argon2'
import type { Argon2Cost } from './passwords.js'

const pbkdf2Async = promisify(pbkdf2)

/**
 * The most expensive foreign parameters accepted. A hash over a cap is refused by `latchkey import`
 * and never verified at login: whoever controls the imported data must not be able to make one login
 * cost a gigabyte or a minute. Each cap sits above the defaults its library ever shipped:
 * bcrypt cost 14 (passlib's default is 12; each step doubles, 14 ≈ 0.9 s here), pbkdf2-sha256
 * 1,000,000 rounds (passlib 29,000, Django 870,000–1,000,000, OWASP 600,000), argon2 100 MiB memory
 * (argon2-cffi 18.2–21.1's default, 102400 KiB; 21.2+ use 64 MiB), 10 passes and 8 lanes.
 * The server's own argon2 cost is always accepted, even above these.
 */
export const FOREIGN_CAPS = {
  bcryptCost: 14,
  pbkdf2Rounds: 1_000_000,
  argon2MemoryKiB: 102_400,
  argon2TimeCost: 10,
  argon2Parallelism: 8
} as const

export type HashScheme = 'bcrypt' | 'pbkdf2-sha256' | 'argon2i' | 'argon2id'

export type HashClass =
  | { kind: 'supported', scheme: HashScheme }
  | { kind: 'over-cap', scheme: HashScheme, reason: string }
  | { kind: 'unknown', prefix: string }

// Modular crypt formats, anchored and bounded so that nothing unexpected reaches a library.
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/
// passlib: $pbkdf2-sha256$<rounds>$<salt, adapted base64>$<32-byte checksum, adapted base64>
const PBKDF2_SHA256 = /^\$pbkdf2-sha256\$([1-9]\d{0,9})\$([./A-Za-z0-9]{0,1400})\$([./A-Za-z0-9]{43})$/
// PHC string; argon2-cffi and passlib write exactly m, t, p (node-argon2 as m, p, t). Salt 8–64 bytes, hash 4–64 bytes.
const ARGON2 = /^\$(argon2id|argon2i)\$(?:v=(16|19)\$)?([mtp]=\d{1,10},[mtp]=\d{1,10},[mtp]=\d{1,10})\$([A-Za-z0-9+/]{11,86})\$([A-Za-z0-9+/]{6,86})$/

/** `$1$`, `$6$`, `$argon2d$`, …: the scheme part of an unrecognised hash, safe to print (never the hash). */
export function hashPrefix (hash: string): string {
  const match = /^\$[A-Za-z0-9-]{1,20}\$/.exec(hash)
  return match === null ? '(not a modular crypt hash)' : match[0]
}

/** What a stored or imported hash is, and whether its parameters are within the caps (or the server's own cost). */
export function classifyHash (hash: string, own: Argon2Cost): HashClass {
  let m = BCRYPT.exec(hash)
  if (m !== null) {
    const cost = Number(m[1])
    if (cost < 4 || cost > 31) return { kind: 'unknown', prefix: hashPrefix(hash) }
    if (cost > FOREIGN_CAPS.bcryptCost) return { kind: 'over-cap', scheme: 'bcrypt', reason: `bcrypt cost ${cost} is over the cap of ${FOREIGN_CAPS.bcryptCost}` }
    return { kind: 'supported', scheme: 'bcrypt' }
  }
  m = PBKDF2_SHA256.exec(hash)
  if (m !== null) {
    const rounds = Number(m[1])
    if (rounds > FOREIGN_CAPS.pbkdf2Rounds) {
      return { kind: 'over-cap', scheme: 'pbkdf2-sha256', reason: `pbkdf2-sha256 with ${rounds} rounds is over the cap of ${FOREIGN_CAPS.pbkdf2Rounds}` }
    }
    return { kind: 'supported', scheme: 'pbkdf2-sha256' }
  }
  m = ARGON2.exec(hash)
  if (m !== null) {
    const scheme = m[1] as 'argon2i' | 'argon2id'
    const params = new Map(m[3].split(',').map((kv) => [kv[0], Number(kv.slice(2))]))
    const [memory, time, lanes] = [params.get('m'), params.get('t'), params.get('p')]
    if (params.size !== 3 || memory === undefined || time === undefined || lanes === undefined ||
      memory < 8 * lanes || time < 1 || lanes < 1) return { kind: 'unknown', prefix: hashPrefix(hash) }
    const over: string[] = []
    if (memory > Math.max(FOREIGN_CAPS.argon2MemoryKiB, own.memoryCost)) over.push(`memory ${memory} KiB (cap ${Math.max(FOREIGN_CAPS.argon2MemoryKiB, own.memoryCost)})`)
    if (time > Math.max(FOREIGN_CAPS.argon2TimeCost, own.timeCost)) over.push(`${time} passes (cap ${Math.max(FOREIGN_CAPS.argon2TimeCost, own.timeCost)})`)
    if (lanes > Math.max(FOREIGN_CAPS.argon2Parallelism, own.parallelism)) over.push(`${lanes} lanes (cap ${Math.max(FOREIGN_CAPS.argon2Parallelism, own.parallelism)})`)
    if (over.length > 0) return { kind: 'over-cap', scheme, reason: `${scheme} with ${over.join(', ')} is over the cap` }
    return { kind: 'supported', scheme }
  }
  return { kind: 'unknown', prefix: hashPrefix(hash) }
}

/** passlib's "adapted base64" (`ab64`): standard base64 with `.` for `+`, no padding. */
export const ab64Decode = (text: string): Buffer => Buffer.from(text.replace(/\./g, '+'), 'base64')

/**
 * bcrypt as passlib verified it: the password's UTF-8 bytes, cut to bcrypt's 72; a NUL byte never matches
 * (passlib refuses such passwords, since C backends would silently stop at the NUL). `$2a$`, `$2b$` and
 * `$2y$` compute the same for inputs under 255 bytes, so the (already cut) password is checked as `$2b$`.
 * bcrypt (node.bcrypt.js, prebuilt N-API addon) runs on the libuv thread pool; see bench/bcrypt-bindings.js for why this binding.
 */
async function verifyBcrypt (hash: string, password: string): Promise<boolean> {
  const bytes = Buffer.from(password, 'utf8')
  if (bytes.includes(0)) return false
  // The native addon is loaded on the first imported bcrypt hash, not at start.
  const { default: bcrypt } = await import('bcrypt')
  return await bcrypt.compare(bytes.subarray(0, 72), `$2b$${hash.slice(4)}`)
}

/** passlib pbkdf2_sha256: PBKDF2-HMAC-SHA256 over the UTF-8 password, 32-byte key, on the thread pool. */
async function verifyPbkdf2Sha256 (hash: string, password: string): Promise<boolean> {
  const [, rounds, salt, checksum] = PBKDF2_SHA256.exec(hash)!
  const expected = ab64Decode(checksum)
  const actual = await pbkdf2Async(Buffer.from(password, 'utf8'), ab64Decode(salt), Number(rounds), expected.length, 'sha256')
  return timingSafeEqual(actual, expected)
}

/**
 * Verify a hash that `classifyHash` called supported. Foreign systems hashed the password as typed;
 * argon2 hashes may also be Latchkey's own, which hash the NFKC form, so both forms are tried there.
 */
export async function verifySupported (scheme: HashScheme, hash: string, password: string): Promise<boolean> {
  switch (scheme) {
    case 'bcrypt': return await verifyBcrypt(hash, password)
    case 'pbkdf2-sha256': return await verifyPbkdf2Sha256(hash, password)
    default: {
      const normalized = password.normalize('NFKC')
      if (await argon2.verify(hash, normalized)) return true
      return normalized !== password && await argon2.verify(hash, password)
    }
  }
}
