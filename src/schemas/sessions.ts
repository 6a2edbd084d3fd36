// Sessions: one active session as GET /users/me/sessions lists it.
import { Type, type Static } from '@sinclair/typebox'

export const SessionResponse = Type.Object({
  id: Type.Integer({ examples: [3] }),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.String({ format: 'date-time', description: 'Login or most recent refresh' }),
  user_agent: Type.Union([Type.String(), Type.Null()], { examples: ['curl/8.5.0'] }),
  ip: Type.Union([Type.String(), Type.Null()], { examples: ['127.0.0.1'] }),
  current: Type.Boolean({ description: 'The session of the access token making this request' })
})

export type SessionView = Static<typeof SessionResponse>
