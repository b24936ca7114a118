/**
 * One `--workers` process's share of the capacity of every shard: each worker counts only the
 * requests it routes, so each may fill only its part of a shard's RATE capacity, in proportion to
 * the traffic it gets (the kernel spreads connections, not requests, evenly). Smoothed so that a
 * worker that saw nothing last second still gets an even part. Pure.
 */
export function capacityShare(ownRequests: number, allRequests: number, workers: number): number {
  if (workers <= 1) return 1;
  return Math.min(1, (ownRequests + 1) / (allRequests + workers));
}
