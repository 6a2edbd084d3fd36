// Signing keys wherever the engine keeps them: files in <data dir>/keys on SQLite, the signing_keys table on
// PostgreSQL (so every instance of a fleet shares them). Used by the auth plugin and `latchkey keys`.
import { dataDirectory } from '../db/open.js'
import type { Store } from '../store/index.js'
import type { PostgresStore } from '../store/postgres.js'
import { addDbKey, ensureDbKey, listDbKeys, retireDbKey } from './keys-pg.js'
import { addKey, listKeys, loadOrCreateKeys, retireKey, type SigningKey } from './keys.js'

const pgOf = (store: Store) => store.engine === 'postgres' ? (store as PostgresStore).db : undefined

/** The active keys, oldest first (the newest signs); a first one is made when there is none. */
export async function loadOrCreateSigningKeys (store: Store, databasePath: string, onCreate?: (key: SigningKey) => void): Promise<SigningKey[]> {
  const db = pgOf(store)
  return db === undefined ? loadOrCreateKeys(dataDirectory(databasePath), onCreate) : await ensureDbKey(db, onCreate)
}

export async function listSigningKeys (store: Store, databasePath: string): Promise<SigningKey[]> {
  const db = pgOf(store)
  return db === undefined ? listKeys(dataDirectory(databasePath)) : await listDbKeys(db)
}

/** A new signing key. SQLite: servers sign with it from their next start; PostgreSQL: within KEY_REFRESH_INTERVAL. */
export async function rotateSigningKey (store: Store, databasePath: string): Promise<SigningKey> {
  const db = pgOf(store)
  return db === undefined ? addKey(dataDirectory(databasePath)) : await addDbKey(db)
}

/** Stop accepting tokens signed with `kid`; refuses the only active key. */
export async function retireSigningKey (store: Store, databasePath: string, kid: string): Promise<SigningKey> {
  const db = pgOf(store)
  return db === undefined ? retireKey(dataDirectory(databasePath), kid) : await retireDbKey(db, kid)
}
