/** Batched writes for the benchmarks' raw baselines. */

/**
 * Sends `items` in batches of `batchSize`, `inFlight` batches at a time (each worker takes the next batch when its
 * last one is answered), and returns the elapsed milliseconds. Building a batch's request is part of the time.
 */
export async function timeBatched<T>(
  items: readonly T[],
  batchSize: number,
  inFlight: number,
  send: (batch: readonly T[]) => Promise<unknown>,
): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const start = next;
      next = Math.min(items.length, next + batchSize);
      await send(items.slice(start, next));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return performance.now() - t0;
}
