/**
 * Errors Meridian raises on purpose carry a stable code (documented, greppable, safe to alert on)
 * and a hint that tells the user what to do next.
 */
export class MeridianError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'MeridianError';
  }

  /** One line for a terminal: `E_CODE: message (hint)`. */
  describe(): string {
    return this.hint ? `${this.code}: ${this.message}\n  hint: ${this.hint}` : `${this.code}: ${this.message}`;
  }
}

export function isMeridianError(err: unknown): err is MeridianError {
  return err instanceof MeridianError;
}

/**
 * A server's listen() as one clear error: a port in use or an address that cannot be bound is
 * the most common start-up failure, and deserves a code and a hint, not a stack trace.
 */
export function listenError(err: NodeJS.ErrnoException, what: string, host: string, port: number, flag: string): Error {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (err.code === 'EADDRINUSE') return new MeridianError('E_ADDR_IN_USE', `${what} cannot listen on ${where}: the address is already in use`, `another process holds it (an earlier demo or proxy still running?): stop it, or choose another with ${flag}`);
  if (err.code === 'EACCES') return new MeridianError('E_ADDR_DENIED', `${what} cannot listen on ${where}: permission denied`, `ports below 1024 need privileges: choose another with ${flag}`);
  if (err.code === 'EADDRNOTAVAIL') return new MeridianError('E_ADDR_UNAVAILABLE', `${what} cannot listen on ${where}: no such local address`, `use an address of this host with ${flag}`);
  return err;
}
