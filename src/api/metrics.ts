// The API's metrics: the four series the earlier server exported (its Grafana dashboard relies on these names,
// so they keep its spelling), the process and Node runtime series (process-metrics.ts), and the engine's own
// health as gitrest_* series, fed through the EngineMetrics sink the store and protocol layers call.

import type { ExchangeOutcome, GitService } from '../protocol/observer.js';
import type { EngineMetrics, InDoubtResolution, ObjectCacheStats } from '../store/engine-metrics.js';
import { Counter, Gauge, Histogram, Registry } from './exposition.js';
import { registerProcessMetrics } from './process-metrics.js';

export { METRICS_CONTENT_TYPE } from './exposition.js';

export interface RequestObservation {
  method: string;
  /** HTTP status below 400. */
  ok: boolean;
  /** Retries the backend needed. */
  retries: number;
  seconds: number;
}

/** The methods the API answers; any other is counted as OTHER, so clients cannot create unbounded series. */
const METHOD_LABELS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'OTHER'] as const;
const KNOWN_METHODS = new Set<string>(METHOD_LABELS);
const STATUS_LABELS = ['success', 'error'] as const;
const RETRY_LABELS = ['false', 'true'] as const;
const SERVICES: readonly GitService[] = ['upload-pack', 'receive-pack'];
const OUTCOMES: readonly ExchangeOutcome[] = ['ok', 'http_error', 'transport_error'];
const RESOLUTIONS: readonly InDoubtResolution[] = ['landed', 'not_landed', 'unknown'];
/** Writes per push: 1 when writes come one at a time, up to the write queue's batch size under load. */
const WRITES_BUCKETS = [1, 2, 4, 8, 16, 32, 64];

/**
 * The earlier server's series (server_uptime, request_count, request_duration, retry_count), the process and
 * runtime series, and the engine's gitrest_* series. Every label combination that can occur exists from the
 * start at zero, so a dashboard shows 0 rather than "No data" before the first event.
 */
export class ApiMetrics implements EngineMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter;
  private readonly durations: Histogram;
  private readonly retries: Counter;
  private readonly gitRequests: Histogram;
  private readonly gitBytesSent: Counter;
  private readonly gitBytesReceived: Counter;
  private readonly pushWrites: Histogram;
  private readonly lostRaces: Counter;
  private readonly inDoubt: Counter;
  private readonly notApplied: Counter;
  private readonly cacheHits: Counter;
  private readonly cacheMisses: Counter;
  private readonly cacheBytes: Gauge;

  constructor(startTime: Date = new Date()) {
    const r = this.registry;
    const uptime = r.register(new Gauge('server_uptime', 'Seconds since the server started.', ['start_time']));
    const started = startTime.getTime();
    uptime.set({ start_time: startTime.toISOString() }, () => (Date.now() - started) / 1000);
    this.requests = r.register(new Counter('request_count', 'API requests handled.', ['method', 'status', 'retry']));
    this.durations = r.register(new Histogram('request_duration', 'API request duration in seconds.',
      ['method', 'status', 'retry']));
    this.retries = r.register(new Counter('retry_count', 'Retries the storage backend needed.', ['method', 'status']));
    for (const method of METHOD_LABELS) {
      for (const status of STATUS_LABELS) {
        this.retries.touch({ method, status });
        for (const retry of RETRY_LABELS) {
          this.requests.touch({ method, status, retry });
          this.durations.touch({ method, status, retry });
        }
      }
    }

    registerProcessMetrics(r);

    this.gitRequests = r.register(new Histogram('gitrest_git_request_duration_seconds',
      'Requests to the Git host by service and outcome, from sending to the end of the response.',
      ['service', 'outcome']));
    this.gitBytesSent = r.register(new Counter('gitrest_git_sent_bytes_total',
      'Request body bytes sent to the Git host.', ['service']));
    this.gitBytesReceived = r.register(new Counter('gitrest_git_received_bytes_total',
      'Response body bytes received from the Git host.', ['service']));
    for (const service of SERVICES) {
      this.gitBytesSent.touch({ service });
      this.gitBytesReceived.touch({ service });
      for (const outcome of OUTCOMES) this.gitRequests.touch({ service, outcome });
    }
    this.pushWrites = r.register(new Histogram('gitrest_push_writes',
      'Writes carried by each accepted push (one commit each: writes that waited are committed together).', [],
      WRITES_BUCKETS));
    this.pushWrites.touch();
    this.lostRaces = r.register(new Counter('gitrest_push_lost_races_total',
      'Pushes refused because the branch had moved since it was read.'));
    this.lostRaces.touch();
    this.inDoubt = r.register(new Counter('gitrest_push_in_doubt_total',
      'Readings back of the branch after a push without a clear answer, by what they found.', ['resolution']));
    for (const resolution of RESOLUTIONS) this.inDoubt.touch({ resolution });
    this.notApplied = r.register(new Counter('gitrest_push_not_applied_total',
      'Pushes the Git host reported accepted that the branch does not hold, by when that was found.', ['when']));
    for (const when of ['verified', 'later']) this.notApplied.touch({ when });
    this.cacheHits = r.register(new Counter('gitrest_object_cache_hits_total', 'Object cache lookups that hit.'));
    this.cacheMisses = r.register(new Counter('gitrest_object_cache_misses_total', 'Object cache lookups that missed.'));
    this.cacheBytes = r.register(new Gauge('gitrest_object_cache_bytes', 'Bytes held by the object cache.'));
  }

  observe(o: RequestObservation): void {
    const method = KNOWN_METHODS.has(o.method) ? o.method : 'OTHER';
    const status = o.ok ? 'success' : 'error';
    const labels = { method, status, retry: o.retries > 0 ? 'true' : 'false' };
    this.requests.inc(labels);
    this.durations.observe(labels, o.seconds);
    if (o.retries > 0) this.retries.inc({ method, status }, o.retries);
  }

  exchange(service: GitService, outcome: ExchangeOutcome, seconds: number): void {
    this.gitRequests.observe({ service, outcome }, seconds);
  }

  bytes(direction: 'sent' | 'received', service: GitService, n: number): void {
    (direction === 'sent' ? this.gitBytesSent : this.gitBytesReceived).inc({ service }, n);
  }

  pushed(writes: number): void {
    this.pushWrites.observe({}, writes);
  }

  lostRace(): void {
    this.lostRaces.inc();
  }

  pushInDoubt(resolution: InDoubtResolution): void {
    this.inDoubt.inc({ resolution });
  }

  pushNotApplied(when: 'verified' | 'later'): void {
    this.notApplied.inc({ when });
  }

  objectCache(read: () => ObjectCacheStats): void {
    this.cacheHits.readFrom({}, () => read().hits);
    this.cacheMisses.readFrom({}, () => read().misses);
    this.cacheBytes.set({}, () => read().bytes);
  }

  render(): string {
    return this.registry.render();
  }
}
