// What one benchmark run measured (see bench-run.ts), before it is formatted (bench-report.ts).

export type Method = 'POST' | 'GET' | 'PUT' | 'DELETE';
export const METHODS: readonly Method[] = ['POST', 'GET', 'PUT', 'DELETE'];

export interface Samples {
  ms: number[];
  /** Git HTTP requests the operation caused, one entry per sample. */
  roundTrips: number[];
}

export interface SizeResult {
  size: number;
  reps: number;
  ours: Record<Method, Samples>;
  floor: Record<Method, Samples>;
  peakRssBytes?: number;
  /** CPU time of the server process (and its finished children) during the phase. */
  cpuSeconds?: number;
}

export interface WritersResult {
  writers: number;
  seconds: number;
  ok: number;
  errors: number;
  /** receive-pack POSTs seen by the git server (absent against a server given by URL). */
  pushes?: number;
  roundTrips?: number;
  ms: number[];
  peakRssBytes?: number;
  cpuSeconds?: number;
}

export interface RepoResult {
  label: string;
  files: number;
  dirs: number;
  get: Samples;
  put: Samples;
  /** The same reads and writes as raw Git requests (writes on another branch from the same commit). */
  floorGet: Samples;
  floorPut: Samples;
  peakRssBytes?: number;
  cpuSeconds?: number;
}

export interface BenchResult {
  sizes: SizeResult[];
  writers: WritersResult[];
  repos: RepoResult[];
  setup: string[];
  seconds: number;
  /** Set when the server was given by URL: no floor, no round trips, no repository phase. */
  url?: string;
}

export const emptySamples = (): Samples => ({ ms: [], roundTrips: [] });
export const perMethod = (): Record<Method, Samples> => ({
  POST: emptySamples(), GET: emptySamples(), PUT: emptySamples(), DELETE: emptySamples(),
});
