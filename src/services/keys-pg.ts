// Signing keys and the TOTP key in PostgreSQL (signing_keys, server_secrets), so every instance signs with
// the same newest key and verifies all active ones; a poller picks up rotations without a restart.
import { generateKeyPairSync } from 'node:crypto'
import { and, asc, count, eq, isNull, sql } from 'drizzle-orm'
import type { PgDb } from '../db/postgres.js'
import { keyFromPem, type SigningKey } from './keys.js'
import { decodeTotpKey, newTotpKey, TotpKeyError } from './totp-key.js'

// The tables (drizzle-orm/pg-core) are imported on first use: plugins import this module on SQLite too.
const pgTables = async () => await import('../db/schema-pg.js')

// Advisory-lock key for "creating the first signing key" (transaction-scoped: released at commit).
const FIRST_KEY_LOCK = 0x6c6b6b79 // 'lkky'
const TOTP_SECRET = 'totp'

/** The database or a transaction on it. */
type Queryable = PgDb | Parameters<Parameters<PgDb['transaction']>[0]>[0]

const toKey = (row: { privatePem: string, createdAt: Date }): SigningKey => keyFromPem(row.privatePem, row.createdAt)

/** All active keys, oldest first (the newest signs). */
export async function listDbKeys (db: Queryable): Promise<SigningKey[]> {
  const { signingKeys } = await pgTables()
  const rows = await db.select().from(signingKeys).where(isNull(signingKeys.retiredAt)).orderBy(asc(signingKeys.createdAt), asc(signingKeys.kid))
  return rows.map(toKey)
}

/** Generate a new Ed25519 key; it signs on every instance from its next key refresh. */
export async function addDbKey (db: Queryable, now = new Date()): Promise<SigningKey> {
  const { signingKeys } = await pgTables()
  const { privateKey } = generateKeyPairSync('ed25519')
  const key = keyFromPem(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), now)
  await db.insert(signingKeys).values({ kid: key.kid, privatePem: key.privatePem, createdAt: now })
  return key
}

/**
 * Move a key out of use (retired_at set; the row is kept): tokens it signed stop verifying. Refuses the last
 * active key. The active keys are locked (FOR UPDATE), so two instances retiring the last two keys at once
 * cannot both succeed.
 */
export async function retireDbKey (db: PgDb, kid: string, now = new Date()): Promise<SigningKey> {
  const { signingKeys } = await pgTables()
  return await db.transaction(async (tx) => {
    const active = await tx.select().from(signingKeys).where(isNull(signingKeys.retiredAt)).orderBy(asc(signingKeys.createdAt)).for('update')
    const row = active.find((k) => k.kid === kid)
    if (row === undefined) throw new Error(`no active key has kid ${kid}`)
    if (active.length === 1) throw new Error('cannot retire the only signing key: run `latchkey keys rotate` first')
    await tx.update(signingKeys).set({ retiredAt: now }).where(and(eq(signingKeys.kid, kid), isNull(signingKeys.retiredAt)))
    return toKey(row)
  })
}

/**
 * The keys to serve with, creating the first one when there is none, under a transaction-scoped advisory
 * lock: instances starting together on an empty database end up with exactly one key. `onCreate` runs when
 * this call made it.
 */
export async function ensureDbKey (db: PgDb, onCreate?: (key: SigningKey) => void): Promise<SigningKey[]> {
  let created: SigningKey | undefined
  const keys = await db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${FIRST_KEY_LOCK})`)
    const existing = await listDbKeys(tx)
    if (existing.length > 0) return existing
    created = await addDbKey(tx)
    return [created]
  })
  if (created !== undefined) onCreate?.(created)
  return keys
}

/**
 * The TOTP encryption key (32 random bytes, base64, as in totp.key) from server_secrets, created on first
 * use with ON CONFLICT DO NOTHING so racing instances agree on one. As with the file, a missing key while
 * encrypted secrets exist is an error, never a fresh key (that would lock every TOTP user out).
 */
export async function loadOrCreateDbTotpKey (db: PgDb, now = new Date()): Promise<Buffer> {
  const { serverSecrets, totpSecrets } = await pgTables()
  const read = async (): Promise<Buffer | undefined> => {
    const [row] = await db.select({ value: serverSecrets.value }).from(serverSecrets).where(eq(serverSecrets.name, TOTP_SECRET))
    if (row === undefined) return undefined
    const key = decodeTotpKey(row.value)
    if (key === undefined) throw new TotpKeyError(`the TOTP key in server_secrets (name '${TOTP_SECRET}') is not a TOTP key (expected 32 random bytes, base64): restore it from a backup`)
    return key
  }
  const existing = await read()
  if (existing !== undefined) return existing
  const [{ stored }] = await db.select({ stored: count() }).from(totpSecrets)
  if (stored > 0) {
    throw new TotpKeyError(`the TOTP key is missing from server_secrets, but ${stored} TOTP secret(s) in the database were encrypted with it: ` +
      'restore it from a backup (or reset TOTP for those users with `latchkey user reset-totp`)')
  }
  await db.insert(serverSecrets).values({ name: TOTP_SECRET, value: newTotpKey().text, createdAt: now }).onConflictDoNothing()
  // Whichever instance's insert won, everyone reads the same row.
  return (await read())!
}

/**
 * Reload the active keys now and every `intervalS` seconds; `onKeys` gets the first load and then every
 * change of the set (a rotation or retirement on any instance). A failed reload (PostgreSQL away) goes to `onError` and is retried at the next
 * tick. The timer is unref'd. Returns the function that stops it.
 */
export function startKeyRefresh (db: PgDb, intervalS: number, onKeys: (keys: SigningKey[]) => void, onError?: (err: unknown) => void): () => void {
  let last: string | undefined
  let running = false
  const tick = async (): Promise<void> => {
    if (running) return
    running = true
    try {
      const keys = await listDbKeys(db)
      const kids = keys.map((k) => k.kid).join(',')
      if (kids !== last) onKeys(keys)
      last = kids
    } catch (err) {
      onError?.(err)
    } finally {
      running = false
    }
  }
  // tick() never rejects: its errors go to onError.
  tick().catch(() => {})
  const timer = setInterval(() => { tick().catch(() => {}) }, intervalS * 1000)
  timer.unref()
  return () => clearInterval(timer)
}
