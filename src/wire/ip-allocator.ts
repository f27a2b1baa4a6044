import { addressAt, parseIpRange, rangeContains, rangeSize, type IpRange } from './ip.js';

/** Offsets reserved at the start of every node CIDR: network address, CiliumInternalIP (router), health IP. */
export const RESERVED_OFFSETS = 3;

export class IpExhaustedError extends Error {
  override name = 'IpExhaustedError';
}

/**
 * Hands out addresses of one CIDR, round-robin from the last one handed out (so a released address is not handed
 * out again right away); knows which are taken so restarts never double-assign.
 */
export class IpAllocator {
  private readonly range: IpRange;
  private readonly used = new Set<string>();
  private next: bigint;
  private readonly end: bigint;

  constructor(
    cidr: string,
    private readonly reservedAtStart = RESERVED_OFFSETS,
    private readonly reservedAtEnd = 1,
  ) {
    this.range = parseIpRange(cidr);
    this.next = BigInt(reservedAtStart);
    this.end = rangeSize(this.range) - BigInt(reservedAtEnd);
  }

  get cidr(): string {
    return this.range.cidr;
  }

  /** How many addresses this allocator can hand out in all. */
  get capacity(): number {
    const n = this.end - BigInt(this.reservedAtStart);
    return n > 0n ? Number(n) : 0;
  }

  /** Addresses of the allocatable part still free. */
  get free(): number {
    return this.capacity - this.used.size;
  }

  contains(ip: string): boolean {
    return rangeContains(this.range, ip);
  }

  /**
   * Marks an address as taken (an existing pod's IP). Returns false, taking nothing, when it is outside the
   * allocatable part of the range (other CIDR, reserved offsets).
   */
  claim(ip: string): boolean {
    if (!this.contains(ip)) return false;
    const offset = this.offsetOf(ip);
    if (offset < BigInt(this.reservedAtStart) || offset >= this.end) return false;
    this.used.add(addressAt(this.range, offset));
    return true;
  }

  release(ip: string): void {
    this.used.delete(ip);
  }

  isUsed(ip: string): boolean {
    return this.used.has(ip);
  }

  allocate(): string {
    const start = BigInt(this.reservedAtStart);
    const span = this.end - start;
    for (let tried = 0n; tried < span; tried++) {
      const offset = this.next;
      this.next = this.next + 1n >= this.end ? start : this.next + 1n;
      const ip = addressAt(this.range, offset);
      if (!this.used.has(ip)) {
        this.used.add(ip);
        return ip;
      }
    }
    throw new IpExhaustedError(`no free address left in ${this.range.cidr}`);
  }

  private offsetOf(ip: string): bigint {
    // Canonical form through addressAt: claim('10.1.0.05')-style variants must not escape the used set.
    const parts = ip.split('.');
    if (this.range.family === 4 && parts.length === 4) {
      let n = 0n;
      for (const p of parts) n = (n << 8n) | BigInt(Number(p));
      return n - this.range.first;
    }
    // IPv6 ranges are not carved by the operator; treat them as outside.
    return -1n;
  }
}
