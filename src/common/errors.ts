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
