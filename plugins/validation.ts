// Schema validation: JSON bodies are checked strictly (no coercion, unknown fields dropped), query strings coerced.
import fp from 'fastify-plugin'
import { Ajv, type Options } from 'ajv'
import addFormatsModule from 'ajv-formats'

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

function makeAjv (options: Options): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, ...options })
  addFormats(ajv)
  return ajv
}

export default fp(async (app) => {
  // API.md: `"id": "5"` for an integer is a 422, and unknown JSON fields are ignored, never applied.
  const bodies = makeAjv({ coerceTypes: false, removeAdditional: 'all' })
  // Query strings and path parameters are text on the wire: `?limit=10` is the number 10.
  const strings = makeAjv({ coerceTypes: 'array', removeAdditional: true })
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodies : strings).compile(schema))
}, { name: 'validation' })
