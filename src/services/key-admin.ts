// Signing keys wherever the engine keeps them: files in <data dir>/keys on SQLite, the signing_keys table on
// PostgreSQL (so every instance of a fleet shares them). Used by the auth plugin and `latchkey keys`.
import { dataDirectory } from '../db/open.js'
import type { Store } from '../store/index.js'
import type { PostgresStore } from '../store/postgres.js'
import { addDbKey, ensureDbKey, listDbKeys, retireDbKey } from './keys-pg.js'
import { addKey, listKeys, loadOrCreateKeys, retireKey, type SigningKey } from './keys.js'

export interface SigningKeyStore {
  /** The active keys, oldest first (the newest signs); a first one is made when there is none. */
  loadOrCreate: (onCreate?: (key: SigningKey) => void) => Promise<SigningKey[]>
  list: () => Promise<SigningKey[]>
  /** A new signing key. SQLite: servers sign with it from their next start; PostgreSQL: within KEY_REFRESH_INTERVAL. */
  rotate: () => Promise<SigningKey>
  /** Stop accepting tokens signed with `kid`; refuses the only active key. */
  retire: (kid: string) => Promise<SigningKey>
}

/** Where `store`'s engine keeps the signing keys: chosen once, here. */
export function signingKeys (store: Store, databasePath: string): SigningKeyStore {
  if (store.engine === 'postgres') {
    const { db } = store as PostgresStore
    return {
      loadOrCreate: async (onCreate) => await ensureDbKey(db, onCreate),
      list: async () => await listDbKeys(db),
      rotate: async () => await addDbKey(db),
      retire: async (kid) => await retireDbKey(db, kid)
    }
  }
  const dir = dataDirectory(databasePath)
  return {
    loadOrCreate: async (onCreate) => loadOrCreateKeys(dir, onCreate),
    list: async () => listKeys(dir),
    rotate: async () => addKey(dir),
    retire: async (kid) => retireKey(dir, kid)
  }
}
