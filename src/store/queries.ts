// Every query module bound to one connection or transaction (see ./context.ts).
import { accountTokenQueries } from './account-tokens.js'
import { auditQueries } from './audit.js'
import type { Ctx } from './context.js'
import { sessionQueries } from './sessions.js'
import { taskQueries } from './tasks.js'
import { totpQueries } from './totp.js'
import { userQueries } from './users.js'

export const queries = (ctx: Ctx) => ({
  ...userQueries(ctx),
  ...sessionQueries(ctx),
  ...taskQueries(ctx),
  ...accountTokenQueries(ctx),
  ...totpQueries(ctx),
  ...auditQueries(ctx)
})

export type Queries = ReturnType<typeof queries>
