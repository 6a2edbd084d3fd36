// `latchkey import`'s rules: which source rows become users, which are skipped and why, all in one transaction.
import { checkerOf } from '../schemas/ajv.js'
import { Email, Username } from '../schemas/users.js'
import { classifyHash, type HashScheme } from '../services/foreign-hashes.js'
import type { Argon2Cost } from '../services/passwords.js'
import { deriveUsername } from '../services/usernames.js'
import type { Role } from '../schemas/users.js'
import type { Store } from '../store/index.js'
import type { Field, Source } from './source.js'

// The API's own schemas and formats, so an imported address or name is one POST /auth/register would take.
const validEmail = checkerOf(Email)
const validUsername = checkerOf(Username)

export interface ImportedRow {
  row: number
  status: 'imported'
  username: string
  /** True when the source had no username and one was derived from the email. */
  derived: boolean
  email: string
  role: Role
  disabled: boolean
  emailVerified: boolean
  scheme: HashScheme
  note?: string
}
export interface SkippedRow { row: number, status: 'skipped', label: string, reason: string }
export type RowOutcome = ImportedRow | SkippedRow

export interface ImportReport { outcomes: RowOutcome[], imported: number, skipped: number, dryRun: boolean }

class Skip extends Error {}

function text (value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined
  const s = (typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'bigint' ? String(value) : '').trim()
  return s === '' ? undefined : s
}

/** SQLite stores booleans as 0/1; JSON lines may hold true/false or their spellings. */
function flag (value: unknown, column: string): boolean | undefined {
  if (value === null || value === undefined) return undefined
  if (typeof value === 'boolean') return value
  if (value === 0 || value === 1 || value === 0n || value === 1n) return Number(value) === 1
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase()
    if (['1', 'true', 't', 'yes', 'y'].includes(v)) return true
    if (['0', 'false', 'f', 'no', 'n'].includes(v)) return false
  }
  throw new Skip(`${column} is neither true nor false`)
}

/**
 * Plan every row against the users already stored and the ones earlier in this import, then write them
 * all in one transaction. Taken checks ignore case, as the unique indexes do; they run inside the
 * transaction, so on SQLite a server registering users meanwhile waits. Should a user still be registered
 * meanwhile (PostgreSQL's READ COMMITTED), the insert throws `Taken` and the whole import rolls back.
 * A dry run only reads, outside any transaction: it writes nothing and holds no lock.
 */
export async function importUsers (store: Store, source: Source, columns: Partial<Record<Field, string>>,
  options: { dryRun: boolean, own: Argon2Cost }): Promise<ImportReport> {
  if (options.dryRun) return await planAndWrite(store, source, columns, options)
  return await store.transaction(async (tx) => await planAndWrite(tx, source, columns, options))
}

async function planAndWrite (tx: Store, source: Source, columns: Partial<Record<Field, string>>,
  options: { dryRun: boolean, own: Argon2Cost }): Promise<ImportReport> {
  const claimedNames = new Set<string>()
  const claimedEmails = new Set<string>()
  // Names found taken in the database so far: checked before the database is asked again.
  const storedNames = new Set<string>()
  const isNameTaken = async (name: string): Promise<boolean> => {
    const lower = name.toLowerCase()
    if (claimedNames.has(lower) || storedNames.has(lower)) return true
    if (await tx.userByLogin(lower) === undefined) return false
    storedNames.add(lower)
    return true
  }
  const outcomes: RowOutcome[] = []
  const hashes = new Map<number, string>()
  const now = new Date()

  for (const { number, values } of source.rows) {
    const get = (field: Field): unknown => columns[field] === undefined ? undefined : values[columns[field]]
    const givenName = text(get('username'))
    const rawEmail = text(get('email'))
    try {
      if (rawEmail === undefined) throw new Skip('missing email')
      const email = rawEmail.toLowerCase()
      if (!validEmail(email)) throw new Skip(`invalid email "${rawEmail}"`)
      const hash = text(get('password_hash'))
      if (hash === undefined) throw new Skip('missing password hash')
      const found = classifyHash(hash, options.own)
      if (found.kind === 'unknown') throw new Skip(`unknown password hash format (${found.prefix})`)
      if (found.kind === 'over-cap') throw new Skip(found.reason)
      if (givenName !== undefined && !validUsername(givenName)) {
        throw new Skip(`invalid username "${givenName}" (3–32 characters of A-Z a-z 0-9 _ . -)`)
      }
      // By login name: an email never matches a username (usernames hold no @), so this finds the address only.
      if (claimedEmails.has(email) || await tx.userByLogin(email) !== undefined) throw new Skip(`email ${email} is already registered`)
      if (givenName !== undefined && await isNameTaken(givenName)) throw new Skip(`username ${givenName} is already taken (ignoring case)`)
      const username = givenName ?? await deriveUsername(email, isNameTaken)

      const roleText = text(get('role'))?.toLowerCase()
      const role: Role = roleText === 'admin' ? 'admin' : 'user'
      const disabledFlag = columns.disabled === undefined ? undefined : flag(get('disabled'), columns.disabled)
      const activeFlag = columns.is_active === undefined ? undefined : flag(get('is_active'), columns.is_active)
      const disabled = disabledFlag === true || activeFlag === false
      const emailVerified = (columns.email_verified === undefined ? undefined : flag(get('email_verified'), columns.email_verified)) ?? false

      claimedNames.add(username.toLowerCase())
      claimedEmails.add(email)
      hashes.set(number, hash)
      outcomes.push({
        row: number,
        status: 'imported',
        username,
        derived: givenName === undefined,
        email,
        role,
        disabled,
        emailVerified,
        scheme: found.scheme,
        ...(roleText !== undefined && roleText !== 'admin' && roleText !== 'user' ? { note: `role "${roleText}" imported as user` } : {})
      })
    } catch (err) {
      if (!(err instanceof Skip)) throw err
      outcomes.push({ row: number, status: 'skipped', label: givenName ?? rawEmail ?? `row ${number}`, reason: err.message })
    }
  }

  if (!options.dryRun) {
    for (const o of outcomes) {
      if (o.status !== 'imported') continue
      await tx.insertUser({
        username: o.username,
        email: o.email,
        passwordHash: hashes.get(o.row)!,
        role: o.role,
        disabled: o.disabled,
        emailVerified: o.emailVerified,
        createdAt: now
      })
    }
  }
  const imported = outcomes.filter((o) => o.status === 'imported').length
  return { outcomes, imported, skipped: outcomes.length - imported, dryRun: options.dryRun }
}
