import type { RoutingSnapshot } from '../routing/snapshot.js';

/** Requests from one client region to one serving cluster over the window. */
export interface Flow {
  /** The client's region (the nearest known region to where GeoIP places it); null when unknown. */
  from: string | null;
  to: string;
  requests: number;
}

export interface FlowsReading {
  windowSeconds: number;
  /** The closed seconds the window holds (fewer than windowSeconds just after a start). */
  seconds: number;
  /** Wall-clock bounds of those seconds (ms; `until` is the end of the last closed second), or null before the first. */
  from: number | null;
  until: number | null;
  /** Largest first. */
  flows: Flow[];
  /** Per serving cluster, requests in each second of the window, oldest first (`seconds` values). */
  timeline: Record<string, number[]>;
}

/** One closed second, sparse: the (row, column) cells that had requests and their counts. */
interface ClosedSecond {
  second: number;
  rows: Uint32Array;
  cols: Uint32Array;
  counts: Uint32Array;
}

/** The order flows are listed in: most requests first, then by cluster and client region (stable across readings). */
export function largestFirst(a: Flow, b: Flow): number {
  return b.requests - a.requests || a.to.localeCompare(b.to) || (a.from ?? '').localeCompare(b.from ?? '');
}

/**
 * Requests of the last minute by client region × serving cluster: what the status page draws as
 * flows. Counted per request into a preallocated matrix — one comparison, two typed-array reads
 * and an increment, no allocation — and closed once a second (with the routing state's rate
 * period) into a small sparse ring, with a running sum over the window.
 *
 * Rows and columns are owned by name, not by a snapshot's indices: a new table re-indexes them
 * (bind), keeping the minute's counts, and keeps any region or cluster the window still has
 * counts for even when the new table no longer lists it. Row 0 is "place unknown".
 */
export class FlowCounter {
  private snap: RoutingSnapshot | undefined;
  private rowNames: string[] = [''];
  private colNames: string[] = [];
  private rowByName = new Map<string, number>([['', 0]]);
  private colByName = new Map<string, number>();
  /** The bound snapshot's region index (its cell) → row, and cluster index → column. */
  private rowOfCell = new Int32Array(0);
  private colOfCluster = new Int32Array(0);
  /** Counts of the open second, and the sum of the closed seconds in the window; rows × columns. */
  private current = new Uint32Array(0);
  private total = new Float64Array(0);
  private readonly ring: ClosedSecond[] = [];
  private lastClosed = -1;
  /** The first second this counter closed: the window is shorter until it has run that long. */
  private firstClosed = -1;

  constructor(readonly windowSeconds = 60) {}

  /**
   * One request from a client in `cell` (a region index of `snap`, -1 unknown) served by
   * `cluster` (a cluster index of `snap`). A request chosen from a table that has since been
   * replaced is found by name instead (a lookup, no allocation); one the counter no longer has
   * a row or column for is not counted.
   */
  count(snap: RoutingSnapshot, cell: number, cluster: number): void {
    if (snap === this.snap) {
      this.current[(cell < 0 ? 0 : this.rowOfCell[cell]!) * this.colNames.length + this.colOfCluster[cluster]!]!++;
      return;
    }
    const row = cell < 0 ? 0 : this.rowByName.get(snap.regions[cell]!);
    const col = this.colByName.get(snap.clusters[cluster]!);
    if (row !== undefined && col !== undefined) this.current[row * this.colNames.length + col]!++;
  }

  /** Re-indexes by `snap` (a new routing table): its regions and clusters, plus any the window still counts. */
  bind(snap: RoutingSnapshot): void {
    const cols = this.colNames.length;
    const busyRows = new Set<number>();
    const busyCols = new Set<number>();
    for (let i = 0; i < this.total.length; i++) {
      if (this.total[i]! > 0 || this.current[i]! > 0) {
        busyRows.add(Math.floor(i / cols));
        busyCols.add(i % cols);
      }
    }
    const rowNames = ['', ...snap.regions];
    const colNames = [...snap.clusters];
    for (const r of busyRows) if (r > 0 && !snap.regionByName.has(this.rowNames[r]!)) rowNames.push(this.rowNames[r]!);
    for (const c of busyCols) if (!snap.clusterByName.has(this.colNames[c]!)) colNames.push(this.colNames[c]!);
    const rowByName = new Map(rowNames.map((n, i) => [n, i]));
    const colByName = new Map(colNames.map((n, i) => [n, i]));
    const rowMap = Int32Array.from(this.rowNames, (n) => rowByName.get(n) ?? -1);
    const colMap = Int32Array.from(this.colNames, (n) => colByName.get(n) ?? -1);
    const current = new Uint32Array(rowNames.length * colNames.length);
    const total = new Float64Array(rowNames.length * colNames.length);
    for (let i = 0; i < this.total.length; i++) {
      const r = rowMap[Math.floor(i / cols)]!;
      const c = colMap[i % cols]!;
      if (r < 0 || c < 0) continue; // nothing counted there (else it was kept above)
      current[r * colNames.length + c] = this.current[i]!;
      total[r * colNames.length + c] = this.total[i]!;
    }
    for (const s of this.ring) {
      for (let k = 0; k < s.rows.length; k++) {
        s.rows[k] = rowMap[s.rows[k]!]!;
        s.cols[k] = colMap[s.cols[k]!]!;
      }
    }
    this.snap = snap;
    this.rowNames = rowNames;
    this.colNames = colNames;
    this.rowByName = rowByName;
    this.colByName = colByName;
    this.rowOfCell = Int32Array.from(snap.regions, (n) => rowByName.get(n)!);
    this.colOfCluster = Int32Array.from(snap.clusters, (n) => colByName.get(n)!);
    this.current = current;
    this.total = total;
  }

  /**
   * The wall-clock second `second` has closed (called once a second, off the request path): what
   * was counted since the last close belongs to it; seconds that fell out of the window leave the
   * running sum.
   */
  close(second: number): void {
    if (second <= this.lastClosed) return;
    const cols = this.colNames.length;
    let n = 0;
    for (let i = 0; i < this.current.length; i++) if (this.current[i]! > 0) n++;
    const s: ClosedSecond = { second, rows: new Uint32Array(n), cols: new Uint32Array(n), counts: new Uint32Array(n) };
    for (let i = 0, k = 0; i < this.current.length; i++) {
      const v = this.current[i]!;
      if (v === 0) continue;
      s.rows[k] = Math.floor(i / cols);
      s.cols[k] = i % cols;
      s.counts[k++] = v;
      this.total[i]! += v;
    }
    this.current.fill(0);
    this.ring.push(s);
    if (this.firstClosed < 0) this.firstClosed = second;
    this.lastClosed = second;
    while (this.ring.length > 0 && this.ring[0]!.second <= second - this.windowSeconds) {
      const old = this.ring.shift()!;
      for (let k = 0; k < old.rows.length; k++) this.total[old.rows[k]! * cols + old.cols[k]!]! -= old.counts[k]!;
    }
  }

  /** The window as flows (largest first) and a per-cluster timeline, for the status page and scripts. */
  read(): FlowsReading {
    const cols = this.colNames.length;
    const flows: Flow[] = [];
    for (let i = 0; i < this.total.length; i++) {
      const v = this.total[i]!;
      if (v > 0) flows.push({ from: this.rowNames[Math.floor(i / cols)] || null, to: this.colNames[i % cols]!, requests: v });
    }
    flows.sort(largestFirst);
    const last = this.lastClosed;
    // The window, or as much of it as the counter has run for.
    const first = Math.max(this.firstClosed, last - this.windowSeconds + 1);
    const seconds = last < 0 ? 0 : last - first + 1;
    const timeline: Record<string, number[]> = {};
    for (const name of this.colNames) timeline[name] = new Array<number>(seconds).fill(0);
    for (const s of this.ring) {
      const at = s.second - first;
      for (let k = 0; k < s.cols.length; k++) timeline[this.colNames[s.cols[k]!]!]![at]! += s.counts[k]!;
    }
    for (const name of this.colNames) if (!timeline[name]!.some((v) => v > 0) && !this.snap?.clusterByName.has(name)) delete timeline[name];
    return {
      windowSeconds: this.windowSeconds,
      seconds,
      from: last < 0 ? null : first * 1000,
      until: last < 0 ? null : (last + 1) * 1000,
      flows,
      timeline,
    };
  }
}
