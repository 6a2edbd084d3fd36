// Schema validation: JSON bodies are checked strictly (no coercion, unknown fields dropped), query strings coerced.
// Given to Fastify as its schemaController's validator factory (https://fastify.dev/docs/latest/Reference/Server/#schemacontroller),
// so every context, including one that adds schemas of its own, gets these compilers without a per-context hook.
import type { FastifySchemaCompiler, FastifyServerOptions } from 'fastify'
import { makeAjv } from '../src/schemas/ajv.js'

type BuildValidator = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>

/** One pair of AJV instances per schema set (Fastify calls this again for a context that adds schemas). */
const buildValidator = (externalSchemas: unknown): FastifySchemaCompiler<unknown> => {
  // API.md: `"id": "5"` for an integer is a 422, and unknown JSON fields are ignored, never applied.
  const bodies = makeAjv({ coerceTypes: false, removeAdditional: 'all' })
  // Query strings and path parameters are text on the wire: `?limit=10` is the number 10.
  const strings = makeAjv({ coerceTypes: 'array', removeAdditional: true })
  for (const schema of Object.values(externalSchemas as Record<string, object>)) {
    bodies.addSchema(schema)
    strings.addSchema(schema)
  }
  return ({ schema, httpPart }) => (httpPart === 'body' ? bodies : strings).compile(schema as object)
}

/** `Fastify({ schemaController })`: the validators of every route context. */
// The cast: @fastify/ajv-compiler's factory type names AJV's compile signature, which Fastify calls as FastifySchemaCompiler.
export const schemaController = { compilersFactory: { buildValidator: buildValidator as unknown as BuildValidator } }
