/**
 * What a read or write is refused with, given what is at its path: the one rule and the one set of texts
 * both stores use, so that the memory store and the Git store answer the same condition with the same words.
 */
import { StoreError } from './store.js';

/** What is at a path: a file, a directory, another entry (a submodule), or nothing (`blockedBy`: a file above it). */
export type PathState =
  | { kind: 'file' | 'dir' | 'other' }
  | { kind: 'absent'; blockedBy?: string };

export type PathMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** The reason behind every clash of a file with a directory. */
const ONE_KIND = 'a path cannot be both a file and a directory';

/** Nothing is at `path`. */
export function notFound(path: string, detail?: string): StoreError {
  return new StoreError('not-found', `${path} does not exist`, detail);
}

/**
 * The refusal `method` on `path` gets from what is there, or null when it may go ahead: POST needs nothing
 * there and no file above; GET, PUT and DELETE need a file.
 */
export function refusal(method: PathMethod, path: string, state: PathState): StoreError | null {
  if (method === 'POST') {
    switch (state.kind) {
      case 'file':
        return new StoreError('conflict', `${path} already exists`, 'use PUT to replace it');
      case 'dir':
        return new StoreError('conflict', `${path} is a directory`, ONE_KIND);
      case 'other':
        return new StoreError('conflict', `${path} is a submodule`, 'it cannot be written through this API');
      case 'absent':
        if (state.blockedBy === undefined) return null;
        return new StoreError('conflict', `${state.blockedBy} is a file, so ${path} cannot be created below it`, ONE_KIND);
    }
  }
  switch (state.kind) {
    case 'file':
      return null;
    case 'dir':
      return new StoreError('not-found', `${path} is a directory, not a file`);
    case 'other':
      return new StoreError('not-found', `${path} is a submodule, not a file`);
    case 'absent':
      return notFound(path, method === 'PUT' ? 'use POST to create it' : undefined);
  }
}
