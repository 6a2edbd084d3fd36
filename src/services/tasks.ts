// Tasks: a per-user to-do list; every query is scoped to the owner, so another user's task is absent.
import { and, asc, eq, gt } from 'drizzle-orm'
import type { Db } from '../db/open.js'
import { tasks, type TaskRow } from '../db/schema.js'
import { decodeCursor, pageOf, type Page } from './users.js'

export interface PublicTask {
  id: number
  title: string
  description: string | null
  done: boolean
  created_at: string
  updated_at: string
}

export const toPublicTask = (row: TaskRow): PublicTask => ({
  id: row.id,
  title: row.title,
  description: row.description,
  done: row.done,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString()
})

export interface TaskChanges { title?: string, description?: string | null, done?: boolean }

export function createTasksService (db: Db) {
  const owned = (userId: number, id: number) => and(eq(tasks.userId, userId), eq(tasks.id, id))
  return {
    list (userId: number, { limit, cursor }: { limit: number, cursor?: string }): Page<PublicTask> {
      const rows = db.select().from(tasks)
        .where(and(eq(tasks.userId, userId), gt(tasks.id, decodeCursor(cursor))))
        .orderBy(asc(tasks.id)).limit(limit + 1).all()
      const page = pageOf(rows, limit)
      return { items: page.items.map(toPublicTask), next_cursor: page.next_cursor }
    },

    create (userId: number, input: { title: string, description?: string | null, done?: boolean }): PublicTask {
      const now = new Date()
      // .all(), never .get(), on a write: see eslint.config.js (a COMMIT failure is lost by get()).
      const [row] = db.insert(tasks).values({
        userId,
        title: input.title,
        description: input.description ?? null,
        done: input.done ?? false,
        createdAt: now,
        updatedAt: now
      }).returning().all()
      return toPublicTask(row)
    },

    get (userId: number, id: number): PublicTask | undefined {
      const row = db.select().from(tasks).where(owned(userId, id)).get()
      return row && toPublicTask(row)
    },

    update (userId: number, id: number, changes: TaskChanges): PublicTask | undefined {
      const set: Partial<TaskRow> = { updatedAt: new Date() }
      if (changes.title !== undefined) set.title = changes.title
      if (changes.description !== undefined) set.description = changes.description
      if (changes.done !== undefined) set.done = changes.done
      const [row] = db.update(tasks).set(set).where(owned(userId, id)).returning().all()
      return row && toPublicTask(row)
    },

    remove: (userId: number, id: number): boolean => db.delete(tasks).where(owned(userId, id)).run().changes > 0
  }
}

export type TasksService = ReturnType<typeof createTasksService>
