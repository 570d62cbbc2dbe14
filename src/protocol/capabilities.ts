// Every capability name the engine sends or reads, and the side-band channels (gitprotocol-capabilities,
// gitprotocol-v2, gitprotocol-pack). Request builders and response readers use these names, never literals,
// so that what the engine speaks can be read in one place.

/** Capability name → value ('' when the capability carries none, e.g. `ofs-delta`). */
export type Capabilities = Map<string, string>;

/**
 * Capabilities of a v0/v1 advertisement (after the NUL of the first ref) and keys of a v2 capability
 * advertisement. Wants of objects other than ref tips (trees, blobs, older commits) need protocol v2 or, in
 * v0, `allow-reachable-sha1-in-want` / `allow-any-sha1-in-want`: see fetchStrategy().
 */
export const CAP = {
  /** v0 upload-pack and receive-pack: 65520-byte side-band packets. */
  SIDE_BAND_64K: 'side-band-64k',
  /** v0: side-band with 1000-byte packets, for servers without side-band-64k. */
  SIDE_BAND: 'side-band',
  /**
   * v0: the pack may delta against objects the client said it has. The engine never sends `have` lines, so a
   * pack can be thin against nothing: asking is always safe, and strict servers refuse a fetch without it.
   */
  THIN_PACK: 'thin-pack',
  /** v0: wants of any object reachable from a ref (`allow-any-sha1-in-want` implies it). */
  ALLOW_REACHABLE_SHA1_IN_WANT: 'allow-reachable-sha1-in-want',
  /** v0: wants of any object the server has. */
  ALLOW_ANY_SHA1_IN_WANT: 'allow-any-sha1-in-want',
  /** Pack entries may be OFS_DELTA (v0 capability, v2 fetch argument). */
  OFS_DELTA: 'ofs-delta',
  /** No progress text on band 2 (v0 capability, v2 fetch argument). */
  NO_PROGRESS: 'no-progress',
  /** `agent=<name>`: sent as AGENT when the server advertises its own. */
  AGENT: 'agent',
  /** v0 upload-pack: the `filter <spec>` request line is understood (v2: a `fetch` feature). */
  FILTER: 'filter',
  /** v0 upload-pack: shallow / `deepen <n>` requests are understood (v2: a `fetch` feature). */
  SHALLOW: 'shallow',
  /** v0: `symref=<from>:<to>`, may repeat. */
  SYMREF: 'symref',
  /** receive-pack: the server answers with report-status (required by the engine). */
  REPORT_STATUS: 'report-status',
  /** receive-pack: a zero new id deletes the ref. */
  DELETE_REFS: 'delete-refs',
  /** receive-pack: all ref updates succeed or none does. */
  ATOMIC: 'atomic',
  /** receive-pack: no progress text from unpacking. */
  QUIET: 'quiet',
} as const;

/** Protocol v2 commands (`command=<name>`, advertised as `<name>[=<features>]`). */
export const COMMAND = {
  LS_REFS: 'ls-refs',
  FETCH: 'fetch',
  /** Sizes of objects by id without fetching them (git advertises it with transfer.advertiseObjectInfo). */
  OBJECT_INFO: 'object-info',
} as const;

/** Protocol v2 command features, listed after `<command>=` in the capability advertisement. */
export const FEATURE = {
  /** ls-refs: lists an unborn HEAD (`unborn HEAD symref-target:...`). */
  UNBORN: 'unborn',
  /** fetch: `filter <spec>` is understood. */
  FILTER: 'filter',
  /** fetch: `deepen <n>` (shallow fetches) is understood. */
  SHALLOW: 'shallow',
  /** fetch: `want-ref <ref>` asks for a ref by name; its id comes back in a `wanted-refs` section. */
  REF_IN_WANT: 'ref-in-want',
  /** object-info: the attribute asking for sizes (the only one defined). */
  SIZE: 'size',
} as const;

/** Side-band channels: the first byte of each multiplexed data pkt. */
export const BAND = {
  DATA: 1,
  PROGRESS: 2,
  ERROR: 3,
} as const;

/** Sent as our `agent=` capability (printable ASCII, no spaces). */
export const AGENT = 'git/gitrest-0.1';

/** `agent=<ours>` when the server advertised `agent` (servers that do not may reject unknown capabilities). */
export function agentCapabilities(caps: Capabilities): string[] {
  return caps.has(CAP.AGENT) ? [`${CAP.AGENT}=${AGENT}`] : [];
}

/** Side-band flavour both ends support (v0), or none. */
export function sidebandCapability(caps: Capabilities): string | undefined {
  if (caps.has(CAP.SIDE_BAND_64K)) return CAP.SIDE_BAND_64K;
  if (caps.has(CAP.SIDE_BAND)) return CAP.SIDE_BAND;
  return undefined;
}

/**
 * How objects can be fetched from a server: `by-id`, any tree or blob by its id (protocol v2, or v0 with an
 * allow-*-sha1-in-want capability); `tip-only`, only ref tips may be wanted, so a tree or blob comes with a
 * fetch of the tip commit that holds it (with `deepen 1` when offered). Filters are an independent choice.
 */
export type FetchStrategy = 'by-id' | 'tip-only';

export function fetchStrategy(version: 0 | 2, caps: Capabilities): FetchStrategy {
  if (version === 2) return 'by-id';
  return caps.has(CAP.ALLOW_REACHABLE_SHA1_IN_WANT) || caps.has(CAP.ALLOW_ANY_SHA1_IN_WANT) ? 'by-id' : 'tip-only';
}
