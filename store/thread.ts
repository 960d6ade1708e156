// Starts a worker thread from a module URL. Compiled code (.js) runs as is; under tsx (tests,
// benchmarks) Node 20 cannot load a .ts worker entry, so a one-line bootstrap registers tsx first.
import { createRequire } from 'node:module';
import { Worker, type MessagePort, type WorkerOptions } from 'node:worker_threads';
import type { Endpoint } from 'comlink';

export function startThread(moduleUrl: URL | string, options: WorkerOptions = {}): Worker {
  const href = typeof moduleUrl === 'string' ? moduleUrl : moduleUrl.href;
  if (!href.endsWith('.ts')) return new Worker(new URL(href), options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(href)}); });`;
  return new Worker(boot, { ...options, eval: true });
}

/** The URL of a sibling module, with the extension the caller itself was loaded with (.ts or .js). */
export function siblingModule(callerUrl: string, stem: string): URL {
  const ext = callerUrl.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`${stem}${ext}`, callerUrl);
}

// comlink's node adapter does not type-check under NodeNext (FINDINGS); load it through require.
const nodeAdapter = createRequire(import.meta.url)('comlink/dist/umd/node-adapter.js') as (port: MessagePort | Worker) => Endpoint;

/** A thread's port (or the Worker itself) as an endpoint comlink can expose or wrap an object on. */
export function comlinkEndpoint(port: MessagePort | Worker): Endpoint {
  return nodeAdapter(port);
}
