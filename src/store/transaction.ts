/**
 * Turning a write request into the write queue's WriteOp: a REST write (one edit) or an atomic commit
 * (several), with its bodies staged, its commit message, and its idempotency key and fingerprint. Both
 * stores' transactions follow the same rules for what an operation means.
 */
import { checkIdempotencyKey, fingerprintOf } from './idempotency.js';
import { stageBody, type StagedBlob, type StageOptions } from './staged-blob.js';
import { StoreError, type BodySource, type CommitOperation, type CommitRequest, type WriteOptions } from './store.js';
import type { PathEdit, WriteOp } from './write-plan.js';

export type WriteMethod = PathEdit['method'];

/** A staged write: the op to submit, and `dispose` for its spooled bodies once it is answered. */
export interface StagedWrite {
  op: WriteOp;
  dispose(): Promise<void>;
}

/** Most operations in one commit request (the API may lower it). */
export const MAX_OPERATIONS = 1000;

export async function stageRestWrite(method: WriteMethod, path: string, body: BodySource | null, opts: WriteOptions,
  message: string, staging: StageOptions): Promise<StagedWrite> {
  if (opts.idempotencyKey !== undefined) checkIdempotencyKey(opts.idempotencyKey);
  const blob = body === null ? undefined : await stageBody(body, staging);
  const edit: PathEdit = {
    method, path, segments: path.split('/'),
    ...(blob === undefined ? {} : { blob }), ...(opts.condition === undefined ? {} : { condition: opts.condition }),
  };
  const op: WriteOp = {
    edits: [edit], message,
    ...(opts.idempotencyKey === undefined ? {} : {
      idempotency: { key: opts.idempotencyKey, fingerprint: fingerprintOf([method, path, blob?.oid ?? '']) },
    }),
  };
  return { op, dispose: async () => blob?.dispose() };
}

/** The request's operations as edits, in order; a path named twice (a move's `from` included) is refused. */
export async function stageCommit(request: CommitRequest, message: string, staging: StageOptions): Promise<StagedWrite> {
  if (request.idempotencyKey !== undefined) checkIdempotencyKey(request.idempotencyKey);
  if (request.operations.length === 0) throw new StoreError('bad-request', 'a commit needs at least one operation');
  const seen = new Set<string>();
  for (const [i, o] of request.operations.entries()) {
    for (const p of o.from === undefined ? [o.path] : [o.from, o.path]) {
      if (seen.has(p)) {
        throw new StoreError('bad-request', `operation ${i} names ${p} again`, 'one request may change each path once', { operation: i });
      }
      seen.add(p);
    }
  }
  const blobs: StagedBlob[] = [];
  const dispose = async () => void (await Promise.all(blobs.map((b) => b.dispose())));
  try {
    const edits: PathEdit[] = [];
    for (const o of request.operations) {
      const blob = o.body === undefined ? undefined : await stageBody({ stream: once(o.body), length: o.body.byteLength }, staging);
      if (blob !== undefined) blobs.push(blob);
      edits.push(editOf(o, blob));
    }
    const fingerprint = fingerprintOf([
      'COMMIT', request.message ?? '', request.expectHead ?? '',
      ...request.operations.flatMap((o, i) => [o.op, o.path, o.from ?? '', o.ifMatch ?? '', edits[i]!.blob?.oid ?? '']),
    ]);
    const op: WriteOp = {
      edits, message: request.message ?? message, transaction: true,
      ...(request.expectHead === undefined ? {} : { expectHead: request.expectHead }),
      ...(request.idempotencyKey === undefined ? {} : { idempotency: { key: request.idempotencyKey, fingerprint } }),
    };
    return { op, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

function editOf(o: CommitOperation, blob: StagedBlob | undefined): PathEdit {
  const base = {
    path: o.path, segments: o.path.split('/'),
    ...(blob === undefined ? {} : { blob }), ...(o.ifMatch === undefined ? {} : { condition: { ifMatch: [o.ifMatch] } }),
  };
  switch (o.op) {
    case 'create':
      return { ...base, method: 'POST' };
    case 'replace':
      return { ...base, method: 'PUT' };
    case 'upsert':
      return { ...base, method: 'PUT', upsert: true };
    case 'delete':
      return { ...base, method: 'DELETE' };
    case 'move':
      return { ...base, method: 'POST', from: { path: o.from!, segments: o.from!.split('/') } };
  }
}

async function* once(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}
