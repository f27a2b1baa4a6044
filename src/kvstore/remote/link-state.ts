/**
 * The connectivity state of one remote cluster link, as one value with explicit allowed transitions (in the style
 * of grpc-js's subchannel connectivity state): the link's status fields (ready, connected) are derived from it, and
 * waiters are told of every change instead of polling.
 */

/**
 * - connecting: a connection attempt runs, the remote's etcd has not answered yet.
 * - syncing: the remote's etcd answered; its cluster config is being read and validated, then its stores synced.
 * - ready: every store needed for readiness synced in the current session.
 * - unreachable: the attempt failed or the live connection was lost; the next attempt waits for its backoff.
 * - draining: the link is being stopped (the remote left, or the process shuts down).
 * - removed: the link is finished; it never runs again.
 */
export type RemoteLinkState = 'connecting' | 'syncing' | 'ready' | 'unreachable' | 'draining' | 'removed';

/** The states every link may leave for, from each state. Staying in a state is not a transition. */
export const LINK_TRANSITIONS: Readonly<Record<RemoteLinkState, readonly RemoteLinkState[]>> = {
  connecting: ['syncing', 'unreachable', 'draining'],
  // -> connecting: the cluster config changed under the session, or the config file changed (reconnect at once).
  syncing: ['ready', 'unreachable', 'connecting', 'draining'],
  ready: ['unreachable', 'connecting', 'draining'],
  unreachable: ['connecting', 'draining'],
  draining: ['removed'],
  removed: [],
};

/** A transition the table above does not allow: a bug in the link, not a condition of the remote. */
export class IllegalLinkTransitionError extends Error {
  override name = 'IllegalLinkTransitionError';
  constructor(
    readonly from: RemoteLinkState,
    readonly to: RemoteLinkState,
  ) {
    super(`illegal remote cluster link transition ${from} -> ${to}`);
  }
}

export function isAllowedTransition(from: RemoteLinkState, to: RemoteLinkState): boolean {
  return LINK_TRANSITIONS[from].includes(to);
}

/** Told of every transition, after the state changed. */
export type LinkStateListener = (from: RemoteLinkState, to: RemoteLinkState, reason: string) => void;

/** The current state and its listeners. Listeners run synchronously, in the order they were added. */
export class LinkStateMachine {
  private current: RemoteLinkState = 'connecting';
  private readonly listeners = new Set<LinkStateListener>();

  get state(): RemoteLinkState {
    return this.current;
  }

  /** Moves to `to`; false when already there; throws IllegalLinkTransitionError when the table forbids it. */
  transition(to: RemoteLinkState, reason: string): boolean {
    const from = this.current;
    if (from === to) return false;
    if (!isAllowedTransition(from, to)) throw new IllegalLinkTransitionError(from, to);
    this.current = to;
    for (const l of [...this.listeners]) l(from, to, reason);
    return true;
  }

  /** Adds a listener; the returned function removes it. */
  subscribe(listener: LinkStateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves at the first state (the current one included) that satisfies `done`. */
  until(done: (state: RemoteLinkState) => boolean): Promise<RemoteLinkState> {
    if (done(this.current)) return Promise.resolve(this.current);
    return new Promise((resolve) => {
      const unsubscribe = this.subscribe((_from, to) => {
        if (!done(to)) return;
        unsubscribe();
        resolve(to);
      });
    });
  }
}
