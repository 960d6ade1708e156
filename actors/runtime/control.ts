// Control calls between threads over comlink (stats, flush, config): not for the data plane.
import { createRequire } from 'node:module';
import type { MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';

// comlink's node adapter does not type-check under NodeNext (FINDINGS); load it through require.
const require = createRequire(import.meta.url);
const nodeEndpoint = require('comlink/dist/umd/node-adapter.js') as (port: MessagePort) => Comlink.Endpoint;

export function exposeControl<T extends object>(api: T, port: MessagePort): void {
  Comlink.expose(api, nodeEndpoint(port));
}

export function wrapControl<T>(port: MessagePort): Comlink.Remote<T> {
  return Comlink.wrap<T>(nodeEndpoint(port));
}

export function releaseControl(remote: Comlink.Remote<unknown>): void {
  remote[Comlink.releaseProxy]();
}
