export * from './errors.js';
export * from './pkt-line.js';
export * from './sideband.js';
export * from './advertisement.js';
export * from './http.js';
export * from './upload-pack.js';
export * from './receive-pack.js';
export * from './response-limit.js';
export { Remote, DEFAULT_REMOTE_LIMITS, type RemoteOptions, type RemoteLimits, type CallOptions, type FetchInfo } from './remote.js';
