/**
 * The hot etcd calls (list pages, SyncStore transactions) made on etcd3's own connections, authentication and
 * call options, with the hand-written encoding of kv-wire.ts instead of etcd3's protobufjs objects. Errors are
 * etcd3's (castGrpcError), so callers classify them as they do for any other call.
 */
import { castGrpcError, EtcdInvalidAuthTokenError, type CallContext, type Etcd3 } from 'etcd3';
import { connectionPool, invalidateAuthToken } from './client.js';
import {
  decodeRangeResponse,
  decodeTxnResponse,
  encodePutDeleteTxn,
  encodeRangeRequest,
  type RangeRequest,
  type RangeResult,
  type TxnOp,
  type TxnResult,
} from './kv-wire.js';

const RANGE_METHOD = '/etcdserverpb.KV/Range';
const TXN_METHOD = '/etcdserverpb.KV/Txn';

async function unary<T>(
  client: Etcd3,
  method: string,
  /** What etcd3 would pass to the client's call-options factory (deadlines) for the same call. */
  context: CallContext,
  request: Buffer,
  decode: (b: Buffer) => T,
): Promise<T> {
  const pool = connectionPool(client);
  const factory = pool.callOptionsFactory;
  const call = (): Promise<T> =>
    pool.withConnection('KV', ({ client: grpcClient, metadata }) => {
      const options = typeof factory === 'function' ? factory(context) : (factory ?? {});
      return new Promise<T>((resolve, reject) => {
        grpcClient.makeUnaryRequest<Buffer, T>(
          method,
          (b) => b,
          decode,
          request,
          metadata,
          options,
          (err, res) => {
            if (err) reject(castGrpcError(err));
            else resolve(res as T);
          },
        );
      });
    });
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof EtcdInvalidAuthTokenError)) throw err;
    // An expired token: etcd3 re-authenticates for its own calls the same way.
    invalidateAuthToken(client);
    return call();
  }
}

/** One Range call; values in the result are views into the response. */
export function rangeRaw(client: Etcd3, req: RangeRequest): Promise<RangeResult> {
  const context: CallContext = { service: 'KV', method: 'range', params: { key: req.key }, isStream: false };
  return unary(client, RANGE_METHOD, context, encodeRangeRequest(req), decodeRangeResponse);
}

/**
 * One Txn without compares that applies `ops` (puts under `lease` when given, and deletes); each op's key is
 * prefixed with `keyPrefix`.
 */
export function txnPutsDeletes(
  client: Etcd3,
  ops: readonly TxnOp[],
  lease?: string,
  keyPrefix?: Buffer,
): Promise<TxnResult> {
  const context: CallContext = { service: 'KV', method: 'txn', params: {}, isStream: false };
  return unary(client, TXN_METHOD, context, encodePutDeleteTxn(ops, lease, keyPrefix), decodeTxnResponse);
}
