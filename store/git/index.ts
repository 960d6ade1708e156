// The git backend: its own entry point, so actor threads that never persist do not load isomorphic-git.
export { GitStore, type GitStoreOptions, type GitStoreStats, type EditOutcome, type PeerSyncOptions, type PeerState, type SyncOutcome, type SyncStatus } from './git-store.js';
export { GitRepo, type GitRepoOptions, type FlushResult, type RepoStats, type PeerDiff } from './git-repo.js';
export { GitRemote, type GitRemoteOptions, type GitRemoteStats, type RemoteFailure, type RemoteResult } from './git-remote.js';
export { readPeer, peerChanges, type PeerChange } from './git-peer.js';
export { entryPath, renderEntry, parseEntry, parseEntryPath } from './git-layout.js';
export { listRejected, REJECTED_BRANCH, type RejectedEntry } from './git-rejected.js';
export { StoreLockedError, LOCK_FILE } from './git-lock.js';
