/**
 * The users and roles of a clustermesh etcd (wire spec section 7). With `--client-cert-auth`, etcd takes the user
 * name from the client certificate's CN, so every user here is created without a password: a certificate signed by
 * the cluster's CA is the only way in.
 */
import type { Etcd3 } from 'etcd3';
import { Range } from 'etcd3';

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';
export const REMOTE_ROLE = 'remote';
export const LOCAL_ROLE = 'local';
export const EXTERNAL_WORKLOAD_USER = 'externalworkload';
export const EXTERNAL_WORKLOAD_ROLE = 'externalworkload';

const HEARTBEAT_KEY = 'cilium/.heartbeat';
const STATE_PREFIX = 'cilium/state/';
const CACHE_PREFIX = 'cilium/cache/';
const CLUSTER_CONFIG_PREFIX = 'cilium/cluster-config/';
const SYNCED_PREFIX = 'cilium/synced/';
const NODE_REGISTER_PREFIX = 'cilium/state/noderegister/v1/';
const INIT_LOCK_PREFIX = 'cilium/.initlock/';

export type Permission = 'Read' | 'Write' | 'Readwrite';

/** A key range: one key (`end` unset), a prefix, or every key. */
export type KeyRange = { key: string } | { prefix: string } | { all: true };

export interface RoleSpec {
  name: string;
  grants: { permission: Permission; range: KeyRange }[];
}

export interface UserSpec {
  name: string;
  roles: string[];
}

export class EtcdUsersError extends Error {
  override name = 'EtcdUsersError';
}

export function adminUser(cluster: string): string {
  return `admin-${cluster}`;
}
export function remoteUser(cluster: string): string {
  return `remote-${cluster}`;
}
export function localUser(cluster: string): string {
  return `local-${cluster}`;
}

/**
 * The roles of cluster `cluster`'s clustermesh etcd. The heartbeat is granted as a prefix without a trailing slash
 * (as Cilium does), which also covers watchers that watch the key as a prefix.
 */
export function clustermeshRoles(cluster: string): RoleSpec[] {
  return [
    {
      name: REMOTE_ROLE,
      grants: [
        { permission: 'Read', range: { prefix: HEARTBEAT_KEY } },
        { permission: 'Read', range: { prefix: STATE_PREFIX } },
        { permission: 'Read', range: { key: `${CLUSTER_CONFIG_PREFIX}${cluster}` } },
        { permission: 'Read', range: { prefix: `${SYNCED_PREFIX}${cluster}/` } },
      ],
    },
    {
      name: LOCAL_ROLE,
      grants: [
        { permission: 'Read', range: { prefix: HEARTBEAT_KEY } },
        { permission: 'Read', range: { prefix: CACHE_PREFIX } },
        { permission: 'Read', range: { prefix: CLUSTER_CONFIG_PREFIX } },
        { permission: 'Read', range: { prefix: SYNCED_PREFIX } },
      ],
    },
    {
      name: EXTERNAL_WORKLOAD_ROLE,
      grants: [
        { permission: 'Read', range: { all: true } },
        { permission: 'Readwrite', range: { prefix: NODE_REGISTER_PREFIX } },
        { permission: 'Readwrite', range: { prefix: INIT_LOCK_PREFIX } },
      ],
    },
  ];
}

/** The users of cluster `cluster`'s clustermesh etcd; `root` must exist (with role root) before auth is enabled. */
export function clustermeshUsers(cluster: string): UserSpec[] {
  return [
    { name: ROOT_USER, roles: [ROOT_ROLE] },
    { name: adminUser(cluster), roles: [ROOT_ROLE] },
    { name: remoteUser(cluster), roles: [REMOTE_ROLE] },
    { name: 'remote', roles: [REMOTE_ROLE] },
    { name: localUser(cluster), roles: [LOCAL_ROLE] },
    { name: EXTERNAL_WORKLOAD_USER, roles: [EXTERNAL_WORKLOAD_ROLE] },
  ];
}

/** The users that get a client certificate (root has none: admin-<cluster> carries the root role). */
export function certificateUsers(cluster: string): string[] {
  return [adminUser(cluster), remoteUser(cluster), localUser(cluster), EXTERNAL_WORKLOAD_USER];
}

function toRange(r: KeyRange): Range {
  if ('key' in r) return new Range(r.key);
  if ('prefix' in r) return Range.prefix(r.prefix);
  // etcd's "every key" range: key and range_end both "\0".
  return new Range(Buffer.from([0]), Buffer.from([0]));
}

function alreadyExists(err: unknown): boolean {
  return err instanceof Error && /already exists/i.test(err.message);
}

async function ignoreExisting(what: string, op: () => Promise<unknown>): Promise<void> {
  try {
    await op();
  } catch (err) {
    if (!alreadyExists(err)) throw new EtcdUsersError(`${what}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Creates every role, grant and user of section 7, then enables auth. Idempotent: existing roles and users are
 * kept, grants are re-applied (etcd merges identical grants) and enabling auth twice is a no-op. After auth is
 * enabled, `client` must authenticate as a root-role user (admin-<cluster>).
 */
export async function ensureClustermeshUsers(client: Etcd3, cluster: string): Promise<void> {
  // The root role exists by default in etcd 3.4; creating it is harmless elsewhere.
  await ignoreExisting(`creating role ${ROOT_ROLE}`, () => client.auth.roleAdd({ name: ROOT_ROLE }));
  for (const role of clustermeshRoles(cluster)) {
    await ignoreExisting(`creating role ${role.name}`, () => client.role(role.name).create());
    for (const g of role.grants) {
      try {
        await client.role(role.name).grant({ permission: g.permission, range: toRange(g.range) });
      } catch (err) {
        throw new EtcdUsersError(`granting ${g.permission} to role ${role.name}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }
  for (const user of clustermeshUsers(cluster)) {
    await ignoreExisting(`creating user ${user.name}`, () =>
      client.auth.userAdd({ name: user.name, options: { no_password: true } }),
    );
    for (const role of user.roles) {
      try {
        await client.user(user.name).addRole(role);
      } catch (err) {
        throw new EtcdUsersError(`granting role ${role} to user ${user.name}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }
  try {
    await client.auth.authEnable();
  } catch (err) {
    throw new EtcdUsersError(`enabling auth: ${(err as Error).message}`, { cause: err });
  }
}
