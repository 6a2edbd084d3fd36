// Drizzle tables for Latchkey: users, sessions (one per login), refresh tokens (a session's family), tasks,
// account tokens (reset and verification links), TOTP, audit events.
import { sql } from 'drizzle-orm'
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

// Times are stored as integer milliseconds since the epoch: cheap to compare in SQL, ISO 8601 at the edge.
const timestamp = (name: string) => integer(name, { mode: 'timestamp_ms' })

export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  username: text('username').notNull(),
  email: text('email').notNull(),
  passwordHash: text('password_hash').notNull(),
  role: text('role', { enum: ['user', 'admin'] }).notNull().default('user'),
  disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
  // v2: existing users start unverified; the second factor is off until enrolled.
  emailVerified: integer('email_verified', { mode: 'boolean' }).notNull().default(false),
  totpEnabled: integer('totp_enabled', { mode: 'boolean' }).notNull().default(false),
  createdAt: timestamp('created_at').notNull()
}, (t) => [
  // The database, not a lookup, enforces uniqueness, so racing registrations get one 201 and one 409.
  uniqueIndex('users_username_lower_unique').on(sql`lower(${t.username})`),
  uniqueIndex('users_email_unique').on(t.email)
])

export const sessions = sqliteTable('sessions', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  createdAt: timestamp('created_at').notNull(),
  lastUsedAt: timestamp('last_used_at').notNull(),
  // Moves forward on every refresh: the newest refresh token's expiry.
  expiresAt: timestamp('expires_at').notNull(),
  endedAt: timestamp('ended_at'),
  endReason: text('end_reason'),
  // The refresh token rotated most recently; only it may be reused within the grace period.
  lastRotatedTokenId: integer('last_rotated_token_id'),
  userAgent: text('user_agent'),
  ip: text('ip')
}, (t) => [
  index('sessions_user_id_idx').on(t.userId),
  index('sessions_expires_at_idx').on(t.expiresAt)
])

export const refreshTokens = sqliteTable('refresh_tokens', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  sessionId: integer('session_id').notNull().references(() => sessions.id, { onDelete: 'cascade' }),
  // SHA-256 of the opaque token; the token itself is never stored.
  tokenHash: text('token_hash').notNull(),
  createdAt: timestamp('created_at').notNull(),
  // Set when the token is exchanged; presenting it again after that is reuse.
  rotatedAt: timestamp('rotated_at')
}, (t) => [
  uniqueIndex('refresh_tokens_hash_unique').on(t.tokenHash),
  index('refresh_tokens_session_id_idx').on(t.sessionId)
])

export const tasks = sqliteTable('tasks', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  title: text('title').notNull(),
  description: text('description'),
  done: integer('done', { mode: 'boolean' }).notNull().default(false),
  createdAt: timestamp('created_at').notNull(),
  updatedAt: timestamp('updated_at').notNull()
}, (t) => [
  index('tasks_user_id_id_idx').on(t.userId, t.id)
])

// Single-use links mailed to a user (password reset, email verification): only the SHA-256 of the
// token is stored; `email` is the address it was sent to, so a link for an old address verifies nothing.
export const accountTokens = sqliteTable('account_tokens', {
  id: integer('id').primaryKey({ autoIncrement: true }),
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

// TOTP (RFC 6238): one secret per user, encrypted at rest (src/services/totp-key.ts); pending until confirmed.
export const totpSecrets = sqliteTable('totp_secrets', {
  userId: integer('user_id').primaryKey().references(() => users.id, { onDelete: 'cascade' }),
  // AES-256-GCM: `v1.<iv>.<tag>.<ciphertext>`, base64url parts; the plain secret is never stored.
  secretEncrypted: text('secret_encrypted').notNull(),
  createdAt: timestamp('created_at').notNull(),
  // Null while pending; set when a first code confirms the enrolment.
  confirmedAt: timestamp('confirmed_at'),
  // The newest time step (unix time / 30 s) a code was accepted for: that step and older ones are refused (replay).
  lastUsedStep: integer('last_used_step')
})

export const totpRecoveryCodes = sqliteTable('totp_recovery_codes', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  // SHA-256 of the normalised code (80 random bits); the code itself is shown once and never stored.
  codeHash: text('code_hash').notNull(),
  usedAt: timestamp('used_at')
}, (t) => [
  uniqueIndex('totp_recovery_codes_user_hash_unique').on(t.userId, t.codeHash)
])

export type UserRow = typeof users.$inferSelect
export type SessionRow = typeof sessions.$inferSelect
export type TaskRow = typeof tasks.$inferSelect
export type AccountTokenRow = typeof accountTokens.$inferSelect

// The audit trail. No foreign keys on purpose: an event must outlive the user, session or admin it names
// (`user.deleted` is recorded as the user row goes, and a deleted admin's past actions stay attributable),
// so user_id, actor_id and session_id are plain integers that may point at rows that no longer exist.
export const auditEvents = sqliteTable('audit_events', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  at: timestamp('at').notNull(),
  type: text('type').notNull(),
  userId: integer('user_id'),
  actorId: integer('actor_id'),
  sessionId: integer('session_id'),
  ip: text('ip'),
  userAgent: text('user_agent'),
  // A JSON object; never a password, token, code or secret (src/services/audit.ts).
  detail: text('detail').notNull().default('{}')
}, (t) => [
  // GET /admin/audit?user_id= and GET /users/me/audit walk one user's events newest first;
  // ?type= walks one type's; retention deletes by age.
  index('audit_events_user_id_id_idx').on(t.userId, t.id),
  index('audit_events_type_id_idx').on(t.type, t.id),
  index('audit_events_at_idx').on(t.at)
])

export type AuditEventRow = typeof auditEvents.$inferSelect
