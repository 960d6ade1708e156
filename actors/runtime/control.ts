// Control calls between threads over comlink (stats, flush, config): not for the data plane.
import type { MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { comlinkEndpoint } from '../../store/thread.js';


export function exposeControl<T extends object>(api: T, port: MessagePort): void {
  Comlink.expose(api, comlinkEndpoint(port));
}

export function wrapControl<T>(port: MessagePort): Comlink.Remote<T> {
  return Comlink.wrap<T>(comlinkEndpoint(port));
}

export function releaseControl(remote: Comlink.Remote<unknown>): void {
  remote[Comlink.releaseProxy]();
}
