// The store tests' engines: every test in test/store runs once on a temp SQLite file and once on a fresh
// PostgreSQL database (TEST_POSTGRES_URL, or a throwaway server test/pg.ts starts), unchanged.
import { join } from 'node:path'
import type { Test } from 'tap'
import { openStore, type Store } from '../../src/store/index.js'
import { tempDir } from '../helper.js'
import { pgDatabase } from '../pg.js'

export const ENGINES = ['sqlite', 'postgres'] as const
export type EngineName = typeof ENGINES[number]

export async function openTestStore (t: Test, engine: EngineName): Promise<Store> {
  const DATABASE_PATH = join(tempDir(t), 'latchkey.db')
  const store = engine === 'sqlite'
    ? await openStore({ DATABASE_PATH })
    : await openStore({ DATABASE_PATH, DATABASE_URL: await pgDatabase(t), DATABASE_POOL_SIZE: 10, DATABASE_STATEMENT_TIMEOUT: 5000 })
  t.teardown(() => store.close())
  return store
}

/** `t.test(name)` once per engine, each with a fresh store. */
export function onEveryEngine (t: Test, name: string, fn: (t: Test, store: Store) => Promise<void>): void {
  for (const engine of ENGINES) {
    t.test(`${name} [${engine}]`, async (t) => { await fn(t, await openTestStore(t, engine)) })
  }
}
