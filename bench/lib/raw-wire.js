// Raw-socket parts of bench/security-diff.js (plain JS, so the bench needs no TypeScript): a
// recording origin, a one-shot raw client, and a small reader of the responses a client got. The
// strict HTTP/1.1 parser the tests judge by is test/helpers/raw-http.ts; here the job is only to
// describe behaviour (statuses, close, what reached the origin), side by side for two proxies.
import { createServer } from 'node:http';
import { connect } from 'node:net';

/**
 * An origin that records every request it reads (node:http, strict llhttp: a second reader of a
 * proxy's output) and answers `hostile[path]` with raw bytes written to the socket, others 200.
 * `hostile[path]` = { steps: (string | { waitMs })[], then: 'keep' | 'end' | 'reset' | 'hang' }.
 */
export async function startRecordingOrigin({ hostile = {}, probePath = '/__probe' } = {}) {
  const seen = [];
  const parseErrors = [];
  const sockets = new Set();
  let lastAt = performance.now();
  const server = createServer((req, res) => {
    if (req.url === probePath) return void res.end('ok');
    const record = { method: req.method, url: req.url, headers: req.headers, body: '', complete: false };
    seen.push(record);
    req.setEncoding('latin1');
    lastAt = performance.now();
    req.on('data', (d) => {
      record.body += d;
      lastAt = performance.now();
    });
    req.on('end', () => {
      record.complete = true;
      const h = hostile[req.url];
      if (!h) return void res.end(`ok ${req.method} ${req.url}`);
      void answerRaw(req.socket, h);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('clientError', (err, socket) => {
    // An end mid-body or a reset is a proxy giving a request up, not bytes that failed to parse.
    if (err.code?.startsWith('HPE_') && err.code !== 'HPE_INVALID_EOF_STATE') parseErrors.push(err.code);
    socket.destroy();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    mark: () => ({ seen: seen.length, errors: parseErrors.length }),
    /** Resolves once nothing has arrived for `quietMs` (2 s at most): what a proxy was still sending has landed. */
    async quiet(quietMs) {
      const deadline = performance.now() + 2000;
      for (let left = quietMs; left > 0 && performance.now() < deadline; left = quietMs - (performance.now() - lastAt)) await new Promise((r) => setTimeout(r, left));
    },
    since: (m) => ({ seen: seen.slice(m.seen), parseErrors: parseErrors.slice(m.errors) }),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

async function answerRaw(socket, { steps, then }) {
  for (const step of steps) {
    if (socket.destroyed) return;
    if (typeof step === 'string') await new Promise((r) => socket.write(Buffer.from(step, 'latin1'), r));
    else await new Promise((r) => setTimeout(r, step.waitMs));
  }
  if (then === 'end') socket.end();
  else if (then === 'reset') socket.resetAndDestroy();
  else if (then === 'hang') socket.pause();
}

/** Sends `bytes` on a new connection; collects until the server closes, goes quiet for `idleMs`, or `timeoutMs`. */
export function sendRaw(port, bytes, { idleMs = 400, timeoutMs = 6000, stopWhenAnswered = false } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    let closed = false;
    let done = false;
    let idle;
    const socket = connect({ host: '127.0.0.1', port });
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      clearTimeout(hard);
      socket.destroy();
      const all = Buffer.concat(chunks);
      resolve({ bytes: all, closed, ...readResponses(all, closed) });
    };
    const hard = setTimeout(finish, timeoutMs);
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(finish, idleMs);
    };
    socket.on('data', (d) => {
      chunks.push(d);
      arm();
      if (stopWhenAnswered && readResponses(Buffer.concat(chunks), false).statuses.some((s) => s >= 200)) finish();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (!done) closed = true;
      finish();
    });
    socket.on('connect', () => {
      socket.write(Buffer.from(bytes, 'latin1'));
      arm();
    });
  });
}

/**
 * The statuses of the complete responses in `buf` (1xx left out) and whether each said Connection:
 * close; `cut` when the last one began
 * and did not finish (given the connection closed); `malformed` when bytes are not a response.
 */
export function readResponses(buf, closed) {
  const statuses = [];
  const errors = [];
  /** Per final answer: it said Connection: close. */
  const closes = [];
  const out = (extra = {}) => ({ statuses, errors, closes, cut: false, malformed: false, ...extra });
  let pos = 0;
  while (pos < buf.length) {
    const end = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (end < 0) return out({ cut: closed });
    const head = buf.toString('latin1', pos, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(head[0]);
    if (!m) return out({ malformed: true });
    const status = Number(m[1]);
    const fields = Object.fromEntries(head.slice(1).map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    let at = end + 4;
    const done = () => {
      if (status >= 200) {
        statuses.push(status);
        closes.push(/\bclose\b/i.test(fields.connection ?? ''));
      }
      if (fields['x-meridian-error']) errors.push(fields['x-meridian-error']);
      pos = at;
    };
    if (status < 200 || status === 204 || status === 304) {
      done();
      continue;
    }
    if (/chunked/i.test(fields['transfer-encoding'] ?? '')) {
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', at, 'latin1');
        if (lineEnd < 0) return out({ cut: closed });
        const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
        if (Number.isNaN(size)) return out({ malformed: true });
        if (size === 0) {
          const trailerEnd = buf.indexOf('\r\n\r\n', lineEnd, 'latin1');
          if (trailerEnd < 0) return out({ cut: closed });
          at = trailerEnd + 4;
          break;
        }
        at = lineEnd + 2 + size + 2;
        if (at > buf.length) return out({ cut: closed });
      }
    } else if (fields['content-length'] !== undefined) {
      at += Number(fields['content-length']);
      if (at > buf.length) return out({ cut: closed });
    } else {
      // Until the close.
      if (!closed) return out();
      at = buf.length;
    }
    done();
  }
  return out();
}
