// Users: the account rules' schemas (Role, Username, Email, passwords), the public user and the bodies of /users/me and /admin/users.
import { Type, type Static } from '@sinclair/typebox'
import { Cursor, Limit } from './common.js'

export const Role = Type.Union([Type.Literal('user'), Type.Literal('admin')])
// TypeBox's own idiom: the schema and its static type share the name.
// eslint-disable-next-line @typescript-eslint/no-redeclare
export type Role = Static<typeof Role>

export const Username = Type.String({
  minLength: 3,
  maxLength: 32,
  pattern: '^[A-Za-z0-9_.-]+$',
  'x-pattern-message': 'must contain only letters A-Z and a-z, digits, "_", "." and "-"',
  description: '3–32 characters of A-Z a-z 0-9 _ . -; unique ignoring case',
  examples: ['alice']
})
// ajv-formats' `email` wants a dot in the domain; the pattern says so to OpenAPI readers too.
export const Email = Type.String({
  format: 'email',
  pattern: '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$',
  'x-pattern-message': 'must be a valid email address',
  maxLength: 254,
  description: 'Email address, stored lower-cased, unique',
  examples: ['alice@example.com']
})
// The policy (8–128 code points after NFKC, src/services/passwords.ts) is what OpenAPI shows. The
// schema only caps the raw input at 512 so that a 10,000-character password never reaches the hash:
// a bound on the raw string cannot be the policy, since NFKC changes lengths ("ﬃ" is "ffi").
export const NewPassword = Type.String({
  maxLength: 512,
  'x-documented': { minLength: 8, maxLength: 128 },
  description: '8–128 characters, counted in code points after Unicode NFKC normalisation (input over 512 ' +
    'characters is refused before that); not the username, the email or a common password',
  examples: ['correct horse battery staple']
})
export const AnyPassword = Type.String({ minLength: 1, maxLength: 512, description: 'The password', examples: ['correct horse battery staple'] })

export const UserResponse = Type.Object({
  id: Type.Integer({ examples: [1] }),
  username: Type.String({ examples: ['alice'] }),
  email: Type.String({ examples: ['alice@example.com'] }),
  email_verified: Type.Boolean({ description: 'Whether the user proved they receive mail at this address', examples: [false] }),
  role: { ...Role, examples: ['user'] },
  disabled: Type.Boolean({ examples: [false] }),
  totp_enabled: Type.Boolean({ description: 'Whether sign-in needs a one-time code (TOTP)', examples: [false] }),
  created_at: Type.String({ format: 'date-time', examples: ['2026-01-01T12:00:00.000Z'] })
}, { $id: 'User', description: 'A user account (never any password or hash)' })

/** A user as the API shows it. */
export type PublicUser = Static<typeof UserResponse>

export const UpdateMeBody = Type.Object({
  username: Type.Optional(Username),
  email: Type.Optional(Email)
})

export const ChangePasswordBody = Type.Object({
  current_password: AnyPassword,
  new_password: NewPassword
})

export const DeleteMeBody = Type.Object({ password: AnyPassword })

export const ListUsersQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Cursor),
  q: Type.Optional(Type.String({ maxLength: 254, description: 'Case-insensitive substring of username or email (% and _ literal)', examples: ['example.com'] }))
})

export const AdminUpdateBody = Type.Object({
  role: Type.Optional({ ...Role, description: 'New role' }),
  disabled: Type.Optional(Type.Boolean({ description: 'Disabling ends every session of the user at once' })),
  email_verified: Type.Optional(Type.Boolean({ description: 'Mark the email address verified (or not) without a mail' }))
})

export const StatsResponse = Type.Object({
  users: Type.Integer({ description: 'All users', examples: [42] }),
  admins: Type.Integer({ description: 'Active admins (role admin, not disabled)', examples: [1] }),
  active_sessions: Type.Integer({ description: 'Sessions neither ended nor expired', examples: [17] })
}, { description: 'Counts' })
