// Reading the rows of `latchkey import FILE`: a SQLite table (opened read-only) or a JSON-lines file,
// and finding the columns the FastAPI tutorials use (or the ones `--map` names).
import { closeSync, openSync, readSync, readFileSync } from 'node:fs'
import Database from 'better-sqlite3'

/** A refusal that leaves nothing written: unreadable file, missing table or column, bad --map. */
export class ImportSourceError extends Error {}

export type Field = 'username' | 'email' | 'password_hash' | 'role' | 'is_active' | 'disabled' | 'email_verified'

/** Column names per field, in order of preference: what the tutorials and their templates call them. */
const KNOWN: Record<Field, string[]> = {
  username: ['username', 'user_name'],
  email: ['email'],
  password_hash: ['hashed_password', 'password_hash'],
  role: ['role'],
  is_active: ['is_active'],
  disabled: ['disabled'],
  email_verified: ['email_verified', 'is_verified']
}
export const FIELDS = Object.keys(KNOWN) as Field[]

export interface SourceRow { number: number, values: Record<string, unknown> }
export interface Source { kind: 'sqlite' | 'json-lines', table?: string, columns: string[], rows: SourceRow[] }

const SQLITE_MAGIC = 'SQLite format 3\u0000'

function startsWithSqliteMagic (file: string): boolean {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (err) {
    throw new ImportSourceError(`cannot read ${file}: ${describe(err)}`)
  }
  try {
    const head = Buffer.alloc(16)
    const n = readSync(fd, head, 0, 16, 0)
    return head.subarray(0, n).toString('latin1') === SQLITE_MAGIC
  } catch (err) {
    throw new ImportSourceError(`cannot read ${file}: ${describe(err)}`)
  } finally {
    closeSync(fd)
  }
}

function describe (err: unknown): string {
  const e = err as NodeJS.ErrnoException
  if (e.code === 'ENOENT') return 'no such file'
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied'
  if (e.code === 'EISDIR') return 'it is a directory'
  return e.message
}

const quoteIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`

function readSqlite (file: string, table: string): Source {
  let db: Database.Database
  try {
    // Read-only, and never create a file that is not there (https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md#new-databasepath-options).
    db = new Database(file, { readonly: true, fileMustExist: true })
  } catch (err) {
    throw new ImportSourceError(`cannot open ${file} as a SQLite database: ${(err as Error).message}`)
  }
  try {
    // The tutorial's server may be writing to it right now.
    db.pragma('busy_timeout = 5000')
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name)
    if (!tables.includes(table)) {
      throw new ImportSourceError(`${file} has no table "${table}"${tables.length > 0 ? ` (it has ${tables.map((t) => `"${t}"`).join(', ')}; choose one with --table)` : ''}`)
    }
    const columns = (db.prepare('SELECT name FROM pragma_table_info(?)').all(table) as Array<{ name: string }>).map((c) => c.name)
    const rows = (db.prepare(`SELECT * FROM ${quoteIdentifier(table)} ORDER BY rowid`).all() as Array<Record<string, unknown>>)
      .map((values, i) => ({ number: i + 1, values }))
    return { kind: 'sqlite', table, columns, rows }
  } catch (err) {
    if (err instanceof ImportSourceError) throw err
    throw new ImportSourceError(`cannot read ${file}: ${(err as Error).message}`)
  } finally {
    db.close()
  }
}

function readJsonLines (file: string): Source {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ImportSourceError(`cannot read ${file}: ${describe(err)}`)
  }
  const rows: SourceRow[] = []
  const columns = new Set<string>()
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      throw new ImportSourceError(`${file} is neither a SQLite database nor JSON lines: line ${i + 1} is not valid JSON`)
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ImportSourceError(`${file}: line ${i + 1} is not a JSON object`)
    }
    for (const key of Object.keys(value)) columns.add(key)
    rows.push({ number: i + 1, values: value as Record<string, unknown> })
  })
  return { kind: 'json-lines', columns: [...columns], rows }
}

/** A SQLite database (by its header) or else a JSON-lines file, one user object a line. */
export function readSource (file: string, table = 'users'): Source {
  return startsWithSqliteMagic(file) ? readSqlite(file, table) : readJsonLines(file)
}

/** `username=COL,email=COL,…` → field → column. */
export function parseMap (text: string | undefined): Partial<Record<Field, string>> {
  const map: Partial<Record<Field, string>> = {}
  if (text === undefined) return map
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=')
    const field = pair.slice(0, at).trim() as Field
    const column = pair.slice(at + 1).trim()
    if (at === -1 || column === '') throw new ImportSourceError(`--map takes FIELD=COLUMN pairs separated by commas, not "${pair}"`)
    if (!FIELDS.includes(field)) throw new ImportSourceError(`--map: unknown field "${field}" (fields: ${FIELDS.join(', ')})`)
    map[field] = column
  }
  return map
}

/** Which column holds each field: --map first, then the tutorials' names. Email and hash are required. */
export function resolveColumns (source: Source, map: Partial<Record<Field, string>>): Partial<Record<Field, string>> {
  const resolved: Partial<Record<Field, string>> = {}
  for (const field of FIELDS) {
    const mapped = map[field]
    if (mapped !== undefined) {
      if (!source.columns.includes(mapped)) throw new ImportSourceError(`--map ${field}=${mapped}: there is no column "${mapped}"${source.columns.length > 0 ? ` (columns: ${source.columns.join(', ')})` : ''}`)
      resolved[field] = mapped
      continue
    }
    const found = KNOWN[field].find((name) => source.columns.includes(name))
    if (found !== undefined) resolved[field] = found
  }
  // JSON lines may be empty or hold only rows without some field: only a table must have the columns.
  if (source.kind === 'sqlite' || source.rows.length > 0) {
    if (resolved.email === undefined) throw new ImportSourceError(`no email column (looked for ${KNOWN.email.join(', ')}); name it with --map email=COLUMN`)
    if (resolved.password_hash === undefined) throw new ImportSourceError(`no password hash column (looked for ${KNOWN.password_hash.join(', ')}); name it with --map password_hash=COLUMN`)
  }
  return resolved
}
