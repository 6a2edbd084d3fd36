// Keyset pagination: opaque cursors (the last id of a page, base64url) and pages of `limit` rows.
import { InvalidInput, invalidRequestSentence } from '../errors.js'

export interface Page<T> { items: T[], next_cursor: string | null }

export const encodeCursor = (id: number): string => Buffer.from(`id:${id}`).toString('base64url')

/** The id a cursor stands for (0 for none); InvalidInput for one this server could not have issued. */
export function decodeCursor (cursor: string | undefined, field = '/cursor'): number {
  if (cursor === undefined) return 0
  // Canonical base64url of `id:N`, N a positive integer without leading zeros.
  const match = /^id:([1-9]\d{0,14})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (match === null || encodeCursor(Number(match[1])) !== cursor) {
    const errors = [{ field, message: 'is not a valid cursor' }]
    throw new InvalidInput(errors, invalidRequestSentence(errors))
  }
  return Number(match[1])
}

/** A page of `rows` fetched with `limit + 1`: the extra row says there is a next page. */
export function pageOf<T extends { id: number }> (rows: T[], limit: number): Page<T> {
  const more = rows.length > limit
  const items = more ? rows.slice(0, limit) : rows
  return { items, next_cursor: more ? encodeCursor(items[items.length - 1].id) : null }
}
