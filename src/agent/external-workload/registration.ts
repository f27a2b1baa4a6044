/**
 * The external workload's side of the registration (Cilium's NodeRegistrar.JoinCluster): under its own lease, the
 * VM's agent creates `cilium/state/noderegister/v1/<name>` with only its name, cluster and boot ID (phase 1), waits
 * for the clustermesh-apiserver to write it back with the cluster's name and ID, the workload's labels and its
 * NodeIdentity, then writes it again with its addresses (phase 2). From then on it keeps the key: if the key goes
 * away (lease lost) or is overwritten, it is written again.
 *
 * One agent per name: the first write is create-only, so a second agent finds the name taken; it then reports its
 * attempt under `cilium/.initlock/noderegister/<name>/<boot id>` (the apiserver shows it in `vm status`) and keeps
 * trying until its join timeout (a restarted VM waits for its previous run's lease to expire).
 */
import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { LeaseManager } from '../../kvstore/lease.js';
import { ListWatcher } from '../../kvstore/list-watcher.js';
import type { KeyValue } from '../../kvstore/types.js';
import { logger } from '../../observe/logger.js';
import { INIT_LOCK_PREFIX, NODE_REGISTER_PREFIX } from '../../wire/index.js';
import {
  decodeRegisterNode,
  encodeRegisterNode,
  newRegisterNode,
  type RegisterNode,
} from '../../wire/register-node.js';

/** Short, unlike Cilium's 15 min: a stopped VM must leave the cluster (its endpoint and ipcache entry) promptly. */
export const DEFAULT_VM_LEASE_TTL_SECONDS = 10;
/** Cilium's JoinCluster retries 50 times, one second apart. */
export const DEFAULT_JOIN_TIMEOUT_MS = 60_000;
const RETRY_MS = 1_000;

export const REFUSED_ATTEMPTS_PREFIX = `${INIT_LOCK_PREFIX}/noderegister`;

export class RegistrationError extends Error {
  override name = 'RegistrationError';
}

/** Another agent holds the name. */
export class DuplicateRegistrationError extends RegistrationError {
  override name = 'DuplicateRegistrationError';
}

export interface RegistrarOptions {
  /** The cluster's clustermesh etcd, as the `externalworkload` user. */
  kvstore: Etcd3;
  name: string;
  clusterName: string;
  clusterId: number;
  /** The workload's address (its InternalIP). */
  ip: string;
  leaseTtlSeconds?: number;
  joinTimeoutMs?: number;
  /** Identifies this run of the agent; random by default. */
  bootId?: string;
}

const log = logger('external-workload');

export class ExternalWorkloadRegistrar {
  readonly bootId: string;
  readonly key: string;
  private readonly lease: LeaseManager;
  private watcher: ListWatcher | undefined;
  private registered: RegisterNode | undefined;
  private answerWaiter: ((n: RegisterNode) => void) | undefined;
  private writing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: RegistrarOptions) {
    this.bootId = opts.bootId ?? randomUUID();
    this.key = `${NODE_REGISTER_PREFIX}/${opts.name}`;
    this.lease = new LeaseManager(opts.kvstore, { ttlSeconds: opts.leaseTtlSeconds ?? DEFAULT_VM_LEASE_TTL_SECONDS });
    this.lease.onLost(() => {
      this.reassert('lease lost');
    });
  }

  /** The apiserver's answer, once joined: the workload's identity, labels and cluster. */
  get registration(): RegisterNode | undefined {
    return this.registered;
  }

  /** Runs both phases; rejects with RegistrationError on refusal or timeout. */
  async join(): Promise<RegisterNode> {
    const deadline = Date.now() + (this.opts.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS);
    const answer = new Promise<RegisterNode>((resolve) => {
      this.answerWaiter = resolve;
    });
    this.watcher = new ListWatcher(this.opts.kvstore, this.key, {
      onUpsert: (kv) => {
        this.onKey(kv);
      },
      onDelete: (key) => {
        if (key === this.key) this.reassert('registration deleted');
      },
    });
    this.watcher.start();
    await this.create(deadline);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(
        () => {
          resolve(undefined);
        },
        Math.max(0, deadline - Date.now()),
      );
    });
    const resp = await Promise.race([answer, timeout]);
    clearTimeout(timer);
    if (!resp) {
      throw new RegistrationError(
        `no answer from the clustermesh-apiserver for "${this.opts.name}" (is there a CiliumExternalWorkload of ` +
          'that name? see `cmesh clustermesh vm status`)',
      );
    }
    if (resp.Cluster !== this.opts.clusterName || resp.ClusterID !== this.opts.clusterId) {
      throw new RegistrationError(
        `the cluster answered as "${resp.Cluster}" (ID ${resp.ClusterID}); this agent was configured for ` +
          `"${this.opts.clusterName}" (ID ${this.opts.clusterId})`,
      );
    }
    this.registered = resp;
    await this.put(this.full());
    log.info({ workload: this.opts.name, identity: resp.NodeIdentity }, 'joined the cluster');
    return resp;
  }

  /** Deletes the registration at once (revoking the lease) so the workload leaves without waiting for expiry. */
  async stop(opts: { revoke?: boolean } = { revoke: true }): Promise<void> {
    this.stopped = true;
    this.answerWaiter = undefined;
    await this.watcher?.stop();
    await this.writing.catch(() => undefined);
    await this.lease.close({ revoke: opts.revoke ?? true });
  }

  private full(): RegisterNode {
    const r = this.registered!;
    return { ...r, IPAddresses: [{ Type: 'InternalIP', IP: this.opts.ip }], BootID: this.bootId, Source: 'local' };
  }

  private onKey(kv: KeyValue): void {
    if (kv.key !== this.key) return;
    let n: RegisterNode;
    try {
      n = decodeRegisterNode(kv.value);
    } catch {
      return;
    }
    if (n.BootID !== this.bootId) {
      // Someone else's value: ours goes back (the apiserver refuses theirs while our lease is alive).
      if (this.registered) this.reassert('registration overwritten');
      return;
    }
    if (!this.registered && n.NodeIdentity !== 0 && !n.IPAddresses?.length) {
      const w = this.answerWaiter;
      this.answerWaiter = undefined;
      w?.(n);
    }
  }

  /** Phase 1: create-only; while another agent holds the name, report and retry until the deadline. */
  private async create(deadline: number): Promise<void> {
    const value = encodeRegisterNode(
      newRegisterNode(this.opts.name, {
        Cluster: this.opts.clusterName,
        ClusterID: this.opts.clusterId,
        BootID: this.bootId,
      }),
    );
    let reported = false;
    for (;;) {
      const lease = await this.lease.current();
      const key = Buffer.from(this.key);
      const res = await this.opts.kvstore.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
        success: [{ request_put: { key, value: Buffer.from(value), lease } }],
      });
      if (res.succeeded) return;
      if (!reported) {
        reported = true;
        log.warn({ workload: this.opts.name }, 'the name is registered by another agent; waiting for it to leave');
        await this.opts.kvstore.kv.put({
          key: Buffer.from(`${REFUSED_ATTEMPTS_PREFIX}/${this.opts.name}/${this.bootId}`),
          value: Buffer.from(value),
          lease,
        });
      }
      if (Date.now() + RETRY_MS > deadline || this.stopped) {
        throw new DuplicateRegistrationError(
          `"${this.opts.name}" is registered by another agent (a second VM with the same name, or this VM's ` +
            'previous run whose lease has not expired yet)',
        );
      }
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  private reassert(why: string): void {
    if (this.stopped || !this.registered) return;
    log.info({ workload: this.opts.name, why }, 'writing the registration again');
    void this.put(this.full()).catch((err: unknown) => {
      log.warn({ err }, 'cannot write the registration; retrying on the next change');
    });
  }

  private put(n: RegisterNode): Promise<void> {
    const run = async (): Promise<void> => {
      const lease = await this.lease.current();
      await this.opts.kvstore.kv.put({ key: Buffer.from(this.key), value: Buffer.from(encodeRegisterNode(n)), lease });
    };
    this.writing = this.writing.then(run, run);
    return this.writing;
  }
}
