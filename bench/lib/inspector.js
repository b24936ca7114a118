// Reads a Node process's memory through the inspector it was started with (--inspect=HOST:PORT).
import { WebSocket } from 'undici';

/**
 * The process's live heap: a full GC first (twice, so weakly held and finalised objects go too),
 * so garbage waiting for collection is not counted as memory the process needs.
 */
export async function liveHeap(inspectorPort, { timeoutMs = 30_000 } = {}) {
  const [target] = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`, { signal: AbortSignal.timeout(timeoutMs) })).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  const deadline = setTimeout(() => ws.close(), timeoutMs);
  try {
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
      ws.onclose = () => reject(new Error(`inspector on port ${inspectorPort}: closed before it opened`));
    });
    let id = 0;
    const call = (method, params = {}) =>
      new Promise((resolve, reject) => {
        const mine = ++id;
        ws.onclose = () => reject(new Error(`inspector on port ${inspectorPort}: the connection closed before ${method} answered (deadline ${timeoutMs} ms)`));
        ws.addEventListener('message', function onMessage(ev) {
          const msg = JSON.parse(ev.data);
          if (msg.id !== mine) return;
          ws.removeEventListener('message', onMessage);
          if (msg.error) reject(new Error(`inspector ${method}: ${msg.error.message}`));
          else resolve(msg.result);
        });
        ws.send(JSON.stringify({ id: mine, method, params }));
      });
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const r = await call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
    return r.result.value;
  } finally {
    clearTimeout(deadline);
    ws.onclose = null;
    ws.close();
  }
}
