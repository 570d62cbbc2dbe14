export * from './errors.js';
export * from './pkt-line.js';
export * from './sideband.js';
export * from './advertisement.js';
export * from './http.js';
export * from './upload-pack.js';
export * from './receive-pack.js';
export { Remote, type RemoteOptions, type CallOptions, type FetchInfo } from './remote.js';
