/**
 * HTTP/1.1 on raw sockets, for tests that must see exactly what went over the wire: a small
 * parser of requests and responses (RFC 9112), a one-shot client (send bytes, collect everything
 * until the peer closes or goes quiet) and an interactive one (write, wait for a response, write
 * more, read slowly or never).
 *
 * The parser is strict by default: it checks what a *sender* must do (CRLF line ends, no
 * obs-fold, no CTL in field values, one framing), which is what a proxy's output has to meet.
 * `lenient` adds the tolerances RFC 9112 allows a *recipient* — bare LF line ends, obs-fold and
 * bare CR replaced by SP, empty lines before a request line, whitespace-separated request lines,
 * identical duplicate Content-Lengths, Transfer-Encoding over Content-Length (then the connection
 * ends) — so that "how many requests could the client's bytes be, by the standard" has an answer
 * no conforming reader can exceed. Node's own parser (llhttp) is not used: the point is to check
 * it.
 */
import { connect, type Socket } from 'node:net';

export interface HttpMessage {
  kind: 'request' | 'response';
  /** Request: method, target. Response: status, reason. */
  method?: string;
  target?: string;
  status?: number;
  reason?: string;
  version: string;
  /** Field lines in order, names as sent, values without surrounding whitespace. */
  headers: Array<[string, string]>;
  trailers: Array<[string, string]>;
  /** The content, de-chunked. */
  body: Buffer;
  framing: 'length' | 'chunked' | 'close' | 'none';
  /** The whole message as it came, head and framed body. */
  raw: Buffer;
  /** Offset of the message in the parsed bytes. */
  offset: number;
}

export interface ParseOptions {
  /** RFC 9112's recipient tolerances (see the file comment). Default strict. */
  lenient?: boolean;
  /** Responses: the methods of the requests they answer, in order (a HEAD answer has no body). */
  methods?: string[];
  /** The bytes end because the connection closed: a close-delimited body is then complete. */
  closed?: boolean;
  /** Requests: check Host (exactly one in HTTP/1.1) as well as framing. Default true. */
  semantic?: boolean;
}

export interface Parsed {
  /** Complete messages, in order. */
  messages: HttpMessage[];
  /** Why parsing stopped early: the bytes from `errorAt` on are not a valid message. */
  error?: string;
  errorAt?: number;
  /** A message whose head is complete and whose body is not (a cut connection, when `closed`), or is invalid (with `error`). */
  partial?: { message: HttpMessage; expected: number | 'chunked' | 'close' };
  /** Bytes after the last complete message that are not (yet) one: an unfinished head or body. */
  rest: Buffer;
  /** Bytes after a 101 response: the tunnel's, not HTTP's. */
  tunnel?: Buffer;
  /** The reading ends here though bytes may follow: a message whose framing obliges the server to close (CL + TE, TE in HTTP/1.0). */
  closeAfter?: boolean;
}

class ParseError extends Error {}
class NeedMore extends Error {}

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CR = 13;
const LF = 10;

export function headerValues(m: Pick<HttpMessage, 'headers'>, name: string): string[] {
  const n = name.toLowerCase();
  return m.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

export function header(m: Pick<HttpMessage, 'headers'>, name: string): string | undefined {
  const all = headerValues(m, name);
  return all.length ? all.join(', ') : undefined;
}

/** Reads lines from `buf` starting at `pos`, by the mode's idea of a line end. */
class Lines {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly lenient: boolean,
  ) {}

  /** The next line without its terminator; NeedMore when no terminator has come yet. */
  next(what: string): string {
    const lf = this.buf.indexOf(LF, this.pos);
    if (lf < 0) throw new NeedMore();
    let end = lf;
    if (end > this.pos && this.buf[end - 1] === CR) end--;
    else if (!this.lenient) throw new ParseError(`bare LF ends the ${what}`);
    let line = this.buf.toString('latin1', this.pos, end);
    if (line.includes('\r')) {
      if (!this.lenient) throw new ParseError(`bare CR in ${what}`);
      line = line.replace(/\r/g, ' ');
    }
    this.pos = lf + 1;
    return line;
  }
}

function checkValue(value: string, lenient: boolean, what: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0) {
      if (!lenient) throw new ParseError(`NUL in ${what}`);
    } else if ((c < 0x20 && c !== 9) || c === 0x7f) {
      if (!lenient) throw new ParseError(`control character 0x${c.toString(16)} in ${what}`);
    }
  }
  // RFC 9110 §5.5: a NUL is rejected or replaced with SP.
  return lenient ? value.replace(/\0/g, ' ') : value;
}

/** The field section from `lines` up to its empty line. */
function fieldSection(lines: Lines, lenient: boolean, kind: 'request' | 'response', what: string): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  for (;;) {
    const line = lines.next(what);
    if (line === '') return fields;
    if (line[0] === ' ' || line[0] === '\t') {
      // obs-fold: a recipient may replace it with SP (RFC 9112 §5.2); a sender must not send it.
      if (!lenient || fields.length === 0) throw new ParseError(`obs-fold in ${what}`);
      const last = fields[fields.length - 1]!;
      last[1] = `${last[1]} ${checkValue(line.trim(), lenient, what)}`.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) throw new ParseError(`field line without a colon in ${what}: ${JSON.stringify(line.slice(0, 40))}`);
    let name = line.slice(0, colon);
    if (/[ \t]$/.test(name)) {
      // A server must reject whitespace before the colon; a proxy must remove it from a response.
      if (kind === 'request' || !lenient) throw new ParseError(`whitespace between field name and colon in ${what}`);
      name = name.trimEnd();
    }
    if (!TCHAR.test(name)) throw new ParseError(`invalid field name ${JSON.stringify(name)} in ${what}`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    fields.push([name, checkValue(value, lenient, what)]);
  }
}

/** Content-Length: digits only; identical repeats tolerated when lenient (RFC 9110 §8.6). */
function contentLength(values: string[], lenient: boolean): number | undefined {
  if (values.length === 0) return undefined;
  const parts = values.flatMap((v) => (lenient ? v.split(',').map((p) => p.trim()) : [v]));
  if (!lenient && parts.length > 1) throw new ParseError('more than one Content-Length');
  for (const p of parts) if (!/^[0-9]+$/.test(p)) throw new ParseError(`invalid Content-Length ${JSON.stringify(p)}`);
  const n = Number(parts[0]);
  if (parts.some((p) => Number(p) !== n)) throw new ParseError(`conflicting Content-Lengths ${parts.join(' / ')}`);
  if (!Number.isSafeInteger(n)) throw new ParseError('Content-Length too large');
  return n;
}

/** The transfer codings, lower-cased, in order. */
function codings(values: string[]): string[] {
  const list = values.flatMap((v) => v.split(',')).map((c) => c.trim().split(';')[0]!.trim().toLowerCase());
  if (list.some((c) => c === '' || !TCHAR.test(c))) throw new ParseError(`invalid Transfer-Encoding ${JSON.stringify(values.join(', '))}`);
  return list;
}

/** A chunked body from `pos`: its content, trailers and where it ends. */
function chunked(buf: Buffer, pos: number, lenient: boolean): { body: Buffer; trailers: Array<[string, string]>; end: number } {
  const parts: Buffer[] = [];
  const lines = new Lines(buf, pos, lenient);
  for (;;) {
    const line = lines.next('chunk size line');
    const m = /^([0-9A-Fa-f]+)([ \t]*(?:;.*)?)$/.exec(line);
    if (!m) throw new ParseError(`invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`);
    const ext = m[2]!;
    if (ext !== '' && !lenient && !/^(?:;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[^"\\]|\\.)*"))?)*$/.test(ext)) throw new ParseError(`invalid chunk extension ${JSON.stringify(ext.slice(0, 40))}`);
    // Any length is valid (RFC 9112 §7.1): one past 2^53 loses precision here, but is still
    // more than any buffer a test holds, so the chunk is simply unfinished.
    const size = parseInt(m[1]!, 16);
    if (size === 0) {
      const trailers = fieldSection(lines, lenient, 'request', 'trailer section');
      return { body: Buffer.concat(parts), trailers, end: lines.pos };
    }
    const after = lines.pos + size;
    if (after >= buf.length) throw new NeedMore();
    if (buf[after] === CR && after + 1 >= buf.length) throw new NeedMore();
    if (buf[after] === CR && buf[after + 1] === LF) lines.pos = after + 2;
    else if (lenient && buf[after] === LF) lines.pos = after + 1;
    else throw new ParseError('chunk data not followed by CRLF');
    parts.push(buf.subarray(after - size, after));
  }
}

function startLine(line: string, kind: 'request' | 'response', lenient: boolean): Pick<HttpMessage, 'method' | 'target' | 'status' | 'reason' | 'version'> {
  if (kind === 'request') {
    // A recipient may split the request line on any run of whitespace (RFC 9112 §3).
    const parts = lenient ? line.trim().split(/[ \t\v\f\r]+/) : line.split(' ');
    if (parts.length !== 3) throw new ParseError(`invalid request line ${JSON.stringify(line.slice(0, 60))}`);
    const [method, target, version] = parts as [string, string, string];
    if (!TCHAR.test(method)) throw new ParseError(`invalid method ${JSON.stringify(method)}`);
    if (!/^[\x21-\x7e]+$/.test(target)) throw new ParseError(`invalid request target ${JSON.stringify(target)}`);
    if (!/^HTTP\/1\.[0-9]$/.test(version)) throw new ParseError(`not an HTTP/1.x request line (version ${JSON.stringify(version)})`);
    return { method, target, version };
  }
  const m = /^(HTTP\/1\.[0-9]) ([1-5][0-9][0-9]) (.*)$/.exec(line) ?? (lenient ? /^(HTTP\/1\.[0-9]) ([1-5][0-9][0-9])()$/.exec(line) : null);
  if (!m) throw new ParseError(`invalid status line ${JSON.stringify(line.slice(0, 60))}`);
  checkValue(m[3]!, lenient, 'reason phrase');
  return { version: m[1]!, status: Number(m[2]), reason: m[3]! };
}

/**
 * Parses `bytes` as a sequence of HTTP/1.1 messages of one kind (a connection's one direction).
 * Stops at the first error, at a 101 (the rest is the tunnel's) or where framing obliges the
 * connection to close.
 */
export function parseMessages(kind: 'request' | 'response', bytes: Buffer, opts: ParseOptions = {}): Parsed {
  const lenient = opts.lenient ?? false;
  const semantic = opts.semantic ?? true;
  const methods = opts.methods ?? [];
  let answered = 0;
  const messages: HttpMessage[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const start = pos;
    let partial: Parsed['partial'];
    try {
      const lines = new Lines(bytes, pos, lenient);
      let first = lines.next(kind === 'request' ? 'request line' : 'status line');
      // A server should ignore at least one empty line before a request line (RFC 9112 §2.2).
      while (lenient && kind === 'request' && first === '') first = lines.next('request line');
      const line = startLine(first, kind, lenient);
      const headers = fieldSection(lines, lenient, kind, 'header section');
      const message: HttpMessage = { kind, ...line, headers, trailers: [], body: Buffer.alloc(0), framing: 'none', raw: Buffer.alloc(0), offset: start };
      if (kind === 'request' && semantic) {
        const hosts = headerValues(message, 'host');
        if (hosts.length > 1) throw new ParseError('more than one Host header');
        if (hosts.length === 0 && message.version === 'HTTP/1.1') throw new ParseError('no Host header in an HTTP/1.1 request');
      }
      const te = headerValues(message, 'transfer-encoding');
      const cl = contentLength(headerValues(message, 'content-length'), lenient);
      const status = message.status ?? 0;
      let closeAfter = false;
      const bodiless = kind === 'response' && (status < 200 || status === 204 || status === 304 || (methods[answered] ?? '').toUpperCase() === 'HEAD');
      if (bodiless) {
        message.framing = 'none';
      } else if (te.length > 0) {
        if (cl !== undefined) {
          if (!lenient) throw new ParseError('both Transfer-Encoding and Content-Length');
          closeAfter = true; // processed by Transfer-Encoding alone, then the connection closes (RFC 9112 §6.1)
        }
        if (message.version === 'HTTP/1.0') {
          if (!lenient) throw new ParseError('Transfer-Encoding in an HTTP/1.0 message');
          closeAfter = true;
        }
        const list = codings(te);
        if (list.filter((c) => c === 'chunked').length > 1) throw new ParseError('chunked applied more than once');
        if (list.at(-1) === 'chunked') message.framing = 'chunked';
        else if (kind === 'request') throw new ParseError(`request Transfer-Encoding ${JSON.stringify(te.join(', '))} does not end in chunked`);
        else message.framing = 'close';
      } else if (cl !== undefined) {
        message.framing = 'length';
      } else message.framing = kind === 'request' ? 'length' : 'close';
      let end: number;
      if (message.framing === 'length') {
        const n = cl ?? 0;
        partial = { message, expected: n };
        if (lines.pos + n > bytes.length) {
          message.body = bytes.subarray(lines.pos);
          throw new NeedMore();
        }
        message.body = bytes.subarray(lines.pos, lines.pos + n);
        end = lines.pos + n;
      } else if (message.framing === 'chunked') {
        partial = { message, expected: 'chunked' };
        const c = chunked(bytes, lines.pos, lenient);
        message.body = c.body;
        message.trailers = c.trailers;
        end = c.end;
      } else if (message.framing === 'close') {
        message.body = bytes.subarray(lines.pos);
        partial = { message, expected: 'close' };
        if (!opts.closed) throw new NeedMore();
        end = bytes.length;
      } else end = lines.pos;
      message.raw = bytes.subarray(start, end);
      messages.push(message);
      pos = end;
      if (kind === 'response' && status >= 200) answered++;
      if (status === 101) return { messages, rest: Buffer.alloc(0), tunnel: bytes.subarray(pos) };
      if (closeAfter || (kind === 'response' && message.framing === 'close')) return { messages, rest: bytes.subarray(pos), closeAfter: true };
    } catch (err) {
      if (err instanceof NeedMore) return { messages, rest: bytes.subarray(start), ...(partial ? { partial } : {}) };
      // An error in a body leaves the head read: `partial` says so (a proxy may have passed it on).
      if (err instanceof ParseError) return { messages, rest: bytes.subarray(start), error: err.message, errorAt: start, ...(partial ? { partial } : {}) };
      throw err;
    }
  }
  return { messages, rest: Buffer.alloc(0) };
}

/**
 * How many requests `bytes` are by the most generous reading the standard allows (strict or
 * lenient, whichever frames more): no conforming proxy forwards more than this.
 */
export function requestsByStandard(bytes: Buffer): HttpMessage[] {
  const strict = parseMessages('request', bytes, { semantic: false });
  const lenient = parseMessages('request', bytes, { semantic: false, lenient: true });
  return lenient.messages.length > strict.messages.length ? lenient.messages : strict.messages;
}

/**
 * How many request heads `bytes` hold by the most generous reading the standard allows: the
 * complete requests, and one more whose head is valid and whose body has not come or turns out
 * invalid. A proxy streams a body, so it may pass such a head on before it knows, and abort it
 * after: an origin that counts heads counts it.
 */
export function requestHeadsByStandard(bytes: Buffer): number {
  const count = (p: Parsed) => p.messages.length + (p.partial ? 1 : 0);
  return Math.max(count(parseMessages('request', bytes, { semantic: false })), count(parseMessages('request', bytes, { semantic: false, lenient: true })));
}

/** The methods of the requests in `bytes`, by the standard's reading (or the first word). */
export function methodsOf(bytes: Buffer): string[] {
  const read = requestsByStandard(bytes).map((m) => m.method!);
  if (read.length) return read;
  const first = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) /.exec(bytes.toString('latin1', 0, 32));
  return first ? [first[1]!] : [];
}

/** What a client saw on one connection. */
export interface Exchange {
  /** Everything the server wrote. */
  bytes: Buffer;
  /** The responses in it (strictly parsed), and whatever did not parse. */
  parsed: Parsed;
  responses: HttpMessage[];
  /** The server closed the connection (FIN or reset) before the collection ended. */
  closed: boolean;
  /** The connection was reset rather than closed cleanly. */
  reset: boolean;
  /** ms from the first write to the close, when it closed. */
  closedAfterMs?: number;
  /** ms from the first write to the end of the collection. */
  elapsedMs: number;
}

export interface ExchangeOptions {
  host?: string;
  /** Stop once nothing has arrived for this long (ms); default 300. */
  idleMs?: number;
  /** Stop after this long whatever happens (ms); default 5000. */
  timeoutMs?: number;
  /** The request methods, for framing the responses (HEAD). */
  methods?: string[];
  /** Half-close after writing (FIN): the server knows no more bytes will come. */
  end?: boolean;
  localAddress?: string;
  /** Stop as soon as this holds for what has come (e.g. a complete final response). */
  stopWhen?: (parsed: Parsed) => boolean;
}

function toBuffer(b: Buffer | string): Buffer {
  return typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
}

/** Collects what a server writes: until it closes, or is quiet for `idleMs`, or `timeoutMs` passes. */
export function exchange(port: number, bytes: Buffer | string, opts: ExchangeOptions = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const idleMs = opts.idleMs ?? 300;
    const started = performance.now();
    const chunks: Buffer[] = [];
    let closed = false;
    let reset = false;
    let closedAt: number | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    let done = false;
    const socket = connect({ host: opts.host ?? '127.0.0.1', port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(idleTimer);
      clearTimeout(hardTimer);
      socket.destroy();
      const all = Buffer.concat(chunks);
      const parsed = parseMessages('response', all, { closed, methods });
      resolve({ bytes: all, parsed, responses: parsed.messages, closed, reset, ...(closedAt !== undefined ? { closedAfterMs: closedAt - started } : {}), elapsedMs: performance.now() - started });
    };
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(finish, idleMs);
    };
    const hardTimer = setTimeout(finish, opts.timeoutMs ?? 5000);
    const methods = opts.methods ?? methodsOf(toBuffer(bytes));
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      armIdle();
      if (opts.stopWhen?.(parseMessages('response', Buffer.concat(chunks), { methods }))) finish();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true;
    });
    socket.on('close', () => {
      if (done) return;
      closed = true;
      closedAt = performance.now();
      finish();
    });
    socket.on('connect', () => {
      socket.write(toBuffer(bytes));
      if (opts.end) socket.end();
      armIdle();
    });
  });
}

/** An interactive raw connection: write, await responses, write more, stop reading. */
export class RawConnection {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiters: Array<() => void> = [];
  /** Methods of the requests written so far, for framing HEAD answers (give them with write). */
  readonly methods: string[] = [];
  /** Responses handed out by next(). */
  private consumed = 0;
  closed = false;
  reset = false;
  closedAt: number | undefined;
  readonly openedAt = performance.now();

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.size += d.length;
      this.wake();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') this.reset = true;
    });
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = performance.now();
      this.wake();
    });
  }

  static open(port: number, opts: { host?: string; localAddress?: string } = {}): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: opts.host ?? '127.0.0.1', port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `check` holds, re-checked on every byte and on close; `undefined` at the deadline. */
  private until<T>(check: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const now = check();
      if (now !== undefined) return resolve(now);
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== poll);
        resolve(undefined);
      }, timeoutMs);
      const poll = () => {
        const v = check();
        if (v !== undefined) {
          clearTimeout(timer);
          resolve(v);
        } else this.waiters.push(poll);
      };
      this.waiters.push(poll);
    });
  }

  get received(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get bytesReceived(): number {
    return this.size;
  }

  parsed(): Parsed {
    return parseMessages('response', this.received, { closed: this.closed, methods: this.methods });
  }

  /** Writes bytes; `method` (default: read from the bytes) frames the answer to a HEAD. */
  write(bytes: Buffer | string, methods?: string[]): Promise<void> {
    const b = toBuffer(bytes);
    this.methods.push(...(methods ?? methodsOf(b)));
    return new Promise((resolve) => {
      if (this.closed || this.socket.destroyed) return resolve();
      this.socket.write(b, () => resolve());
    });
  }

  /**
   * Writes `bytes` `piece` bytes at a time, one piece every `everyMs`, stopping early when the
   * server closes. Resolves with how many bytes went out.
   */
  async dribble(bytes: Buffer | string, opts: { piece?: number; everyMs: number }): Promise<number> {
    const b = toBuffer(bytes);
    const piece = opts.piece ?? 1;
    let sent = 0;
    while (sent < b.length && !this.closed && !this.socket.destroyed) {
      await this.write(b.subarray(sent, sent + piece), []);
      sent = Math.min(b.length, sent + piece);
      if (sent < b.length) await this.until(() => (this.closed ? true : undefined), opts.everyMs);
    }
    return sent;
  }

  /** The next response (complete), or what there was at the deadline or close. */
  async next(timeoutMs = 5000): Promise<HttpMessage> {
    const got = await this.until(() => {
      const p = this.parsed();
      if (p.messages.length > this.consumed) return p.messages[this.consumed];
      if (this.closed || p.error) return null;
      return undefined;
    }, timeoutMs);
    if (got) {
      this.consumed++;
      return got;
    }
    const p = this.parsed();
    throw new Error(`no complete response #${this.consumed + 1} ${got === null ? (p.error ? `(${p.error})` : '(connection closed)') : `within ${timeoutMs} ms`}; received ${JSON.stringify(this.received.toString('latin1').slice(0, 300))}`);
  }

  /** Resolves with ms from opening to the server's close, or undefined if still open at the deadline. */
  async waitClosed(timeoutMs: number): Promise<number | undefined> {
    const ok = await this.until(() => (this.closed ? true : undefined), timeoutMs);
    return ok ? this.closedAt! - this.openedAt : undefined;
  }

  /** Resolves once at least `n` bytes have come (true), or false at the deadline or close. */
  async waitBytes(n: number, timeoutMs: number): Promise<boolean> {
    return (await this.until(() => (this.size >= n ? true : this.closed ? false : undefined), timeoutMs)) ?? false;
  }

  /** Stops reading: what the server sends piles up in the kernel's buffers, then in the server. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
