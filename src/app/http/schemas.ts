/** JSON-schema pieces shared by the HTTP APIs (they also shape the OpenAPI document). */

/** A label set: names to string values. */
export const labelMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

/** Every error answer: `{"error": {"code", "message"}}`. */
export const errorBody = {
  type: 'object',
  properties: {
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
  },
} as const;
