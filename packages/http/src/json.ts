import { MillraceError } from '@millrace/protocol';

/**
 * Keys refused anywhere in a JSON body. `__proto__` can replace an object's prototype once the
 * parsed value is merged or spread; `constructor` (with `prototype` inside) is the other route to
 * prototype pollution. fastify's own parser (secure-json-parse) refuses `constructor` only when it
 * holds a `prototype` and answers every refusal with one generic message; this parser refuses both
 * keys outright, as DESIGN.md asks, and says which key it found.
 */
const forbiddenKeys = new Set(['__proto__', 'constructor']);

/**
 * Parses a request body that must be one JSON object. Throws INVALID_REQUEST, saying why, for an
 * empty body, malformed JSON, a forbidden key at any depth, or a top-level value that is not an
 * object (every Millrace control message is an object, so an array or a string is always wrong).
 */
export function parseJsonObject(text: string): Record<string, unknown> {
  if (text.length === 0) {
    throw new MillraceError('INVALID_REQUEST', 'The body is empty; this route expects a JSON object.');
  }
  let value: unknown;
  try {
    // The reviver costs time on every value, so it runs only when the text could spell a
    // forbidden key: literally, or through a \u escape (the only other way to write those letters).
    const suspicious = text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
    value = suspicious ? JSON.parse(text, refuseForbiddenKeys) : JSON.parse(text);
  } catch (error) {
    if (error instanceof MillraceError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new MillraceError('INVALID_REQUEST', `The body is not valid JSON: ${reason}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new MillraceError('INVALID_REQUEST', `The body must be a JSON object, not ${kind}.`);
  }
  return value as Record<string, unknown>;
}

function refuseForbiddenKeys(key: string, value: unknown): unknown {
  if (forbiddenKeys.has(key)) {
    throw new MillraceError('INVALID_REQUEST', `The body contains the key "${key}", which is refused.`, {
      details: { key },
    });
  }
  return value;
}
