// The audit trail's rows: appended inside the transaction of the change they record, read newest first.
import { and, desc, eq, lt, lte, type SQL } from 'drizzle-orm'
import type { AuditEventRow } from '../db/schema.js'
import { affected, type Ctx } from './context.js'

export type NewAuditEvent = Omit<AuditEventRow, 'id'>

export interface AuditQuery { before: number, userId?: number, type?: string, limit: number }

export function auditQueries ({ db, t }: Ctx) {
  const { auditEvents } = t
  return {
    insertAuditEvent: async (row: NewAuditEvent): Promise<number> =>
      (await db.insert(auditEvents).values(row).returning({ id: auditEvents.id }))[0].id,

    /** Events with id < `before` (0: from the newest), newest first. */
    listAuditEvents: async ({ before, userId, type, limit }: AuditQuery): Promise<AuditEventRow[]> => {
      const filters: SQL[] = []
      if (before > 0) filters.push(lt(auditEvents.id, before))
      if (userId !== undefined) filters.push(eq(auditEvents.userId, userId))
      if (type !== undefined) filters.push(eq(auditEvents.type, type))
      return await db.select().from(auditEvents).where(and(...filters)).orderBy(desc(auditEvents.id)).limit(limit)
    },

    purgeAuditEvents: async (olderThan: Date): Promise<number> => affected(await db.delete(auditEvents).where(lte(auditEvents.at, olderThan)))
  }
}
