// `latchkey import FILE [--dry-run] [--table T] [--map FIELD=COLUMN,…]`: arguments, the report, the exit code.
import { existsSync } from 'node:fs'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import type { Config } from '../config.js'
import { Taken } from '../errors.js'
import { openStore, type Store } from '../store/index.js'
import { ImportSourceError, parseMap, readSource, resolveColumns } from './source.js'
import { importUsers, type ImportReport, type RowOutcome } from './users.js'

export const IMPORT_USAGE = 'usage: latchkey import FILE [--dry-run] [--table T] [--map username=COL,email=COL,password_hash=COL,…]'

function describeRow (o: RowOutcome, width: number): string {
  const row = `row ${String(o.row).padStart(width)}`
  if (o.status === 'skipped') return `${row}  skipped   ${o.label}: ${o.reason}`
  const extras = [
    o.role,
    o.scheme,
    o.emailVerified ? 'verified' : 'unverified',
    ...(o.disabled ? ['disabled'] : []),
    ...(o.derived ? ['username derived from the email'] : []),
    ...(o.note !== undefined ? [o.note] : [])
  ]
  return `${row}  imported  ${o.username} <${o.email}>  ${extras.join(', ')}`
}

export function formatReport (report: ImportReport): string[] {
  const count = (n: number) => `${n} user${n === 1 ? '' : 's'}`
  const summary = report.dryRun
    ? `Dry run: ${count(report.imported)} would be imported, ${report.skipped} skipped; nothing was written.`
    : `Imported ${count(report.imported)}, skipped ${report.skipped}. Each signs in with their old password; the first sign-in rehashes it as argon2id.`
  const width = String(Math.max(0, ...report.outcomes.map((o) => o.row))).length
  return [...report.outcomes.map((o) => describeRow(o, width)), summary]
}

/**
 * The dry run must not create Latchkey's database: with no database file yet it plans against an empty
 * in-memory one; an existing database is only read (opening it applies pending migrations, as any start does).
 */
async function openForDryRun (config: Config): Promise<Store> {
  return await openStore(existsSync(config.DATABASE_PATH) ? config : { ...config, DATABASE_PATH: ':memory:' })
}

/** Runs the command; resolves to the exit code. `loadConfig` is only called once the source has been read. */
export async function importCommand (args: string[], loadConfig: () => Config): Promise<number> {
  const fail = (message: string): number => {
    console.error(`latchkey: ${message}`)
    return 1
  }
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { 'dry-run': { type: 'boolean', default: false }, table: { type: 'string', default: 'users' }, map: { type: 'string' } }
    })
  } catch (err) {
    return fail(`${(err as Error).message}\n${IMPORT_USAGE}`)
  }
  const { values, positionals } = parsed
  if (positionals.length !== 1) return fail(IMPORT_USAGE)
  const file = positionals[0]
  const dryRun = values['dry-run']

  let source, columns
  try {
    const map = parseMap(values.map)
    source = readSource(file, values.table)
    columns = resolveColumns(source, map)
  } catch (err) {
    if (err instanceof ImportSourceError) return fail(err.message)
    throw err
  }

  const config = loadConfig()
  const store = dryRun ? await openForDryRun(config) : await openStore(config)
  try {
    const found = Object.entries(columns).map(([field, column]) => `${field}=${column}`).join(', ')
    console.log(`Reading ${basename(file)} (${source.kind === 'sqlite' ? `SQLite, table "${source.table}"` : 'JSON lines'}): ${source.rows.length} row${source.rows.length === 1 ? '' : 's'}; columns ${found}`)
    const report = await importUsers(store, source, columns, {
      dryRun,
      own: { memoryCost: config.ARGON2_MEMORY_COST, timeCost: config.ARGON2_TIME_COST, parallelism: config.ARGON2_PARALLELISM }
    })
    for (const line of formatReport(report)) console.log(line)
    return 0
  } catch (err) {
    // Only where the taken checks cannot hold the write lock (PostgreSQL): the transaction rolled back.
    if (err instanceof Taken) return fail('a username or email in the file was registered while importing; nothing was imported: run the import again')
    throw err
  } finally {
    await store.close()
  }
}
