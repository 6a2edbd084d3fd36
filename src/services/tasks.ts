// Tasks: a per-user to-do list; every query is scoped to the owner, so another user's task is absent.
import type { TaskRow } from '../db/schema.js'
import type { Store, TaskChanges as StoredChanges } from '../store/index.js'
import type { PublicTask } from '../schemas/tasks.js'
import { decodeCursor, pageOf, type Page } from './pages.js'

export const toPublicTask = (row: TaskRow): PublicTask => ({
  id: row.id,
  title: row.title,
  description: row.description,
  done: row.done,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString()
})

export interface TaskChanges { title?: string, description?: string | null, done?: boolean }

export function createTasksService (store: Store) {
  return {
    async list (userId: number, { limit, cursor }: { limit: number, cursor?: string }): Promise<Page<PublicTask>> {
      const page = pageOf(await store.listTasks(userId, decodeCursor(cursor), limit + 1), limit)
      return { items: page.items.map(toPublicTask), next_cursor: page.next_cursor }
    },

    async create (userId: number, input: { title: string, description?: string | null, done?: boolean }): Promise<PublicTask> {
      const now = new Date()
      return toPublicTask(await store.insertTask({
        userId,
        title: input.title,
        description: input.description ?? null,
        done: input.done ?? false,
        createdAt: now,
        updatedAt: now
      }))
    },

    async get (userId: number, id: number): Promise<PublicTask | undefined> {
      const row = await store.task(userId, id)
      return row && toPublicTask(row)
    },

    async update (userId: number, id: number, changes: TaskChanges): Promise<PublicTask | undefined> {
      const set: StoredChanges = { updatedAt: new Date() }
      if (changes.title !== undefined) set.title = changes.title
      if (changes.description !== undefined) set.description = changes.description
      if (changes.done !== undefined) set.done = changes.done
      const row = await store.updateTask(userId, id, set)
      return row && toPublicTask(row)
    },

    remove: async (userId: number, id: number): Promise<boolean> => await store.deleteTask(userId, id)
  }
}

export type TasksService = ReturnType<typeof createTasksService>
