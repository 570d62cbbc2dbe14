// Request counters per repository and service, kept apart from the server so that a counter can
// outlive one listening instance (a restart on the same port keeps counting).
import type { GitService } from './request-path.js';

export interface BackendCounts {
  'info-refs': number;
  'upload-pack': number;
  'receive-pack': number;
  other: number;
  total: number;
}

export function emptyCounts(): BackendCounts {
  return { 'info-refs': 0, 'upload-pack': 0, 'receive-pack': 0, other: 0, total: 0 };
}

/** "r1.git", "/r1.git/" and "r1" name the same repository (http-backend resolves both spellings). */
export function repoKey(repo: string): string {
  return repo.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '');
}

export class RequestCounts {
  private readonly byRepo = new Map<string, BackendCounts>();
  private all = emptyCounts();

  record(repo: string, service: GitService): void {
    const key = repoKey(repo);
    let counts = this.byRepo.get(key);
    if (!counts) {
      counts = emptyCounts();
      this.byRepo.set(key, counts);
    }
    counts[service]++;
    counts.total++;
    this.all[service]++;
    this.all.total++;
  }

  /** A copy of the counts for one repository, or over all repositories when repo is omitted. */
  get(repo?: string): BackendCounts {
    const counts = repo === undefined ? this.all : this.byRepo.get(repoKey(repo));
    return counts ? { ...counts } : emptyCounts();
  }

  reset(): void {
    this.byRepo.clear();
    this.all = emptyCounts();
  }
}
