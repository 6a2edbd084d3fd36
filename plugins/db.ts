// The database plugin: opens SQLite (migrations applied) before anything decorates, closes it on shutdown.
import fp from 'fastify-plugin'
import type Database from 'better-sqlite3'
import { openDatabase, type Db } from '../src/db/open.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    sqlite: Database.Database
  }
}

export default fp(async (app) => {
  const { db, sqlite } = openDatabase(app.config.DATABASE_PATH)
  app.decorate('db', db)
  app.decorate('sqlite', sqlite)
  app.addHook('onClose', async () => { sqlite.close() })
}, { name: 'db', dependencies: ['config'] })
