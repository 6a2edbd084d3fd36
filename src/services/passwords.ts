// Password hashing (argon2id) and the NIST SP 800-63B password policy.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import argon2 from 'argon2'
import type { FieldError } from '../errors.js'
import { classifyHash, verifySupported } from './foreign-hashes.js'

export interface Argon2Cost { memoryCost: number, timeCost: number, parallelism: number }

export interface PasswordHasher {
  hash (password: string): Promise<string>
  /** Any supported hash: the server's argon2id, or an imported one (see foreign-hashes.ts). */
  verify (hash: string, password: string): Promise<boolean>
  /** Spend the same time as a real verify, for an account that does not exist. */
  verifyDummy (password: string): Promise<false>
  /** True for every hash that is not argon2id with the current cost, imported ones included. */
  needsRehash (hash: string): boolean
  /** argon2 hashes and verifies running right now (the metrics gauge reads it on scrape). */
  readonly inFlight: number
}

/** Whether a stored hash was written by another system (imported) rather than by this server's argon2id. */
export const isForeignHash = (hash: string): boolean => !hash.startsWith('$argon2id$')

/** Passwords are compared after Unicode NFKC normalisation, so visually equal inputs match. */
export const normalizePassword = (password: string): string => password.normalize('NFKC')

export function createPasswordHasher (cost: Argon2Cost): PasswordHasher {
  const options = { type: argon2.argon2id as 2, ...cost }
  // A hash of a random secret with the current cost: verifying against it takes as long as a real check.
  let dummyHash: Promise<string> | undefined
  // Hashes in flight (argon2 and imported schemes alike), for the metrics gauge.
  let inFlight = 0
  async function counted<T> (work: () => Promise<T>): Promise<T> {
    inFlight += 1
    try {
      return await work()
    } finally {
      inFlight -= 1
    }
  }
  async function verifyDummy (password: string): Promise<false> {
    dummyHash ??= argon2.hash(randomBytes(32).toString('base64'), options)
    const hash = await dummyHash
    // The very verify a wrong password costs on a stored argon2id hash: as many argon2 runs (two when NFKC
    // changes the password, see verifySupported), so an unknown name is not the cheaper answer.
    await counted(() => verifySupported('argon2id', hash, password))
    return false
  }
  return {
    hash: (password) => counted(() => argon2.hash(normalizePassword(password), options)),
    async verify (hash, password) {
      const found = classifyHash(hash, cost)
      // An unknown or over-cap hash is never handed to a library; it costs what a missing account costs.
      if (found.kind !== 'supported') return await verifyDummy(password)
      return await counted(() => verifySupported(found.scheme, hash, password))
    },
    verifyDummy,
    needsRehash: (hash) => isForeignHash(hash) || argon2.needsRehash(hash, options),
    get inFlight () { return inFlight }
  }
}

// 49k common passwords from zxcvbn-ts (MIT, maintained): https://github.com/zxcvbn-ts/zxcvbn
// Kept compact: the distinct lowercased entries sorted, in one string, with their offsets (0.6 MB of heap
// where a Set of 49k strings took 2.8 MB), searched by bisection. Read from the file on the first check.
const require = createRequire(import.meta.url)
let commonPasswords: { text: string, starts: Uint32Array } | undefined
function loadCommonPasswords (): { text: string, starts: Uint32Array } {
  const file = require.resolve('@zxcvbn-ts/language-common/src/passwords.json')
  // Sorted by UTF-16 code units, the order `<` compares in.
  const words = [...new Set((JSON.parse(readFileSync(file, 'utf8')) as string[]).map((p) => p.toLowerCase()))].sort()
  const starts = new Uint32Array(words.length + 1)
  for (let i = 0; i < words.length; i++) starts[i + 1] = starts[i] + words[i].length
  return { text: words.join(''), starts }
}
function isCommonPassword (password: string): boolean {
  commonPasswords ??= loadCommonPasswords()
  const { text, starts } = commonPasswords
  const wanted = password.toLowerCase()
  let lo = 0
  let hi = starts.length - 2
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const word = text.slice(starts[mid], starts[mid + 1])
    if (word === wanted) return true
    if (word < wanted) lo = mid + 1
    else hi = mid - 1
  }
  return false
}

export const PASSWORD_MIN = 8
export const PASSWORD_MAX = 128

/** Check a new password against the policy; returns the failures (empty when acceptable). */
export function checkPasswordPolicy (password: string, field: string, identity: { username?: string, email?: string }): FieldError[] {
  const normalized = normalizePassword(password)
  const length = [...normalized].length
  const fail = (message: string): FieldError[] => [{ field, message }]
  if (length < PASSWORD_MIN) return fail(`must be at least ${PASSWORD_MIN} characters`)
  if (length > PASSWORD_MAX) return fail(`must be at most ${PASSWORD_MAX} characters`)
  if (normalized.includes('\u0000')) return fail('must not contain NUL characters')
  const lower = normalized.toLowerCase()
  if (identity.username !== undefined && lower === identity.username.toLowerCase()) return fail('must not be the same as the username')
  if (identity.email !== undefined && lower === identity.email.toLowerCase()) return fail('must not be the same as the email')
  if (isCommonPassword(normalized)) return fail('is too common: choose one that is not on lists of well-known passwords')
  return []
}
