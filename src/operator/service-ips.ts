/**
 * ClusterIPs of the cluster's service CIDR. Remembers which service holds which address, so that a service
 * re-applied without its clusterIP gets the same one back, and a service's address is freed only when it is gone.
 */
import { IpAllocator } from '../wire/ip-allocator.js';

/** The network address and the first address (Kubernetes gives it to the `kubernetes` service) are not handed out. */
export const SERVICE_CIDR_RESERVED_AT_START = 2;

export class ServiceIps {
  private readonly alloc: IpAllocator;
  private readonly byService = new Map<string, string>();
  private readonly owners = new Map<string, string>();

  constructor(serviceCidr: string) {
    this.alloc = new IpAllocator(serviceCidr, SERVICE_CIDR_RESERVED_AT_START, 1);
  }

  /** Takes note of the address a stored service has (ignored when outside the CIDR or held by another service). */
  observe(key: string, ip: string | undefined): void {
    if (!ip || ip === 'None') return;
    const prev = this.byService.get(key);
    if (prev === ip) return;
    const owner = this.owners.get(ip);
    if (owner !== undefined && owner !== key) return;
    if (!this.alloc.claim(ip)) return;
    if (prev !== undefined) this.release(key);
    this.byService.set(key, ip);
    this.owners.set(ip, key);
  }

  /** The address the service had, or a new one. */
  assign(key: string): string {
    const prev = this.byService.get(key);
    if (prev !== undefined) return prev;
    const ip = this.alloc.allocate();
    this.byService.set(key, ip);
    this.owners.set(ip, key);
    return ip;
  }

  release(key: string): void {
    const ip = this.byService.get(key);
    if (ip === undefined) return;
    this.byService.delete(key);
    if (this.owners.get(ip) === key) {
      this.owners.delete(ip);
      this.alloc.release(ip);
    }
  }
}
