// The facade the store uses: one remote repository over smart HTTP.
//
// Round trips: the upload-pack capability advertisement (v2) and the receive-pack capabilities are fetched
// once per Remote and cached, so after the first call lsRefs, fetch and push each cost one POST.
// Against a v0-only server, lsRefs is always one GET (the refs come with the advertisement) and fetch is
// one POST once capabilities are known.
//
// Capability fallbacks: a `filter` or `depth` the server does not offer is dropped (the fetch then returns
// more objects than asked for; FetchInfo.plan tells what was applied). Protocol v2 is asked for by
// default; a server answering v0 is spoken to in v0.
import { DEFAULT_READER_LIMITS, type PackObject, type PackReaderOptions, readPack } from '../pack/pack-reader.js';
import { type Capabilities, type InfoRefs, parseInfoRefs, parseLsRefs, type RefList } from './advertisement.js';
import { CAP, fetchStrategy, sidebandCapability, type FetchStrategy } from './capabilities.js';
import { ProtocolError } from './errors.js';
import { HttpClient, type HttpOptions, type HttpResponse, type HttpStats } from './http.js';
import { type PacketExchange, type PacketTraceTarget, PacketTracer } from './packet-trace.js';
import { decodePkts, type PktObserver, PktReader } from './pkt-line.js';
import { needsPack, pushCommands, readPushResponse, emptyPack, type PushResult, type PushUpdate } from './receive-pack.js';
import { limitBytes, readAllLimited } from './response-limit.js';
import { objectInfoRequest, offersObjectInfo, readObjectInfo } from './object-info.js';
import {
  type FetchPlan,
  type FetchRequest,
  fetchRequestV0,
  fetchRequestV2,
  lsRefsRequestV2,
  offersRefInWant,
  planFetchV0,
  planFetchV2,
  readFetchResponseV0,
  readFetchResponseV2,
} from './upload-pack.js';

export type { RefList, Capabilities } from './advertisement.js';
export type { FetchRequest, FetchPlan } from './upload-pack.js';
export type { PushUpdate, PushResult, RefResult } from './receive-pack.js';

/**
 * What a broken or hostile server may make the client hold. With these, one Remote call keeps at most about
 * maxResponseBytes (non-pack responses), and a fetch through `fetch()` about 2 x maxRetainedBytes plus
 * (maxDeltaDepth + 2) x maxObjectSize, whatever the server sends. (The pkt-line length is capped by the format.)
 */
export interface RemoteLimits extends PackReaderOptions {
  /**
   * Bytes accepted for a response that is not a pack: the info/refs advertisement, an ls-refs answer, a
   * push's report-status (with its progress text), and the part of a fetch response before the pack.
   * Default 8 MiB: room for ~100,000 refs in a v0 advertisement.
   */
  maxResponseBytes?: number;
}

/** Defaults: the pack reader's own (see DEFAULT_READER_LIMITS), and 8 MiB for non-pack responses. */
export const DEFAULT_REMOTE_LIMITS: Required<RemoteLimits> = { ...DEFAULT_READER_LIMITS, maxResponseBytes: 8 * 1024 * 1024 };

export interface RemoteOptions extends HttpOptions {
  url: string;
  /** Default 2, falling back to v0 when the server answers v0. */
  protocol?: 0 | 2;
  /** Receives server progress text (side-band channel 2), if any is sent. */
  onProgress?: (msg: string) => void;
  /** Memory bounds against a misbehaving server; unset fields take DEFAULT_REMOTE_LIMITS. */
  limits?: RemoteLimits;
  /** Where to write a packet trace (GIT_TRACE_PACKET); unset = no tracing. */
  packetTrace?: PacketTraceTarget;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** A fetch in progress: what was asked for, the shallow boundary, and the raw pack stream. */
export interface FetchInfo {
  plan: FetchPlan;
  shallow: string[];
  /** Ids of the refs asked for by name (FetchRequest.wantRefs). */
  wantedRefs: Map<string, string>;
  pack: AsyncIterable<Buffer>;
  /** Releases the response (call when not reading the pack to its end). */
  close(): void;
}

type UploadPackCaps = { version: 2 | 0; capabilities: Capabilities };

const UPLOAD = 'git-upload-pack';
const RECEIVE = 'git-receive-pack';

export class Remote {
  private readonly http: HttpClient;
  private readonly protocol: 0 | 2;
  private readonly onProgress?: (msg: string) => void;
  private readonly maxResponseBytes: number;
  private readonly packLimits: PackReaderOptions;
  private readonly tracer?: PacketTracer;
  private uploadCaps?: UploadPackCaps;
  private receiveCaps?: Capabilities;

  constructor(opts: RemoteOptions) {
    this.http = new HttpClient(opts.url, opts);
    this.protocol = opts.protocol ?? 2;
    if (opts.onProgress) this.onProgress = opts.onProgress;
    const { maxResponseBytes, ...packLimits } = { ...DEFAULT_REMOTE_LIMITS, ...definedOnly(opts.limits ?? {}) };
    this.maxResponseBytes = maxResponseBytes;
    this.packLimits = packLimits;
    if (opts.packetTrace) this.tracer = new PacketTracer(opts.packetTrace);
  }

  /** The repository URL without credentials. */
  get url(): string {
    return this.http.baseUrl;
  }

  get stats(): HttpStats {
    return this.http.stats;
  }

  /** The protocol version in use, once the first upload-pack exchange has told (undefined before). */
  get protocolVersion(): 0 | 2 | undefined {
    return this.uploadCaps?.version;
  }

  /** How trees and blobs can be fetched from this server (learned with its capabilities; see FetchStrategy). */
  async fetchStrategy(opts: CallOptions = {}): Promise<FetchStrategy> {
    if (!this.uploadCaps) await this.discoverUploadPack(opts.signal);
    return fetchStrategy(this.uploadCaps!.version, this.uploadCaps!.capabilities);
  }

  /**
   * Whether the server has told its upload-pack capabilities: a v0 server says nothing for an empty
   * repository (no refs, no capability line), so what fetchStrategy() answers then is a guess.
   */
  get capabilitiesKnown(): boolean {
    return this.uploadCaps !== undefined && this.uploadCaps.capabilities.size > 0;
  }

  /** What the server says it is (its `agent` capability), once its capabilities are known. */
  get serverAgent(): string | undefined {
    return this.uploadCaps?.capabilities.get(CAP.AGENT);
  }

  /** Refs (optionally only those under some prefixes), symrefs and peeled tags. */
  async lsRefs(prefixes?: string[], opts: CallOptions = {}): Promise<RefList> {
    // v0 lists refs in the advertisement itself, so each v0 lsRefs is one GET; v2 caches the advertisement.
    if (!this.uploadCaps || this.uploadCaps.version === 0) {
      const adv = await this.discoverUploadPack(opts.signal);
      if (adv.version !== 2) return filterRefs(adv.refs, prefixes);
    }
    const { capabilities } = this.uploadCaps!;
    const trace = this.tracer?.exchange(UPLOAD);
    const res = await this.post(UPLOAD, lsRefsRequestV2(capabilities, prefixes), true, opts.signal, trace);
    try {
      const body = await readAllLimited(res.body, this.maxResponseBytes, 'ls-refs response');
      return filterRefs(parseLsRefs(decodePkts(body, trace?.received), capabilities), prefixes);
    } finally {
      res.dispose();
    }
  }

  /**
   * Object sizes by id in one POST (v2 `object-info`), or undefined when the server does not offer it (then
   * nothing is sent). Objects the server does not have are missing from the map.
   */
  async objectInfo(oids: readonly string[], opts: CallOptions = {}): Promise<Map<string, number> | undefined> {
    if (!this.uploadCaps) await this.discoverUploadPack(opts.signal);
    const { version, capabilities } = this.uploadCaps!;
    if (version !== 2 || !offersObjectInfo(capabilities)) return undefined;
    const trace = this.tracer?.exchange(UPLOAD);
    const res = await this.post(UPLOAD, objectInfoRequest(capabilities, oids), true, opts.signal, trace);
    try {
      const body = await readAllLimited(res.body, this.maxResponseBytes, 'object-info response');
      return readObjectInfo(decodePkts(body, trace?.received));
    } finally {
      res.dispose();
    }
  }

  /**
   * A ref's id and the objects `req` asks for from it, in one request (v2 `want-ref`), or undefined when the
   * server does not offer ref-in-want (then nothing is sent). A ref the server does not have is its error.
   */
  async fetchRef(ref: string, req: Omit<FetchRequest, 'wants' | 'wantRefs'>, opts: CallOptions = {}): Promise<{ oid: string; objects: PackObject[] } | undefined> {
    if (!this.uploadCaps) await this.discoverUploadPack(opts.signal);
    const { version, capabilities } = this.uploadCaps!;
    if (version !== 2 || !offersRefInWant(capabilities)) return undefined;
    const info = await this.fetchPack({ ...req, wants: [], wantRefs: [ref] }, opts);
    try {
      const oid = info.wantedRefs.get(ref);
      if (oid === undefined) throw new ProtocolError('unexpected-response', `fetch: no wanted-ref line for ${ref}`);
      const objects: PackObject[] = [];
      for await (const obj of readPack(info.pack, this.packLimits)) objects.push(obj);
      return { oid, objects };
    } finally {
      info.close();
    }
  }

  /** Fetches the wanted objects; yields the objects of the pack the server returns (`reader` overrides the limits). */
  async *fetch(req: FetchRequest, opts: CallOptions & { reader?: PackReaderOptions } = {}): AsyncGenerator<PackObject> {
    const info = await this.fetchPack(req, opts);
    try {
      yield* readPack(info.pack, { ...this.packLimits, ...definedOnly(opts.reader ?? {}) });
    } finally {
      info.close();
    }
  }

  /** Lower level fetch: the raw pack stream plus what the server was asked for and its shallow list. */
  async fetchPack(req: FetchRequest, opts: CallOptions = {}): Promise<FetchInfo> {
    if (!this.uploadCaps) await this.discoverUploadPack(opts.signal);
    const { version, capabilities } = this.uploadCaps!;
    const plan = version === 2 ? planFetchV2(capabilities, req) : planFetchV0(capabilities, req);
    const body = version === 2 ? fetchRequestV2(capabilities, req, plan) : fetchRequestV0(capabilities, req, plan);
    const trace = this.tracer?.exchange(UPLOAD);
    const res = await this.post(UPLOAD, body, version === 2, opts.signal, trace);
    // The sections before the pack are bounded here; the pack itself by the pack reader's limits.
    const limited = limitBytes(res.body, this.maxResponseBytes, 'fetch response before the pack');
    const reader = new PktReader(limited, trace?.received);
    try {
      const parsed = version === 2
        ? await readFetchResponseV2(reader, this.onProgress)
        : await readFetchResponseV0(reader, sidebandCapability(capabilities) !== undefined, this.onProgress);
      limited.lift();
      return { plan, shallow: parsed.shallow, wantedRefs: parsed.wantedRefs, pack: parsed.pack, close: () => res.dispose() };
    } catch (err) {
      res.dispose();
      throw err;
    }
  }

  /** GET info/refs?service=git-receive-pack: the refs as the push side sees them; caches its capabilities. */
  async advertiseReceivePack(opts: CallOptions = {}): Promise<RefList> {
    const adv = await this.infoRefs(RECEIVE, false, opts.signal);
    if (adv.version === 2) throw new ProtocolError('unsupported', 'server offers receive-pack only in protocol v2');
    this.receiveCaps = adv.refs.capabilities;
    return adv.refs;
  }

  /**
   * Sends ref updates (each with the old id the server must still have: a compare-and-swap checked under the
   * server's ref lock) and the pack. `pack` may be null when no update needs objects the server lacks (an
   * empty pack is sent then); it is not read at all when every update is a delete.
   */
  async push(updates: PushUpdate[], pack: AsyncIterable<Uint8Array> | null, opts: { atomic?: boolean } & CallOptions = {}): Promise<PushResult> {
    if (!this.receiveCaps) await this.advertiseReceivePack(opts);
    const { head, sideband } = pushCommands(this.receiveCaps!, updates, opts);
    const trace = this.tracer?.exchange(RECEIVE);
    if (trace) decodePkts(head, trace.sent);
    const body = needsPack(updates) ? withPack(head, pack ?? [emptyPack()], trace?.sent) : head;
    const res = await this.http.post(RECEIVE, body, {
      headers: { 'content-type': `application/x-${RECEIVE}-request`, accept: `application/x-${RECEIVE}-result` },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    try {
      expectType(res, `application/x-${RECEIVE}-result`);
      const limited = limitBytes(res.body, this.maxResponseBytes, 'receive-pack response');
      return await readPushResponse(new PktReader(limited, trace?.received), sideband, updates);
    } finally {
      res.dispose();
    }
  }

  async close(): Promise<void> {
    this.tracer?.close();
    await this.http.close();
  }

  private async discoverUploadPack(signal?: AbortSignal): Promise<InfoRefs> {
    const adv = await this.infoRefs(UPLOAD, this.protocol === 2, signal);
    this.uploadCaps = adv.version === 2
      ? { version: 2, capabilities: adv.capabilities }
      : { version: 0, capabilities: adv.refs.capabilities };
    return adv;
  }

  private async infoRefs(service: string, v2: boolean, signal?: AbortSignal): Promise<InfoRefs> {
    const res = await this.http.get(`info/refs?service=${service}`, {
      headers: { accept: '*/*', 'cache-control': 'no-cache', pragma: 'no-cache', ...(v2 ? { 'git-protocol': 'version=2' } : {}) },
      ...(signal ? { signal } : {}),
    });
    try {
      // A dumb server (or an HTML error page) answers with another type; we only speak the smart protocol.
      expectType(res, `application/x-${service}-advertisement`, 'bad-advertisement');
      const body = await readAllLimited(res.body, this.maxResponseBytes, 'info/refs advertisement');
      return parseInfoRefs(decodePkts(body, this.tracer?.exchange(service).received), service);
    } finally {
      res.dispose();
    }
  }

  private async post(service: string, body: Buffer, v2: boolean, signal?: AbortSignal, trace?: PacketExchange): Promise<HttpResponse> {
    if (trace) decodePkts(body, trace.sent);
    const res = await this.http.post(service, body, {
      headers: {
        'content-type': `application/x-${service}-request`,
        accept: `application/x-${service}-result`,
        ...(v2 ? { 'git-protocol': 'version=2' } : {}),
      },
      ...(signal ? { signal } : {}),
    });
    try {
      expectType(res, `application/x-${service}-result`);
    } catch (err) {
      res.dispose();
      throw err;
    }
    return res;
  }
}

function expectType(res: HttpResponse, type: string, code = 'unexpected-response'): void {
  if (res.contentType !== type) {
    throw new ProtocolError(code, `expected Content-Type ${type}, got ${JSON.stringify(res.contentType)}`);
  }
}

async function* withPack(
  head: Buffer,
  pack: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  trace?: PktObserver,
): AsyncGenerator<Uint8Array> {
  yield head;
  for await (const chunk of pack) {
    trace?.raw(chunk);
    yield chunk;
  }
  trace?.end();
}

/** Servers may send more than the prefixes asked for (and v0 sends everything): filter here. */
function filterRefs(list: RefList, prefixes?: string[]): RefList {
  if (!prefixes || prefixes.length === 0) return list;
  const keep = (name: string) => prefixes.some((p) => name.startsWith(p));
  const pick = (m: Map<string, string>) => new Map([...m].filter(([name]) => keep(name)));
  return { refs: pick(list.refs), symrefs: pick(list.symrefs), peeled: pick(list.peeled), capabilities: list.capabilities };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type { FetchStrategy } from './capabilities.js';
