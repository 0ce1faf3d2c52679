/** Errors that carry their HTTP meaning, so handlers map them without guessing. */
export type ErrorCode =
  | 'bad_request'
  | 'session_not_found'
  | 'session_gone'
  | 'instance_not_found'
  | 'not_found'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'method_not_allowed'
  | 'conflict'
  | 'unauthorized'
  | 'rate_limited'
  | 'forbidden'
  | 'capacity'
  | 'unavailable';

const statusByCode: Record<ErrorCode, number> = {
  bad_request: 400,
  session_not_found: 404,
  /** The session ended because its machine was lost; the message says why. */
  session_gone: 410,
  instance_not_found: 404,
  not_found: 404,
  payload_too_large: 413,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  conflict: 409,
  unauthorized: 401,
  rate_limited: 429,
  forbidden: 403,
  capacity: 503,
  unavailable: 503,
};

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
    /** Seconds after which trying again makes sense (sent as Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message, options);
    this.status = statusByCode[code];
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}
