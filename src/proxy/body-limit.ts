import type { IncomingMessage } from 'node:http';

/** Thrown into undici (which aborts the upstream request with it) when a body passes the limit. */
export class BodyTooLargeError extends Error {
  readonly code = 'E_BODY_TOO_LARGE';
  constructor(readonly limit: number) {
    super(`request body exceeds the limit of ${limit} bytes`);
  }
}

/**
 * A chunked request body declares no length, so nothing bounds it before it is forwarded: count
 * it on the way through and fail the upstream request once it passes `limit`. The request stream
 * is not destroyed when the count fails (destroying it would reset the connection), so the
 * client still gets its 413.
 */
export async function* limitedBody(req: IncomingMessage, limit: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    seen += chunk.length;
    if (seen > limit) throw new BodyTooLargeError(limit);
    yield chunk;
  }
}
