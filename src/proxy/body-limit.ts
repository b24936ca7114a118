import type { IncomingMessage } from 'node:http';

/** Thrown into undici (which aborts the upstream request with it) when a body passes the limit. */
export class BodyTooLargeError extends Error {
  readonly code = 'E_BODY_TOO_LARGE';
  constructor(readonly limit: number) {
    super(`request body exceeds the limit of ${limit} bytes`);
  }
}

/**
 * A request body on its way upstream. A chunked one declares no length, so nothing bounds it
 * before it is forwarded: it is counted on the way through and the upstream request fails once it
 * passes `limit`. The request stream is not destroyed when the count fails (destroying it would
 * reset the connection), so the client still gets its 413. `onChunk` hears of every chunk sent.
 */
export async function* limitedBody(req: IncomingMessage, limit: number, onChunk?: () => void): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    seen += chunk.length;
    if (seen > limit) throw new BodyTooLargeError(limit);
    onChunk?.();
    yield chunk;
  }
}
