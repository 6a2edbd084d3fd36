// Schema annotations that only the OpenAPI document reads (the validator ignores unknown keywords).
//   'x-documented':      bounds to show instead of the validator's (the password policy, not its early cap)
//   'x-pattern-message': the sentence plugins/errors.ts reports when `pattern` fails
type Json = unknown

/** A copy of an OpenAPI document with `x-documented` applied and both annotations removed. */
export function applyDocumentedBounds<T> (document: T): T {
  const walk = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(walk)
    if (node === null || typeof node !== 'object') return node
    const out: Record<string, Json> = {}
    for (const [key, value] of Object.entries(node)) {
      if (key !== 'x-documented' && key !== 'x-pattern-message') out[key] = walk(value)
    }
    const documented = (node as Record<string, Json>)['x-documented']
    if (documented !== null && typeof documented === 'object') Object.assign(out, documented)
    return out
  }
  return walk(document) as T
}
