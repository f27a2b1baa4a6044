export class IdExhaustedError extends Error {
  override name = 'IdExhaustedError';
}

/**
 * Integer IDs of [min, max], handed out lowest free first (identities, endpoint IDs). A hint remembers where the
 * lowest free one may be, so allocating n IDs in a row costs O(n), not O(n^2).
 */
export class IdPool {
  private readonly used = new Set<number>();
  private hint: number;

  constructor(
    readonly min: number,
    readonly max: number,
  ) {
    this.hint = min;
  }

  inRange(id: number): boolean {
    return Number.isInteger(id) && id >= this.min && id <= this.max;
  }

  /** Marks `id` taken; false when it is outside the pool (nothing taken). */
  claim(id: number): boolean {
    if (!this.inRange(id)) return false;
    this.used.add(id);
    return true;
  }

  release(id: number): void {
    if (!this.used.delete(id)) return;
    if (id < this.hint) this.hint = id;
  }

  isUsed(id: number): boolean {
    return this.used.has(id);
  }

  get size(): number {
    return this.used.size;
  }

  allocate(): number {
    for (let id = this.hint; id <= this.max; id++) {
      if (!this.used.has(id)) {
        this.used.add(id);
        this.hint = id + 1;
        return id;
      }
    }
    throw new IdExhaustedError(`no free ID left in ${this.min}..${this.max}`);
  }
}
