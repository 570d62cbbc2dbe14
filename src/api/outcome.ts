/** What one request did, for its log line and metrics (filled in by the handlers as they go). */
export interface Outcome {
  path: string;
  retries: number;
  commit?: string;
  error?: string;
  /** Only requests for resources are API traffic: the reserved paths are left out of request_count. */
  observed: boolean;
}
