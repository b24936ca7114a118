// Types of bench/lib/security-probes.js, for the tests that share its probes.

export type Answer = 'reject' | 'reject-or-close' | 'serve' | 'any' | number[];
export type OriginStep = string | { waitMs: number };

export interface Probe {
  theme: 'smuggling' | 'header-syntax' | 'hostile-origin';
  name: string;
  /** The bytes a client sends on one connection (latin1). */
  request: string;
  /** Request targets an origin may see, in order, by any reading the standard allows. */
  allowed: string[];
  /** Strings no acceptable reading puts in a forwarded request. */
  neverForward?: string[];
  answer: Answer;
  /** For 'reject': how many requests before the offending one are valid (and may be served). */
  served?: number;
  /** Header names the origin must not see (a bare CR read as a line end). */
  absentHeaders?: string[];
  /** The transfer coding that must reach the origin if the request is forwarded. */
  keepCoding?: string;
  /** If forwarded, the body the origin must get. */
  forwardBody?: string;
  /** If forwarded, the origin must get the request target in origin-form. */
  originForm?: boolean;
  /** Hostile-origin probes: the origin's raw answer and what it does after. */
  origin?: OriginStep[];
  then?: 'keep' | 'end' | 'reset' | 'hang';
  /** The origin's answer is incomplete. */
  cut?: boolean;
  /** The content the client must get when the answer is passed on. */
  body?: string;
  /** The answer is valid HTTP: the client must get it (final status and body). */
  mustPass?: boolean;
}

export const SMUGGLED: string;
export const PROBES: Probe[];
export function request(method: string, target: string, lines?: string[], body?: string, opts?: { host?: boolean; version?: string }): string;
export function hostilePath(name: string): string;
export function probesOf(theme: Probe['theme']): Probe[];
