/**
 * External workloads (VMs, bare-metal servers), as Cilium's clustermesh-apiserver vmmanager handles them. The VM's
 * agent writes `cilium/state/noderegister/v1/<name>` under its own lease:
 * - phase 1 (NodeIdentity 0): if a CiliumExternalWorkload of that name exists, the apiserver allocates the identity
 *   of the CEW's labels (namespace and pod-name labels defaulted, cluster label forced) and writes the registration
 *   back, keeping the VM's lease, with the cluster, labels and NodeIdentity and without addresses;
 * - phase 2 (NodeIdentity set, addresses set): the apiserver creates or updates the CiliumNode and CiliumEndpoint of
 *   the VM (IP = the one the VM registered) and the CEW status (`id`, `ip`).
 * When the registration key goes away (the VM's lease expired), the CiliumEndpoint and CiliumNode are deleted, so the
 * ipcache entry disappears through the normal apiserver path; the CEW and its status stay, and the identity is
 * re-created with the same number when the VM comes back.
 *
 * Refused, recorded in status() and never fatal: an unknown name, a malformed value, a registration naming another
 * cluster or cluster ID, a phase-2 registration with an identity that is not the workload's, a registration
 * overwritten under another lease while the first holder is alive, and (reported by the refused agent itself under
 * `cilium/.initlock/noderegister/<name>/<boot id>`) a second agent that found the name taken.
 */
import type { Etcd3 } from 'etcd3';
import { AlreadyExistsError, NotFoundError } from '../k8s/errors.js';
import type { ObjectStore } from '../k8s/object-store.js';
import type { Informer } from '../k8s/source.js';
import type { CiliumExternalWorkload } from '../k8s/types.js';
import { WorkQueue } from '../k8s/work-queue.js';
import { ListWatcher } from '../kvstore/list-watcher.js';
import type { KeyValue } from '../kvstore/types.js';
import { logger } from '../observe/logger.js';
import { Counter, metric } from '../observe/metrics.js';
import {
  INIT_LOCK_PREFIX,
  NODE_REGISTER_PREFIX,
  cidrToWire,
  identityRange,
  type MaxConnectedClusters,
} from '../wire/index.js';
import { decodeRegisterNode, encodeRegisterNode, type RegisterNode } from '../wire/register-node.js';
import {
  ciliumEndpointFor,
  ciliumNodeFor,
  identityObject,
  labelSetKey,
  ownedBy,
  securityLabels,
  workloadLabels,
  workloadNamespace,
  workloadNodeIp,
} from './external-workload-objects.js';

/** Where a refused agent reports its attempt (the externalworkload user may write under `cilium/.initlock/`). */
export const REFUSED_ATTEMPTS_PREFIX = `${INIT_LOCK_PREFIX}/noderegister`;
/** Refusals remembered per name. */
const MAX_REFUSALS_KEPT = 5;
/** A failed write (state etcd down) is retried after this long. */
const RETRY_DELAY_MS = 1_000;

const registrations = (): Counter<'outcome'> =>
  metric(
    'cmesh_apiserver_external_workload_registrations_total',
    (registers) =>
      new Counter({
        name: 'cmesh_apiserver_external_workload_registrations_total',
        help: 'External workload registrations handled, by outcome (answered, accepted, refused, left)',
        labelNames: ['outcome'] as const,
        registers,
      }),
  );

export type WorkloadState = 'registered' | 'waiting-for-addresses' | 'refused' | 'not-registered';

/** One external workload as `cmesh clustermesh vm status` shows it. */
export interface ExternalWorkloadStatus {
  name: string;
  /** A CiliumExternalWorkload of this name exists. */
  known: boolean;
  state: WorkloadState;
  /** Why the current registration is refused. */
  reason: string | null;
  ip: string | null;
  identity: number | null;
  /** The CiliumNode standing for the workload, once registered. */
  node: string | null;
  bootId: string | null;
  /** The last registration event for this name (RFC 3339). */
  lastSeen: string | null;
  refusals: { at: string; reason: string }[];
}

export interface ExternalWorkloadManagerOptions {
  clusterName: string;
  clusterId: number;
  maxConnectedClusters: MaxConnectedClusters;
  /** The clustermesh etcd (as admin): registrations are read and answered there. */
  kvstore: Etcd3;
  workloads: Informer<CiliumExternalWorkload>;
  /** Writes CiliumIdentity, CiliumNode, CiliumEndpoint and the CEW status into the cluster's state. */
  writer: ObjectStore;
  now?: () => Date;
}

interface Holder {
  lease: string;
  createRevision: number;
  bootId: string;
}

interface Record_ {
  kv: KeyValue | undefined;
  holder: Holder | undefined;
  state: WorkloadState;
  reason: string | null;
  ip: string | null;
  identity: number | null;
  node: string | null;
  /** Where the workload's CiliumEndpoint was written (to delete it even after its CEW is gone). */
  namespace: string | null;
  bootId: string | null;
  lastSeen: string | null;
  refusals: { at: string; reason: string }[];
}

class RefusedRegistration extends Error {
  override name = 'RefusedRegistration';
}

const log = logger('external-workloads');

export class ExternalWorkloadManager {
  private readonly records = new Map<string, Record_>();
  /** One worker: registrations of different workloads may race for the same IP and must be decided in order. */
  private readonly queue: WorkQueue;
  private readonly registerWatcher: ListWatcher;
  private readonly attemptWatcher: ListWatcher;
  private readonly now: () => Date;
  private registrationsListed = false;

  constructor(private readonly opts: ExternalWorkloadManagerOptions) {
    this.now = opts.now ?? (() => new Date());
    this.queue = new WorkQueue((name) => this.process(name), {
      workers: 1,
      retryInitialMs: RETRY_DELAY_MS,
      retryMaxMs: RETRY_DELAY_MS,
      shouldRetry: (_name, err) => !(err instanceof RefusedRegistration),
      onError: (name, err) => {
        if (err instanceof RefusedRegistration) this.refuse(name, err.message);
        else log.warn({ workload: name, err }, 'handling an external workload failed; retrying');
      },
    });
    // Changes are handled as they come, from construction on (as before start()).
    this.queue.start();
    const regPrefix = `${NODE_REGISTER_PREFIX}/`;
    this.registerWatcher = new ListWatcher(opts.kvstore, regPrefix, {
      onUpsert: (kv) => {
        this.onRegistration(kv.key.slice(regPrefix.length), kv);
      },
      onDelete: (key) => {
        this.onRegistration(key.slice(regPrefix.length), undefined);
      },
      onListDone: () => {
        if (this.registrationsListed) return;
        this.registrationsListed = true;
        // Workloads whose VM left while the apiserver was down: their endpoints go now.
        void opts.workloads.synced.then(() => {
          for (const cew of opts.workloads.list()) this.enqueue(cew.metadata.name);
        });
      },
    });
    const attemptPrefix = `${REFUSED_ATTEMPTS_PREFIX}/`;
    this.attemptWatcher = new ListWatcher(opts.kvstore, attemptPrefix, {
      onUpsert: (kv) => {
        const [name = '', bootId = ''] = kv.key.slice(attemptPrefix.length).split('/');
        if (!name) return;
        const holder = this.records.get(name)?.bootId;
        this.refuse(
          name,
          `duplicate: another agent (boot ID ${bootId || 'unknown'}) tried to register "${name}" while it is ` +
            `registered${holder ? ` by boot ID ${holder}` : ''}`,
          false,
        );
      },
      onDelete: () => undefined,
    });
    opts.workloads.on({
      onAdd: (c) => {
        this.enqueue(c.metadata.name);
      },
      onUpdate: (c) => {
        this.enqueue(c.metadata.name);
      },
      onDelete: (c) => {
        this.enqueue(c.metadata.name);
      },
    });
  }

  start(): void {
    this.registerWatcher.start();
    this.attemptWatcher.start();
  }

  async stop(): Promise<void> {
    await this.registerWatcher.stop();
    await this.attemptWatcher.stop();
    await this.queue.stop();
  }

  status(): ExternalWorkloadStatus[] {
    const names = new Set<string>([...this.records.keys(), ...this.opts.workloads.list().map((c) => c.metadata.name)]);
    return [...names].sort().map((name) => {
      const r = this.records.get(name);
      const known = this.opts.workloads.get(undefined, name) !== undefined;
      const cew = this.opts.workloads.get(undefined, name);
      return {
        name,
        known,
        state: r?.state ?? 'not-registered',
        reason: r?.reason ?? null,
        ip: r?.ip ?? cew?.status?.ip ?? null,
        identity: r?.identity ?? cew?.status?.id ?? null,
        node: r?.node ?? null,
        bootId: r?.bootId ?? null,
        lastSeen: r?.lastSeen ?? null,
        refusals: [...(r?.refusals ?? [])],
      };
    });
  }

  // ---- events ----

  private record(name: string): Record_ {
    let r = this.records.get(name);
    if (!r) {
      r = {
        kv: undefined,
        holder: undefined,
        state: 'not-registered',
        reason: null,
        ip: null,
        identity: null,
        node: null,
        namespace: null,
        bootId: null,
        lastSeen: null,
        refusals: [],
      };
      this.records.set(name, r);
    }
    return r;
  }

  private onRegistration(name: string, kv: KeyValue | undefined): void {
    if (!name || name.includes('/')) return;
    const r = this.record(name);
    r.kv = kv;
    r.lastSeen = this.now().toISOString();
    this.enqueue(name);
  }

  private refuse(name: string, reason: string, current = true): void {
    const r = this.record(name);
    r.refusals.push({ at: this.now().toISOString(), reason });
    if (r.refusals.length > MAX_REFUSALS_KEPT) r.refusals.shift();
    if (current) {
      r.state = 'refused';
      r.reason = reason;
    }
    registrations().inc({ outcome: 'refused' });
    log.warn({ workload: name, reason }, 'external workload registration refused');
  }

  private enqueue(name: string): void {
    this.queue.add(name);
  }

  // ---- reconciliation ----

  private async process(name: string): Promise<void> {
    const r = this.record(name);
    const cew = this.opts.workloads.get(undefined, name);
    const kv = r.kv;
    if (!kv) {
      if (!this.registrationsListed) return;
      r.holder = undefined;
      if (r.state !== 'not-registered') {
        r.state = 'not-registered';
        r.reason = null;
        r.node = null;
        registrations().inc({ outcome: 'left' });
        log.info({ workload: name }, 'external workload left (registration gone)');
      }
      await this.removeObjects(name, cew ? workloadNamespace(cew) : r.namespace);
      if (!cew && r.refusals.length === 0) this.records.delete(name);
      return;
    }
    let reg: RegisterNode;
    try {
      reg = decodeRegisterNode(kv.value);
    } catch (err) {
      throw new RefusedRegistration(`malformed registration: ${(err as Error).message}`);
    }
    if (reg.Name !== name)
      throw new RefusedRegistration(`malformed registration: Name "${reg.Name}" under key "${name}"`);
    r.bootId = reg.BootID || null;
    if (!cew) {
      // A workload deleted while registered loses its endpoint at once.
      if (r.node !== null) await this.removeObjects(name, r.namespace);
      r.node = null;
      throw new RefusedRegistration(`unknown external workload: no CiliumExternalWorkload named "${name}"`);
    }
    const c = this.opts;
    if (reg.Cluster !== '' && reg.Cluster !== c.clusterName) {
      throw new RefusedRegistration(`registration claims cluster "${reg.Cluster}"; this is cluster "${c.clusterName}"`);
    }
    if (reg.ClusterID !== 0 && reg.ClusterID !== c.clusterId) {
      throw new RefusedRegistration(
        `registration claims cluster ID ${reg.ClusterID}; this cluster's ID is ${c.clusterId}`,
      );
    }
    await this.checkHolder(name, r, kv, reg);

    const labels = workloadLabels(cew, c.clusterName);
    const secLabels = securityLabels(labels);
    const namespace = workloadNamespace(cew);
    if (reg.NodeIdentity === 0) {
      const id = await this.ensureIdentity(secLabels, namespace, cew.status?.id);
      await this.answer(kv, reg, labels, id, cew);
      r.state = 'waiting-for-addresses';
      r.reason = null;
      r.identity = id;
      registrations().inc({ outcome: 'answered' });
      return;
    }
    if (!reg.IPAddresses?.length) {
      // Our own answer (or a VM still waiting to send its addresses).
      if (r.state !== 'registered') r.state = 'waiting-for-addresses';
      return;
    }
    const expected = await this.ensureIdentity(secLabels, namespace, cew.status?.id ?? reg.NodeIdentity);
    if (reg.NodeIdentity !== expected) {
      throw new RefusedRegistration(
        `registration claims identity ${reg.NodeIdentity}; the identity of "${name}" is ${expected}`,
      );
    }
    const ip = workloadNodeIp(reg.IPAddresses);
    if (!ip) throw new RefusedRegistration('malformed registration: no IPv4 address');
    const node = await c.writer.apply(ciliumNodeFor(cew, labels, reg.IPAddresses));
    await c.writer.apply(ciliumEndpointFor(node.object, namespace, expected, secLabels, reg.IPAddresses, ip));
    if (cew.status?.id !== expected || cew.status.ip !== ip) {
      const { resourceVersion: _rv, ...meta } = cew.metadata;
      await c.writer.updateStatus({ ...cew, metadata: meta, status: { ...cew.status, id: expected, ip } });
    }
    if (r.state !== 'registered' || r.ip !== ip) {
      registrations().inc({ outcome: 'accepted' });
      log.info({ workload: name, ip, identity: expected }, 'external workload registered');
    }
    Object.assign(r, { state: 'registered', reason: null, ip, identity: expected, node: name, namespace });
  }

  /**
   * One registration per name: a value whose lease differs from the accepted one's while that lease is still alive
   * was written over a live registration by another agent.
   */
  private async checkHolder(name: string, r: Record_, kv: KeyValue, reg: RegisterNode): Promise<void> {
    const h = r.holder;
    if (h && h.lease !== kv.lease && h.lease !== '0') {
      const ttl = await this.opts.kvstore.leaseClient.leaseTimeToLive({ ID: h.lease }).catch(() => ({ TTL: '-1' }));
      if (Number(ttl.TTL) > 0) {
        throw new RefusedRegistration(
          `duplicate: "${name}" was overwritten under another lease (boot ID ${reg.BootID || 'unknown'}) while ` +
            `registered by boot ID ${h.bootId || 'unknown'}`,
        );
      }
    }
    r.holder = { lease: kv.lease, createRevision: kv.createRevision, bootId: reg.BootID };
  }

  /** Phase 1's answer, written over the VM's value only if it did not change meanwhile, under the VM's lease. */
  private async answer(
    kv: KeyValue,
    reg: RegisterNode,
    labels: Record<string, string>,
    id: number,
    cew: CiliumExternalWorkload,
  ): Promise<void> {
    let v4cidr: RegisterNode['IPv4AllocCIDR'] = null;
    const spec = cew.spec?.['ipv4-alloc-cidr'];
    if (spec) {
      try {
        v4cidr = cidrToWire(spec);
      } catch {
        log.warn({ workload: cew.metadata.name, cidr: spec }, 'ignoring an invalid ipv4-alloc-cidr');
      }
    }
    const value = encodeRegisterNode({
      ...reg,
      Cluster: this.opts.clusterName,
      ClusterID: this.opts.clusterId,
      Labels: labels,
      NodeIdentity: id,
      IPAddresses: null,
      IPv4AllocCIDR: v4cidr ?? reg.IPv4AllocCIDR,
    });
    const key = Buffer.from(kv.key);
    await this.opts.kvstore.kv.txn({
      compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: String(kv.modRevision) }],
      success: [{ request_put: { key, value: Buffer.from(value), lease: kv.lease } }],
    });
  }

  /**
   * The identity of `secLabels`: an existing CiliumIdentity with exactly these labels (the lowest), else a new one
   * numbered `preferred` when that is free and in range (a returning VM keeps its number), else the highest free
   * number of the cluster's range (the operator allocates from the bottom).
   */
  private async ensureIdentity(
    secLabels: Record<string, string>,
    namespace: string,
    preferred: number | undefined,
  ): Promise<number> {
    const want = labelSetKey(secLabels);
    const { items } = await this.opts.writer.list('CiliumIdentity');
    const taken = new Set<number>();
    let found: number | undefined;
    for (const ci of items) {
      const id = Number(ci.metadata.name);
      taken.add(id);
      if (labelSetKey(ci['security-labels']) === want && (found === undefined || id < found)) found = id;
    }
    if (found !== undefined) return found;
    const range = identityRange(this.opts.clusterId, this.opts.maxConnectedClusters);
    const candidates = function* (): Generator<number> {
      if (preferred !== undefined && preferred >= range.min && preferred <= range.max) yield preferred;
      for (let id = range.max; id >= range.min; id--) yield id;
    };
    for (const id of candidates()) {
      if (taken.has(id)) continue;
      try {
        await this.opts.writer.create(identityObject(id, secLabels, namespace));
        log.info({ identity: id, labels: want }, 'allocated the identity of an external workload');
        return id;
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
        taken.add(id);
      }
    }
    throw new Error(`no free identity left in ${range.min}..${range.max}`);
  }

  /** Deletes the workload's CiliumEndpoint and CiliumNode (only those written for it). */
  private async removeObjects(name: string, namespace: string | null): Promise<void> {
    const w = this.opts.writer;
    const cep = namespace ? await w.get('CiliumEndpoint', namespace, name) : undefined;
    if (namespace && cep && ownedBy(cep, 'CiliumNode', name)) {
      await ignoreNotFound(w.delete('CiliumEndpoint', namespace, name));
    }
    const cn = await w.get('CiliumNode', undefined, name);
    if (cn && ownedBy(cn, 'CiliumExternalWorkload', name))
      await ignoreNotFound(w.delete('CiliumNode', undefined, name));
  }
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}
