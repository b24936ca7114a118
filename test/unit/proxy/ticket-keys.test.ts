import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/common/log.js';
import { FleetTicketKeys, ticketKeyDue } from '../../../src/proxy/tls/ticket-keys.js';
import { MemoryBackend, MemoryStore } from '../../../src/state/memory-store.js';
import type { FleetStore } from '../../../src/state/store.js';

const HOUR = 3600_000;
const logger = createLogger('ticket-keys-test', 'silent');

/** One proxy's side: its FleetTicketKeys and what it installed (as the TLS contexts would get it). */
function proxy(store: Pick<FleetStore, 'ticketKeys' | 'rotateTicketKeys'>, clock: { now: number }, fill: number) {
  const installed: Buffer[] = [];
  const generations: number[] = [];
  let draws = 0;
  const keys = new FleetTicketKeys({
    store,
    target: { installTicketKeys: (k) => installed.push(k) },
    rotationMs: 12 * HOUR,
    logger,
    onGeneration: (g) => generations.push(g),
    now: () => clock.now,
    // Each proxy's "random" keys are recognisable: its fill byte and a counter.
    random: (n) => Buffer.alloc(n, fill).fill(++draws, 0, 1),
  });
  return { keys, installed, generations, current: () => installed.at(-1)?.toString('hex') };
}

/** A MemoryStore that can be cut off, as a Redis out of reach: every call fails. */
function breakable(store: MemoryStore) {
  const s = {
    down: false,
    ticketKeys: () => (s.down ? Promise.reject(new Error('store unreachable')) : store.ticketKeys()),
    rotateTicketKeys: (...a: Parameters<MemoryStore['rotateTicketKeys']>) => (s.down ? Promise.reject(new Error('store unreachable')) : store.rotateTicketKeys(...a)),
  };
  return s;
}

describe('fleet session-ticket keys', () => {
  it('are due when the fleet has none, or one a rotation period old', () => {
    expect(ticketKeyDue(undefined, 0, HOUR)).toBe(true);
    expect(ticketKeyDue({ generation: 3, key: 'k', createdAt: 1000 }, 1000 + HOUR - 1, HOUR)).toBe(false);
    expect(ticketKeyDue({ generation: 3, key: 'k', createdAt: 1000 }, 1000 + HOUR, HOUR)).toBe(true);
  });

  it('two proxies starting at once make one key between them, and both use it', async () => {
    const backend = new MemoryBackend();
    const clock = { now: 1_000_000 };
    const a = proxy(new MemoryStore(backend, 'f'), clock, 0xaa);
    const b = proxy(new MemoryStore(backend, 'f'), clock, 0xbb);
    await Promise.all([a.keys.refresh(), b.keys.refresh()]);
    expect(a.current()).toBe(b.current());
    expect([a.keys.generation, b.keys.generation]).toEqual([1, 1]);
    expect(a.installed[0]).toHaveLength(48);
    // Not due: a second read changes nothing.
    await Promise.all([a.keys.refresh(), b.keys.refresh()]);
    expect([a.installed.length, b.installed.length]).toEqual([1, 1]);
  });

  it('rotates once a period: one proxy proposes, the other takes it on the announcement', async () => {
    const backend = new MemoryBackend();
    const clock = { now: 1_000_000 };
    const storeB = new MemoryStore(backend, 'f');
    const a = proxy(new MemoryStore(backend, 'f'), clock, 0xaa);
    const b = proxy(storeB, clock, 0xbb);
    const heard: Promise<void>[] = [];
    await storeB.subscribe((m) => m.type === 'ticket-keys' && heard.push(b.keys.heard(m.generation)));
    await a.keys.refresh();
    clock.now += 12 * HOUR - 1;
    await a.keys.refresh();
    expect(a.keys.generation).toBe(1);
    clock.now += 1;
    await a.keys.refresh();
    expect(a.keys.generation).toBe(2);
    // b reads only because of the messages (generations 1 and 2), never on its own here.
    await new Promise((r) => setImmediate(r));
    await Promise.all(heard);
    expect(b.keys.generation).toBe(2);
    expect(b.current()).toBe(a.current());
    expect(b.generations.at(-1)).toBe(2);
    expect(a.installed.map((k) => k.toString('hex'))).toHaveLength(2);
    expect(a.installed[0]!.equals(a.installed[1]!)).toBe(false);
  });

  it('keeps the fleet\'s key while the store is out of reach, then after two periods uses one of its own, then the fleet\'s again', async () => {
    const backend = new MemoryBackend();
    const clock = { now: 1_000_000 };
    const store = breakable(new MemoryStore(backend, 'f'));
    const a = proxy(store, clock, 0xaa);
    await a.keys.refresh();
    const fleetKey = a.current();
    store.down = true;
    clock.now += 2 * 12 * HOUR - 1;
    await expect(a.keys.refresh()).rejects.toThrow('store unreachable');
    expect([a.keys.generation, a.current()]).toEqual([1, fleetKey]);
    clock.now += 1;
    // As the fleet's periodic read tells it, without a read of its own.
    a.keys.storeUnreachable();
    expect(a.keys.generation).toBe(0);
    expect(a.current()).not.toBe(fleetKey);
    // Its own key is replaced as often while the store stays out of reach.
    const own = a.current();
    clock.now += 2 * 12 * HOUR - 1;
    await expect(a.keys.refresh()).rejects.toThrow('store unreachable');
    expect(a.current()).toBe(own);
    clock.now += 1;
    a.keys.storeUnreachable();
    expect([a.keys.generation, a.installed.length]).toEqual([0, 3]);
    expect(a.current()).not.toBe(own);
    // Back: another proxy rotated meanwhile (or the key expired); this one takes the fleet's.
    const other = proxy(new MemoryStore(backend, 'f'), clock, 0xcc);
    await other.keys.refresh();
    store.down = false;
    await a.keys.refresh();
    expect([a.keys.generation, a.current()]).toEqual([other.keys.generation, other.current()]);
  });

  it('a proxy that never reached the store keeps the certificates\' own key', async () => {
    const store = breakable(new MemoryStore(new MemoryBackend(), 'f'));
    store.down = true;
    const a = proxy(store, { now: 5 * 24 * HOUR }, 0xaa);
    await expect(a.keys.refresh()).rejects.toThrow();
    expect(a.installed).toEqual([]);
  });
});
