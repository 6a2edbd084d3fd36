// The storage plugin: opens the store (SQLite file or PostgreSQL, migrations applied) before anything
// decorates, closes it on shutdown. `app.store` is what services use; on SQLite the Drizzle database and the
// raw connection stay reachable as `app.db` / `app.sqlite` for SQLite-only tooling and tests.
import fp from 'fastify-plugin'
import type Database from 'better-sqlite3'
import type { Db } from '../src/db/open.js'
import { loggable } from '../src/log.js'
import { openStore, type Store } from '../src/store/index.js'
import type { SqliteStore } from '../src/store/sqlite.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
    db: Db
    sqlite: Database.Database
  }
}

export default fp(async (app) => {
  // An idle pooled connection dying (PostgreSQL restarted, a backend terminated) is replaced by the pool;
  // requests meanwhile get 503s from the error plugin. Logged, never thrown.
  const store = await openStore(app.config, {
    onPoolError: (err) => app.log.warn({ err: loggable(err) }, 'a PostgreSQL connection was lost; the pool reconnects'),
    onCheckpointError: (err) => app.log.warn({ err: loggable(err) }, 'the WAL checkpoint worker stopped; SQLite checkpoints inside commits again')
  })
  app.decorate('store', store)
  if (store.engine === 'sqlite') {
    app.decorate('db', (store as SqliteStore).db)
    app.decorate('sqlite', (store as SqliteStore).sqlite)
  }
  app.addHook('onClose', async () => { await store.close() })
}, { name: 'db', dependencies: ['config'] })
