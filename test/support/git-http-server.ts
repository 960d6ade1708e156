// A real git server for tests: store/git/git-http-backend.ts (git's own `git http-backend` behind a
// small node http server, what `netbranch git-serve` runs) on loopback, started in-process.
import { startGitHttpServer as start, type GitHttpServer } from '../../store/git/git-http-backend.js';

export { HTTP_BACKEND, initBareRepo, type GitHttpServer } from '../../store/git/git-http-backend.js';

/** Starts serving every repository under `root` on 127.0.0.1 (port 0: the kernel picks one). */
export function startGitHttpServer(root: string, port = 0): Promise<GitHttpServer> {
  return start({ root, port });
}
