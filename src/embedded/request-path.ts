// Pure routing of a smart-HTTP request path: which Git service it addresses and in which repository.

export type GitService = 'info-refs' | 'upload-pack' | 'receive-pack' | 'other';

export interface RoutedRequest {
  service: GitService;
  /** Repository path relative to the project root, as the client spelled it (e.g. "r1.git" or "team/r1"). */
  repo: string;
}

/** Decodes the path part of a request target into a CGI PATH_INFO, or null when it is unusable. */
export function decodePathInfo(rawPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (!path.startsWith('/') || path.includes('\0')) return null;
  // A ".." segment could escape GIT_PROJECT_ROOT; backslashes count as separators for safety.
  if (path.split(/[/\\]/).some((segment) => segment === '..')) return null;
  return path;
}

// Paths git itself requests under a repository: smart services and the dumb-protocol files.
const REPO_SUFFIX = /^\/(.+?)\/(?:info\/refs|git-upload-pack|git-receive-pack|HEAD|objects\/.+)$/;

export function routeRequest(method: string, pathInfo: string): RoutedRequest {
  const match = REPO_SUFFIX.exec(pathInfo);
  const repo = match ? match[1]! : pathInfo.replace(/^\/+/, '');
  let service: GitService = 'other';
  if (method === 'GET' && pathInfo.endsWith('/info/refs')) service = 'info-refs';
  else if (method === 'POST' && pathInfo.endsWith('/git-upload-pack')) service = 'upload-pack';
  else if (method === 'POST' && pathInfo.endsWith('/git-receive-pack')) service = 'receive-pack';
  return { service, repo };
}
