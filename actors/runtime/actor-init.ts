// An actor thread's workerData, read once and narrowed to its kind: a worker started with another
// kind's init fails at once with a clear error instead of reading fields that are not there.
import { workerData } from 'node:worker_threads';
import type { ActorInit, ActorInitOf, ActorKind } from './messages.js';

const KINDS: readonly string[] = ['host-packet', 'arp-expiry', 'router-packet', 'router-expiry', 'lookup'] satisfies readonly ActorKind[];

/** This thread's init, whatever its kind (the test actors); with `kind`, this thread's init as that kind. */
export function actorInit(): ActorInit;
export function actorInit<K extends ActorKind>(kind: K): ActorInitOf<K>;
export function actorInit(kind?: ActorKind): ActorInit {
  const init: unknown = workerData;
  if (!isActorInit(init)) throw new Error('not an actor thread: its workerData is no ActorInit (start it with Supervisor.spawn)');
  if (kind !== undefined && init.kind !== kind) throw new Error(`actor ${init.name}: the ${kind} worker was started with an init of kind '${init.kind}'`);
  return init;
}

function isActorInit(v: unknown): v is ActorInit {
  return typeof v === 'object' && v !== null && 'kind' in v && typeof v.kind === 'string' && KINDS.includes(v.kind);
}
