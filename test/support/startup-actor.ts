// A test actor whose start-up and crashes are scripted by its name (test/supervisor.test.ts):
//   fails-at-start       throws before it is ready, the same way every time (a busy port, say)
//   fails-differently    throws before it is ready, differently each time
//   fails-once           throws before it is ready in incarnation 1 only, then serves
//   crashes-after-ready  is ready, then crashes in incarnation 1 only
//   crashes-then-fails   is ready, then crashes in incarnation 1; from then on fails at start-up like fails-at-start
import { ActorRuntime } from '../../actors/runtime/actor-runtime.js';
import { stackSchema } from '../../actors/host/host-schema.js';

const rt = new ActorRuntime(stackSchema());
const { name, incarnation } = rt.init;
await rt.start({ announce: false });
if (name === 'fails-at-start' || (name === 'crashes-then-fails' && incarnation > 1)) throw new Error('--api-tcp 127.0.0.1:7070: address in use');
if (name === 'fails-differently') throw new Error(`attempt ${incarnation} failed`);
if (name === 'fails-once' && incarnation === 1) throw new Error('not yet');
rt.announce();
if ((name === 'crashes-after-ready' || name === 'crashes-then-fails') && incarnation === 1) setTimeout(() => { throw new Error('crash after ready'); }, 20);
