/**
 * The shape every operator controller shares, as controller-runtime's: a controller names itself and reconciles
 * one object reference at a time; the runner owns the one work queue (keyed by controller and object), dispatches
 * each key to its controller, requeues failures with backoff, and drops the failures retrying cannot fix.
 */
import {
  AlreadyExistsError,
  ConflictError,
  InvalidObjectsError,
  NotFoundError,
  ValidationError,
} from '../../k8s/errors.js';
import { WorkQueue } from '../../k8s/work-queue.js';
import type { Logger } from '../../observe/logger.js';
import { ClusterLayoutError } from '../../k8s/cluster-layout.js';
import { IdExhaustedError } from '../id-pool.js';
import { IpExhaustedError } from '../../wire/ip-allocator.js';
import { operatorMetrics } from '../metrics.js';
import { SchedulingError } from '../pod-ipam.js';

/** The controllers, as they label metrics (`controller`) and prefix their work-queue keys. */
export type ControllerName = 'nodes' | 'pod' | 'svcip' | 'slices';

export interface Controller {
  readonly name: ControllerName;
  /**
   * Makes what is stored for `ref` (a `namespace/name`, or '' for a cluster-wide controller) what it should be,
   * writing only the difference. Throwing requeues `ref` with backoff, unless the failure is permanent.
   */
  reconcile(ref: string): Promise<void>;
}

/** Failures that retrying cannot fix: logged, counted, and the key is dropped until its object changes. */
export function isPermanent(err: unknown): boolean {
  return (
    err instanceof ValidationError ||
    err instanceof InvalidObjectsError ||
    err instanceof SchedulingError ||
    err instanceof IpExhaustedError ||
    err instanceof IdExhaustedError ||
    err instanceof ClusterLayoutError
  );
}

/** Lost races, expected while the informers catch up: retried quietly. */
function isRace(err: unknown): boolean {
  return err instanceof ConflictError || err instanceof AlreadyExistsError || err instanceof NotFoundError;
}

export interface ControllerRunnerOptions {
  workers?: number;
  retryMaxMs?: number;
  log: Logger;
}

/** Runs the registered controllers off one work queue, so that `workers` bounds the operator's parallelism as a whole. */
export class ControllerRunner {
  private readonly queue: WorkQueue;
  private readonly controllers = new Map<ControllerName, Controller>();

  constructor(opts: ControllerRunnerOptions) {
    const metrics = operatorMetrics();
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
      ...(opts.retryMaxMs !== undefined ? { retryMaxMs: opts.retryMaxMs } : {}),
      shouldRetry: (_key, err) => !isPermanent(err),
      onError: (key, err, willRetry) => {
        const controller = controllerOf(key);
        metrics.reconciles.inc({ controller, outcome: willRetry ? 'retry' : 'dropped' });
        if (!willRetry) {
          metrics.skippedObjects.inc({ kind: controller, reason: (err as Error).name || 'error' });
          opts.log.warn({ key, err }, 'cannot reconcile; skipping until the object changes');
        } else if (isRace(err)) opts.log.debug({ key, err: (err as Error).message }, 'lost a race; retrying');
        else opts.log.warn({ key, err }, 'reconcile failed; retrying');
      },
    });
  }

  register(controller: Controller): void {
    this.controllers.set(controller.name, controller);
  }

  /** Queues `ref` for `controller` (a ref queued again before it runs runs once). */
  enqueue(controller: ControllerName, ref = ''): void {
    this.queue.add(`${controller}:${ref}`);
  }

  /** Keys queued, running or waiting for a retry. */
  get depth(): number {
    return this.queue.depth;
  }

  start(): void {
    this.queue.start();
  }

  /** Resolves once nothing is queued, running or waiting for a retry. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  stop(): Promise<void> {
    return this.queue.stop();
  }

  private async reconcile(key: string): Promise<void> {
    const metrics = operatorMetrics();
    metrics.queueDepth.set(this.queue.depth);
    const name = controllerOf(key);
    const controller = this.controllers.get(name);
    if (!controller) throw new Error(`no controller ${name} for work-queue key ${key}`);
    await controller.reconcile(key.slice(name.length + 1));
    metrics.reconciles.inc({ controller: name, outcome: 'ok' });
  }
}

function controllerOf(key: string): ControllerName {
  return key.slice(0, key.indexOf(':')) as ControllerName;
}
