// `latchkey audit`: the newest audit events as a table (or JSON), and events the CLI itself records.
import { parseArgs } from 'node:util'
import type { Config } from './config.js'
import { AUDIT_EVENT_TYPES, createAuditService, type AuditEvent, type AuditEventType, type AuditEventView } from './services/audit.js'
import { openStore } from './store/index.js'

export const AUDIT_USAGE = 'usage: latchkey audit [--user USERNAME|ID] [--type TYPE] [--limit N] [--json]'
const MAX_LIMIT = 1000

/** Record an event from the command line: no account acts (actor null), no address. */
export async function recordCliEvent (config: Config, event: Omit<AuditEvent, 'actorId'>): Promise<void> {
  const store = await openStore(config)
  try {
    await createAuditService(store).record({ ...event, actorId: null })
  } finally {
    await store.close()
  }
}

/** Columns padded to their widest cell; the last (detail) is left as it is. */
function table (rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd()).join('\n')
}

const cell = (v: number | string | null): string => (v === null ? '-' : String(v))

export function formatAuditTable (events: AuditEventView[]): string {
  return table([
    ['id', 'at', 'type', 'user', 'actor', 'session', 'ip', 'detail'],
    ...events.map((e) => [
      cell(e.id), e.at, e.type, cell(e.user_id), cell(e.actor_id), cell(e.session_id), cell(e.ip),
      Object.keys(e.detail).length === 0 ? '' : JSON.stringify(e.detail)
    ])
  ])
}

/**
 * Parse the arguments (before the database is opened), then print the newest matching events.
 * `usageError` builds the CLI's own error type, printed as one line without a stack trace.
 */
export async function auditCommand (args: string[], loadConfig: () => Config, usageError: (message: string) => Error,
  print: (line: string) => void = console.log): Promise<void> {
  let values
  try {
    values = parseArgs({
      args,
      options: {
        user: { type: 'string' },
        type: { type: 'string' },
        limit: { type: 'string', default: '20' },
        json: { type: 'boolean', default: false }
      }
    }).values
  } catch (err) {
    throw usageError(`${(err as Error).message}\n${AUDIT_USAGE}`)
  }
  const limit = Number(values.limit)
  if (!/^\d+$/.test(values.limit) || limit < 1 || limit > MAX_LIMIT) throw usageError(`--limit must be a whole number from 1 to ${MAX_LIMIT}`)
  if (values.type !== undefined && !(AUDIT_EVENT_TYPES as readonly string[]).includes(values.type)) {
    throw usageError(`--type must be one of ${AUDIT_EVENT_TYPES.join(', ')}`)
  }
  const store = await openStore(loadConfig())
  try {
    let userId: number | undefined
    if (values.user !== undefined) {
      // A number is an id (a deleted user's events are still there); anything else a username or email.
      if (/^[1-9]\d{0,14}$/.test(values.user)) {
        userId = Number(values.user)
      } else {
        const row = await store.userByLogin(values.user.toLowerCase())
        if (row === undefined) throw usageError(`no user named ${values.user} (pass a numeric id for a deleted user)`)
        userId = row.id
      }
    }
    const { items } = await createAuditService(store).list({ userId, type: values.type as AuditEventType | undefined, limit })
    if (values.json) print(JSON.stringify(items, null, 2))
    else if (items.length === 0) print('No audit events match.')
    else print(formatAuditTable(items))
  } finally {
    await store.close()
  }
}
