// Opening a git-backed primary for a command: a failure to open the repository is a usage error
// (exit 2, one line naming the directory), not a stack trace.
import { type Branch, type Store } from '../store/index.js';
import { GitStore, type GitStoreOptions } from '../store/git/index.js';
import { UsageError } from './usage.js';

export async function openGit(dir: string, store: Store | Branch, opts: GitStoreOptions): Promise<GitStore> {
  const branch = 'main' in store ? store.main : store;
  try {
    return await GitStore.open(dir, branch, opts);
  } catch (err) {
    throw new UsageError(`--store git:${dir}: ${(err as Error).message}`);
  }
}
