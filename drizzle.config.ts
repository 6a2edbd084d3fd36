// drizzle-kit configuration, one file for both engines: DRIZZLE_ENGINE=postgres generates migrations/postgres
// from src/db/schema-pg.ts, anything else migrations/sqlite from src/db/schema.ts. `npm run db:generate` runs both.
import { defineConfig } from 'drizzle-kit'

export default process.env.DRIZZLE_ENGINE === 'postgres'
  ? defineConfig({ dialect: 'postgresql', schema: './src/db/schema-pg.ts', out: './migrations/postgres' })
  : defineConfig({ dialect: 'sqlite', schema: './src/db/schema.ts', out: './migrations/sqlite' })
