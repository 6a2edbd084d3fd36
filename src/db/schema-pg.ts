// Drizzle tables for PostgreSQL: a mirror of src/db/schema.ts (same table, column and index names, same row
// types, checked below at compile time), plus the tables that live in files on SQLite (keys) or in memory
// (the login throttle), because on PostgreSQL every instance must share them.
import { sql } from 'drizzle-orm'
import { boolean, index, integer, pgTable, text, timestamp as pgTimestamp, uniqueIndex } from 'drizzle-orm/pg-core'
import type * as sqlite from './schema.js'

// timestamptz read and written as a Date, like SQLite's integer milliseconds.
const timestamp = (name: string) => pgTimestamp(name, { withTimezone: true, mode: 'date' })
// generatedByDefault (not ALWAYS): `db copy` inserts the SQLite ids as they are, then moves the sequence on.
const id = () => integer('id').primaryKey().generatedByDefaultAsIdentity()

export const users = pgTable('users', {
  id: id(),
  username: text('username').notNull(),
  email: text('email').notNull(),
  passwordHash: text('password_hash').notNull(),
  role: text('role', { enum: ['user', 'admin'] }).notNull().default('user'),
  disabled: boolean('disabled').notNull().default(false),
  emailVerified: boolean('email_verified').notNull().default(false),
  totpEnabled: boolean('totp_enabled').notNull().default(false),
  createdAt: timestamp('created_at').notNull()
}, (t) => [
  uniqueIndex('users_username_lower_unique').on(sql`lower(${t.username})`),
  uniqueIndex('users_email_unique').on(t.email)
])

export const sessions = pgTable('sessions', {
  id: id(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  createdAt: timestamp('created_at').notNull(),
  lastUsedAt: timestamp('last_used_at').notNull(),
  expiresAt: timestamp('expires_at').notNull(),
  endedAt: timestamp('ended_at'),
  endReason: text('end_reason'),
  lastRotatedTokenId: integer('last_rotated_token_id'),
  userAgent: text('user_agent'),
  ip: text('ip')
}, (t) => [
  index('sessions_user_id_idx').on(t.userId),
  index('sessions_expires_at_idx').on(t.expiresAt)
])

export const refreshTokens = pgTable('refresh_tokens', {
  id: id(),
  sessionId: integer('session_id').notNull().references(() => sessions.id, { onDelete: 'cascade' }),
  tokenHash: text('token_hash').notNull(),
  createdAt: timestamp('created_at').notNull(),
  rotatedAt: timestamp('rotated_at')
}, (t) => [
  uniqueIndex('refresh_tokens_hash_unique').on(t.tokenHash),
  index('refresh_tokens_session_id_idx').on(t.sessionId)
])

export const tasks = pgTable('tasks', {
  id: id(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  title: text('title').notNull(),
  description: text('description'),
  done: boolean('done').notNull().default(false),
  createdAt: timestamp('created_at').notNull(),
  updatedAt: timestamp('updated_at').notNull()
}, (t) => [
  index('tasks_user_id_id_idx').on(t.userId, t.id)
])

export const accountTokens = pgTable('account_tokens', {
  id: id(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  kind: text('kind', { enum: ['reset', 'verify'] }).notNull(),
  tokenHash: text('token_hash').notNull(),
  email: text('email').notNull(),
  createdAt: timestamp('created_at').notNull(),
  expiresAt: timestamp('expires_at').notNull(),
  usedAt: timestamp('used_at')
}, (t) => [
  uniqueIndex('account_tokens_hash_unique').on(t.tokenHash),
  index('account_tokens_user_kind_idx').on(t.userId, t.kind),
  index('account_tokens_email_kind_idx').on(t.email, t.kind),
  index('account_tokens_expires_at_idx').on(t.expiresAt)
])

export const totpSecrets = pgTable('totp_secrets', {
  userId: integer('user_id').primaryKey().references(() => users.id, { onDelete: 'cascade' }),
  secretEncrypted: text('secret_encrypted').notNull(),
  createdAt: timestamp('created_at').notNull(),
  confirmedAt: timestamp('confirmed_at'),
  // unix time / 30 s: about 5.9e7 today, far inside a 32-bit integer.
  lastUsedStep: integer('last_used_step')
})

export const totpRecoveryCodes = pgTable('totp_recovery_codes', {
  id: id(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  codeHash: text('code_hash').notNull(),
  usedAt: timestamp('used_at')
}, (t) => [
  uniqueIndex('totp_recovery_codes_user_hash_unique').on(t.userId, t.codeHash)
])

// No foreign keys on purpose, as on SQLite: an event outlives the rows it names.
export const auditEvents = pgTable('audit_events', {
  id: id(),
  at: timestamp('at').notNull(),
  type: text('type').notNull(),
  userId: integer('user_id'),
  actorId: integer('actor_id'),
  sessionId: integer('session_id'),
  ip: text('ip'),
  userAgent: text('user_agent'),
  detail: text('detail').notNull().default('{}')
}, (t) => [
  index('audit_events_user_id_id_idx').on(t.userId, t.id),
  index('audit_events_type_id_idx').on(t.type, t.id),
  index('audit_events_at_idx').on(t.at)
])

// PostgreSQL only. Signing keys (Ed25519 PKCS#8 PEM; kid = RFC 7638 thumbprint): every instance signs with
// the newest active one and verifies all active ones; retiring sets retired_at rather than deleting.
export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  privatePem: text('private_pem').notNull(),
  createdAt: timestamp('created_at').notNull(),
  retiredAt: timestamp('retired_at')
})

// Server-wide secrets that are files on SQLite: 'totp' holds the TOTP encryption key (base64, 32 bytes).
export const serverSecrets = pgTable('server_secrets', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
  createdAt: timestamp('created_at').notNull()
})

// The per-account login throttle's counters (src/services/login-throttle-pg.ts), shared by every instance.
export const loginThrottle = pgTable('login_throttle', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull().default(0),
  blockedUntil: timestamp('blocked_until'),
  // Attempts admitted whose verdict is not in yet; they stop counting IN_FLIGHT_TTL after in_flight_since.
  inFlight: integer('in_flight').notNull().default(0),
  inFlightSince: timestamp('in_flight_since'),
  updatedAt: timestamp('updated_at').notNull()
}, (t) => [
  index('login_throttle_updated_at_idx').on(t.updatedAt)
])

export type SigningKeyRow = typeof signingKeys.$inferSelect

// Compile-time proof that both engines hand the services the same rows.
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
const same = <A, B>(proof: Same<A, B>): Same<A, B> => proof
export const rowTypesMatch = [
  same<typeof users.$inferSelect, typeof sqlite.users.$inferSelect>(true),
  same<typeof sessions.$inferSelect, typeof sqlite.sessions.$inferSelect>(true),
  same<typeof refreshTokens.$inferSelect, typeof sqlite.refreshTokens.$inferSelect>(true),
  same<typeof tasks.$inferSelect, typeof sqlite.tasks.$inferSelect>(true),
  same<typeof accountTokens.$inferSelect, typeof sqlite.accountTokens.$inferSelect>(true),
  same<typeof totpSecrets.$inferSelect, typeof sqlite.totpSecrets.$inferSelect>(true),
  same<typeof totpRecoveryCodes.$inferSelect, typeof sqlite.totpRecoveryCodes.$inferSelect>(true),
  same<typeof auditEvents.$inferSelect, typeof sqlite.auditEvents.$inferSelect>(true)
] as const
