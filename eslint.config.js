// Lint: neostandard (the Fastify ecosystem's style) with TypeScript support.
import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['dist/**', 'coverage/**', '.tap/**', 'migrations/**', 'test-artifacts/**', 'node_modules/**']
})
