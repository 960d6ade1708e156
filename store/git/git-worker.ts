// The git repository on its own thread: hashing, deflating and file writes never share a thread
// with merges or packets. GitStore calls it over comlink.
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { comlinkEndpoint } from '../thread.js';
import { GitRepo } from './git-repo.js';


const { dir, opts } = workerData as { dir: string; opts: ConstructorParameters<typeof GitRepo>[1] };
Comlink.expose(new GitRepo(dir, opts), comlinkEndpoint(parentPort!));
