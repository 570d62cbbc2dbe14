// git-receive-pack: the push request (command list + pack) and the report-status answer.
import { createHash } from 'node:crypto';
import { isSha1OrSha256Hex } from '../pack/object.js';
import { agentCapabilities, type Capabilities, CAP, sidebandCapability } from './capabilities.js';
import { ProtocolError } from './errors.js';
import { encodePkts, PktReader, pktText } from './pkt-line.js';
import { demuxSideband } from './sideband.js';

export interface PushUpdate {
  ref: string;
  /** The id the ref must have on the server now (zero id: must not exist). The server checks it under a lock. */
  oldOid: string;
  /** The id to set (zero id: delete the ref). */
  newOid: string;
}

export type RefResult =
  | { ref: string; status: 'ok' }
  | { ref: string; status: 'ref-moved'; message: string }
  | { ref: string; status: 'error'; message: string };

export interface PushResult {
  /** True when the pack unpacked and every ref was updated. */
  ok: boolean;
  unpack: 'ok' | string;
  refs: RefResult[];
  /** Text the server sent on the progress channel (e.g. the reason behind "failed to update ref"). */
  messages: string[];
}

const isZero = (oid: string): boolean => /^0+$/.test(oid);

/** True when at least one update creates or moves a ref, so a pack must follow the commands. */
export function needsPack(updates: PushUpdate[]): boolean {
  return updates.some((u) => !isZero(u.newOid));
}

/**
 * Command list: `old new ref\0caps` then `old new ref` lines, then flush. Only capabilities the server
 * advertised are requested; report-status is mandatory for us (without it we could not know the outcome).
 */
export function pushCommands(caps: Capabilities, updates: PushUpdate[], opts: { atomic?: boolean } = {}): { head: Buffer; sideband: boolean } {
  if (updates.length === 0) throw new TypeError('push needs at least one ref update');
  if (!caps.has(CAP.REPORT_STATUS)) throw new ProtocolError('unsupported', 'server does not offer report-status');
  if (opts.atomic && !caps.has(CAP.ATOMIC)) throw new ProtocolError('unsupported', 'server does not offer atomic pushes');
  for (const u of updates) {
    if (!isSha1OrSha256Hex(u.oldOid) || !isSha1OrSha256Hex(u.newOid)) throw new TypeError(`bad object id in update of ${u.ref}`);
    if (!/^refs\/[\x21-\x7e]+$/.test(u.ref) || u.ref.includes('..')) throw new TypeError(`bad ref name ${JSON.stringify(u.ref)}`);
    if (isZero(u.newOid) && !caps.has(CAP.DELETE_REFS)) throw new ProtocolError('unsupported', 'server does not accept ref deletion');
  }
  const wanted: string[] = [CAP.REPORT_STATUS];
  const sb = sidebandCapability(caps);
  if (sb) wanted.push(sb);
  if (opts.atomic) wanted.push(CAP.ATOMIC);
  if (caps.has(CAP.QUIET)) wanted.push(CAP.QUIET);
  wanted.push(...agentCapabilities(caps));
  const lines = updates.map((u, i) => `${u.oldOid} ${u.newOid} ${u.ref}${i === 0 ? `\0${wanted.join(' ')}` : ''}\n`);
  return { head: encodePkts(...lines, { type: 'flush' }), sideband: sb !== undefined };
}

/** A pack with no objects: required when refs are created/moved to objects the server already has. */
export function emptyPack(): Buffer {
  const header = Buffer.from([0x50, 0x41, 0x43, 0x4b, 0, 0, 0, 2, 0, 0, 0, 0]);
  return Buffer.concat([header, createHash('sha1').update(header).digest()]);
}

/**
 * Messages with which git (and common hosts) reject an update because the ref is not where the client
 * thought: the compare-and-swap lost. The caller should re-read the ref and retry.
 * "failed to update ref" is receive-pack's answer when its locked old-id check fails (the detail,
 * "cannot lock ref ...: is at X but expected Y", arrives on the progress channel).
 */
const REF_MOVED = [
  'stale info', 'non-fast-forward', 'fetch first', 'failed to lock', 'cannot lock ref',
  'reference already exists', 'failed to update ref',
];

export function classifyRefError(ref: string, message: string): RefResult {
  const lower = message.toLowerCase();
  return REF_MOVED.some((m) => lower.includes(m)) ? { ref, status: 'ref-moved', message } : { ref, status: 'error', message };
}

/** `unpack ok|<error>`, then `ok <ref>` / `ng <ref> <reason>` lines, then flush. */
export async function readReportStatus(reader: PktReader): Promise<{ unpack: string; refs: RefResult[] }> {
  let unpack: string | undefined;
  const refs: RefResult[] = [];
  for (;;) {
    const pkt = await reader.next();
    if (pkt === null) throw new ProtocolError('unexpected-eof', 'report-status ended without a flush');
    if (pkt.type === 'flush') break;
    if (pkt.type !== 'data') throw new ProtocolError('unexpected-response', `unexpected ${pkt.type} pkt in report-status`);
    const line = pktText(pkt.payload);
    if (unpack === undefined) {
      if (!line.startsWith('unpack ')) throw new ProtocolError('unexpected-response', `expected unpack status, got ${JSON.stringify(line.slice(0, 80))}`);
      unpack = line.slice('unpack '.length);
    } else if (line.startsWith('ok ')) {
      refs.push({ ref: line.slice(3), status: 'ok' });
    } else if (line.startsWith('ng ')) {
      const rest = line.slice(3);
      const sp = rest.indexOf(' ');
      const ref = sp < 0 ? rest : rest.slice(0, sp);
      refs.push(classifyRefError(ref, sp < 0 ? 'rejected' : rest.slice(sp + 1)));
    } else if (!line.startsWith('option ')) {
      throw new ProtocolError('unexpected-response', `unexpected report-status line ${JSON.stringify(line.slice(0, 80))}`);
    }
  }
  if (unpack === undefined) throw new ProtocolError('unexpected-response', 'empty report-status');
  return { unpack, refs };
}

/**
 * The receive-pack response: report-status, inside side-band band 1 when negotiated (band 2 text is
 * collected into `messages`). Refs the server did not mention count as errors.
 */
export async function readPushResponse(reader: PktReader, sideband: boolean, updates: PushUpdate[]): Promise<PushResult> {
  let progress = '';
  let report: { unpack: string; refs: RefResult[] };
  if (sideband) {
    const inner = new PktReader(demuxSideband(reader, (m) => (progress += m)));
    report = await readReportStatus(inner);
    // Drain to the outer flush so that trailing progress text is seen and errors on band 3 still surface.
    while ((await inner.next()) !== null) { /* nothing else is expected */ }
  } else {
    report = await readReportStatus(reader);
  }
  const messages = splitMessages(progress);
  const byRef = new Map(report.refs.map((r) => [r.ref, r]));
  const refs: RefResult[] = updates.map((u) => {
    const r = byRef.get(u.ref) ?? { ref: u.ref, status: 'error', message: 'the server reported no status for this ref' };
    return r.status === 'ok' ? r : withLockDetail(r, messages);
  });
  const ok = report.unpack === 'ok' && refs.every((r) => r.status === 'ok');
  return { ok, unpack: report.unpack === 'ok' ? 'ok' : report.unpack, refs, messages };
}

/**
 * Generic rejections ("failed to update ref", "atomic transaction failed") carry their reason only on the
 * progress channel: "error: cannot lock ref '<ref>': is at X but expected Y" means the compare-and-swap lost.
 */
function withLockDetail(r: Exclude<RefResult, { status: 'ok' }>, messages: string[]): RefResult {
  const detail = messages.find((m) => m.includes(`cannot lock ref '${r.ref}'`));
  return detail ? { ref: r.ref, status: 'ref-moved', message: `${r.message} (${detail})` } : r;
}

function splitMessages(text: string): string[] {
  return text.split(/[\r\n]+/).map((s) => s.trim()).filter(Boolean);
}
