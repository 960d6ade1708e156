// The git repository on its own thread: hashing, deflating and file writes never share a thread
// with merges or packets. GitStore calls it over comlink.
import { createRequire } from 'node:module';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { GitRepo } from './git-repo.js';

const require = createRequire(import.meta.url);
const nodeEndpoint = require('comlink/dist/umd/node-adapter.js') as (port: MessagePort) => Comlink.Endpoint;

const { dir, opts } = workerData as { dir: string; opts: ConstructorParameters<typeof GitRepo>[1] };
Comlink.expose(new GitRepo(dir, opts), nodeEndpoint(parentPort!));
