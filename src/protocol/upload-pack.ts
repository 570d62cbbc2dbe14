// git-upload-pack requests and responses, protocol v2 (ls-refs, fetch) and v0/v1 (stateless fetch).
// Request builders are pure; response readers consume a PktReader and hand back the pack as a byte stream.
import { isSha1OrSha256Hex } from '../pack/object.js';
import { agentCapabilities, type Capabilities, CAP, COMMAND, FEATURE, sidebandCapability } from './capabilities.js';
import { ProtocolError } from './errors.js';
import { encodePkts, type PktInput, PktReader, pktText } from './pkt-line.js';
import { demuxSideband } from './sideband.js';

export interface FetchRequest {
  /** Any object ids: commits, trees, blobs (the server must allow unadvertised wants). */
  wants: string[];
  /**
   * Full ref names asked for by name (v2 `want-ref`; only to a server offering ref-in-want): what a ref points
   * at and its objects in one request. Their ids come back in FetchResponse.wantedRefs.
   */
  wantRefs?: string[];
  haves?: string[];
  /** e.g. 'blob:none' or 'tree:0'; dropped when the server does not offer filtering (see FetchPlan). */
  filter?: string;
  /** Shallow fetch depth; dropped when the server does not offer `shallow`. */
  depth?: number;
}

/** What a fetch will actually ask for once the server's capabilities are known. */
export interface FetchPlan {
  filter?: string;
  depth?: number;
}

const FLUSH_PKT = { type: 'flush' } as const;
const DELIM_PKT = { type: 'delim' } as const;

function validateRequest(req: FetchRequest): void {
  if (req.wants.length === 0 && (req.wantRefs ?? []).length === 0) throw new TypeError('fetch needs at least one want');
  for (const ref of req.wantRefs ?? []) {
    if (!/^refs\/[\x21-\x7e]+$/.test(ref)) throw new TypeError(`not a full ref name: ${JSON.stringify(ref)}`);
  }
  for (const oid of [...req.wants, ...(req.haves ?? [])]) {
    if (!isSha1OrSha256Hex(oid)) throw new TypeError(`not an object id: ${JSON.stringify(oid)}`);
  }
  if (req.depth !== undefined && (!Number.isInteger(req.depth) || req.depth < 1)) {
    throw new TypeError(`bad depth ${req.depth}`);
  }
  if (req.filter !== undefined && !/^[\x21-\x7e]+$/.test(req.filter)) {
    throw new TypeError(`bad filter ${JSON.stringify(req.filter)}`);
  }
}

/** v2 features of a command, e.g. `fetch=shallow wait-for-done filter` → {shallow, wait-for-done, filter}. */
export function commandFeatures(caps: Capabilities, command: string): Set<string> {
  const v = caps.get(command);
  if (v === undefined) throw new ProtocolError('unsupported', `server does not offer the ${command} command`);
  return new Set(v.split(' ').filter(Boolean));
}

/** v2 `command=ls-refs` request: symrefs + peeled tags, optionally limited to ref prefixes. */
export function lsRefsRequestV2(caps: Capabilities, prefixes: string[] = []): Buffer {
  const features = commandFeatures(caps, COMMAND.LS_REFS);
  const args: string[] = ['peel\n', 'symrefs\n'];
  if (features.has(FEATURE.UNBORN)) args.push(`${FEATURE.UNBORN}\n`);
  for (const p of prefixes) args.push(`ref-prefix ${p}\n`);
  return encodePkts(...commandHead(caps, COMMAND.LS_REFS), DELIM_PKT, ...args, FLUSH_PKT);
}

/** `command=<name>` and the capabilities we send with every v2 command. */
function commandHead(caps: Capabilities, command: string): string[] {
  return [`command=${command}\n`, ...agentCapabilities(caps).map((c) => `${c}\n`)];
}

/** Whether a v2 server's fetch takes `want-ref` (uploadpack.allowRefInWant in git). */
export function offersRefInWant(caps: Capabilities): boolean {
  return caps.has(COMMAND.FETCH) && commandFeatures(caps, COMMAND.FETCH).has(FEATURE.REF_IN_WANT);
}

export function planFetchV2(caps: Capabilities, req: FetchRequest): FetchPlan {
  const features = commandFeatures(caps, COMMAND.FETCH);
  return {
    ...(req.filter !== undefined && features.has(FEATURE.FILTER) ? { filter: req.filter } : {}),
    ...(req.depth !== undefined && features.has(FEATURE.SHALLOW) ? { depth: req.depth } : {}),
  };
}

/** v2 `command=fetch` with `done`: no negotiation rounds, the server answers with the pack at once. */
export function fetchRequestV2(caps: Capabilities, req: FetchRequest, plan: FetchPlan): Buffer {
  validateRequest(req);
  const args: PktInput[] = [`${CAP.NO_PROGRESS}\n`, `${CAP.OFS_DELTA}\n`];
  for (const w of req.wants) args.push(`want ${w}\n`);
  if ((req.wantRefs ?? []).length > 0 && !offersRefInWant(caps)) {
    throw new ProtocolError('unsupported', 'server does not offer ref-in-want (want-ref)');
  }
  for (const ref of req.wantRefs ?? []) args.push(`want-ref ${ref}\n`);
  for (const h of req.haves ?? []) args.push(`have ${h}\n`);
  if (plan.depth !== undefined) args.push(`deepen ${plan.depth}\n`);
  if (plan.filter !== undefined) args.push(`filter ${plan.filter}\n`);
  args.push('done\n');
  return encodePkts(...commandHead(caps, COMMAND.FETCH), DELIM_PKT, ...args, FLUSH_PKT);
}

export function planFetchV0(caps: Capabilities, req: FetchRequest): FetchPlan {
  return {
    ...(req.filter !== undefined && caps.has(CAP.FILTER) ? { filter: req.filter } : {}),
    ...(req.depth !== undefined && caps.has(CAP.SHALLOW) ? { depth: req.depth } : {}),
  };
}

/**
 * v0 stateless request: wants (the first carries our capabilities, only ones the server advertised),
 * deepen/filter, flush, haves, done.
 */
export function fetchRequestV0(caps: Capabilities, req: FetchRequest, plan: FetchPlan): Buffer {
  validateRequest(req);
  if ((req.wantRefs ?? []).length > 0) throw new ProtocolError('unsupported', 'want-ref needs protocol v2');
  const wanted: string[] = [];
  const sb = sidebandCapability(caps);
  if (sb) wanted.push(sb);
  if (caps.has(CAP.OFS_DELTA)) wanted.push(CAP.OFS_DELTA);
  // Harmless without haves (see CAP.THIN_PACK); a server that requires it gets it, and only when it offers it.
  if (caps.has(CAP.THIN_PACK) && (req.haves ?? []).length === 0) wanted.push(CAP.THIN_PACK);
  if (caps.has(CAP.NO_PROGRESS)) wanted.push(CAP.NO_PROGRESS);
  if (plan.filter !== undefined) wanted.push(CAP.FILTER);
  wanted.push(...agentCapabilities(caps));
  const lines: PktInput[] = req.wants.map((w, i) => (i === 0 ? `want ${w} ${wanted.join(' ')}\n` : `want ${w}\n`));
  if (plan.depth !== undefined) lines.push(`deepen ${plan.depth}\n`);
  if (plan.filter !== undefined) lines.push(`filter ${plan.filter}\n`);
  lines.push(FLUSH_PKT);
  for (const h of req.haves ?? []) lines.push(`have ${h}\n`);
  lines.push('done\n');
  return encodePkts(...lines);
}

export interface FetchResponse {
  /** Commits the server cut history at (`shallow <oid>` lines). */
  shallow: string[];
  /** The ids of the refs asked for with want-ref (`wanted-refs` section), by ref name. */
  wantedRefs: Map<string, string>;
  /** The raw pack bytes. */
  pack: AsyncIterable<Buffer>;
}

async function textLine(reader: PktReader, what: string): Promise<string | 'flush' | 'delim'> {
  const pkt = await reader.next();
  if (pkt === null) throw new ProtocolError('unexpected-eof', `${what}: response ended early`);
  if (pkt.type === 'flush' || pkt.type === 'delim') return pkt.type;
  if (pkt.type !== 'data') throw new ProtocolError('unexpected-response', `${what}: unexpected ${pkt.type} pkt`);
  return pktText(pkt.payload);
}

/** v2 fetch response: sections separated by delim pkts; the `packfile` section is side-band multiplexed. */
export async function readFetchResponseV2(reader: PktReader, onProgress?: (msg: string) => void): Promise<FetchResponse> {
  const shallow: string[] = [];
  const wantedRefs = new Map<string, string>();
  for (;;) {
    const header = await textLine(reader, 'fetch');
    if (header === 'packfile') return { shallow, wantedRefs, pack: thenEnd(demuxSideband(reader, onProgress), reader) };
    if (header === 'flush') throw new ProtocolError('unexpected-response', 'fetch: the server sent no pack');
    if (header === 'delim') throw new ProtocolError('unexpected-response', 'fetch: empty section');
    if (!['acknowledgments', 'shallow-info', 'wanted-refs', 'packfile-uris'].includes(header)) {
      throw new ProtocolError('unexpected-response', `fetch: unknown section ${JSON.stringify(header)}`);
    }
    for (;;) {
      const line = await textLine(reader, header);
      if (line === 'delim') break;
      if (line === 'flush') throw new ProtocolError('unexpected-response', 'fetch: the server sent no pack');
      if (header === 'shallow-info' && line.startsWith('shallow ')) shallow.push(line.slice('shallow '.length));
      if (header === 'wanted-refs') {
        const m = /^([0-9a-f]{40}|[0-9a-f]{64}) (refs\/\S+)$/.exec(line);
        if (m === null) throw new ProtocolError('unexpected-response', `fetch: bad wanted-ref ${JSON.stringify(line.slice(0, 80))}`);
        wantedRefs.set(m[2]!, m[1]!);
      }
    }
  }
}

/**
 * v0 fetch response to a request ending in `done`: optional `shallow`/`unshallow` lines closed by a flush,
 * one `NAK` or `ACK <oid>`, then the pack (side-band multiplexed when negotiated, raw otherwise).
 */
export async function readFetchResponseV0(
  reader: PktReader,
  sideband: boolean,
  onProgress?: (msg: string) => void,
): Promise<FetchResponse> {
  const shallow: string[] = [];
  for (;;) {
    const line = await textLine(reader, 'fetch');
    if (line === 'flush') continue; // end of the shallow-update section
    if (line === 'delim') throw new ProtocolError('unexpected-response', 'fetch: unexpected delim pkt');
    if (line.startsWith('shallow ')) shallow.push(line.slice('shallow '.length));
    else if (line.startsWith('unshallow ')) continue;
    else if (line === 'NAK' || /^ACK [0-9a-f]+$/.test(line)) break;
    else if (line.startsWith('ACK ')) continue; // multi-ack forms; we never ask for them
    else throw new ProtocolError('unexpected-response', `fetch: unexpected line ${JSON.stringify(line.slice(0, 80))}`);
  }
  return { shallow, wantedRefs: new Map(), pack: sideband ? thenEnd(demuxSideband(reader, onProgress), reader) : reader.rest() };
}

/**
 * The pack, then a check that the response ends there: reading to the end also lets the HTTP connection
 * be reused. Only a v2 response-end pkt may follow the closing flush.
 */
async function* thenEnd(pack: AsyncIterable<Buffer>, reader: PktReader): AsyncGenerator<Buffer> {
  yield* pack;
  for (let pkt = await reader.next(); pkt !== null; pkt = await reader.next()) {
    if (pkt.type !== 'response-end') throw new ProtocolError('unexpected-response', 'data after the end of the pack');
  }
}
