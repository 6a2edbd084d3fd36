// Lint: neostandard (the Fastify ecosystem's style) with TypeScript support.
import neostandard from 'neostandard'

// better-sqlite3's get() reads one row and resets the statement: outside a transaction the COMMIT runs
// at that reset and its error (SQLITE_FULL, SQLITE_IOERR, …) is discarded, so a write that was never
// stored is acknowledged (issue 10). .run() and .all() step to the end and throw. Forbid get() on any
// Drizzle write chain (insert/update/delete/returning) and on a prepared write statement.
const WRITE_GET = 'get() on a write loses a failed COMMIT outside a transaction: use .returning().all() (e.g. `const [row] = …all()`) or .run()'
const writeGet = [
  {
    // The callee chain (or, rarely, an argument) holds insert()/update()/delete()/returning().
    selector: "CallExpression[callee.property.name='get']:has(CallExpression[callee.property.name=/^(insert|update|delete|returning)$/])",
    message: WRITE_GET
  },
  {
    selector: "CallExpression[callee.property.name='get'] > MemberExpression > CallExpression[callee.property.name='prepare'] > Literal[value=/^\\s*(INSERT|UPDATE|DELETE|REPLACE|WITH)\\b/i]",
    message: WRITE_GET
  }
]

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'coverage/**', '.tap/**', 'migrations/**', 'test-artifacts/**', 'node_modules/**', '.exp/**']
  }),
  { rules: { 'no-restricted-syntax': ['error', ...writeGet] } }
]
