// Tasks: a user's own rows, keyset-paged by id.
import { and, asc, eq, gt } from 'drizzle-orm'
import type { TaskRow } from '../db/schema.js'
import { affected, first, type Ctx } from './context.js'

export type NewTask = Omit<TaskRow, 'id'>
export type TaskChanges = Partial<Pick<TaskRow, 'title' | 'description' | 'done' | 'updatedAt'>>

export function taskQueries ({ db, t }: Ctx) {
  const { tasks } = t
  const owned = (userId: number, id: number) => and(eq(tasks.userId, userId), eq(tasks.id, id))
  return {
    listTasks: async (userId: number, after: number, limit: number): Promise<TaskRow[]> =>
      await db.select().from(tasks).where(and(eq(tasks.userId, userId), gt(tasks.id, after))).orderBy(asc(tasks.id)).limit(limit),
    insertTask: async (values: NewTask): Promise<TaskRow> => (await db.insert(tasks).values(values).returning())[0],
    task: async (userId: number, id: number): Promise<TaskRow | undefined> => first(await db.select().from(tasks).where(owned(userId, id)).limit(1)),
    updateTask: async (userId: number, id: number, set: TaskChanges): Promise<TaskRow | undefined> =>
      first(await db.update(tasks).set(set).where(owned(userId, id)).returning()),
    deleteTask: async (userId: number, id: number): Promise<boolean> => affected(await db.delete(tasks).where(owned(userId, id))) > 0
  }
}
