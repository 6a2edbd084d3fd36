// Schema validation: JSON bodies are checked strictly (no coercion, unknown fields dropped), query strings coerced.
import fp from 'fastify-plugin'
import type { FastifySchemaCompiler } from 'fastify'
import { makeAjv } from '../src/schemas/ajv.js'

export default fp(async (app) => {
  // API.md: `"id": "5"` for an integer is a 422, and unknown JSON fields are ignored, never applied.
  const bodies = makeAjv({ coerceTypes: false, removeAdditional: 'all' })
  // Query strings and path parameters are text on the wire: `?limit=10` is the number 10.
  const strings = makeAjv({ coerceTypes: 'array', removeAdditional: true })
  const compiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
    (httpPart === 'body' ? bodies : strings).compile(schema as object)
  app.setValidatorCompiler(compiler)
  // A child context that calls addSchema rebuilds its validator from the root *options*, not from the
  // parent's compiler (fastify lib/schema-controller.js); hand every new context ours.
  app.addHook('onRegister', (instance) => { instance.setValidatorCompiler(compiler) })
}, { name: 'validation' })
