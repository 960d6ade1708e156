// `netbranch ARGS` (cli/main.ts) with one fault injected, for test/cli-actor-lost.test.ts: once the router's
// actors are ready, its lookup actor crashes, and this process's main thread takes the actor's `--api unix:PATH`
// before the supervisor restarts it, as another process could. The restarts then fail at start-up.
import { createServer } from 'node:net';
import { rmSync } from 'node:fs';
import { Supervisor } from '../../actors/runtime/supervisor.js';
import { main } from '../../cli/main.js';

const args = process.argv.slice(2);
const api = args[args.indexOf('--api') + 1];
if (!api?.startsWith('unix:')) throw new Error('router-lookup-crash: give --api unix:PATH');
const path = api.slice('unix:'.length);

const ready = Supervisor.prototype.ready;
Supervisor.prototype.ready = async function (this: Supervisor) {
  await ready.call(this);
  const lookup = this.actors.find((a) => a.name === 'lookup');
  if (!lookup?.worker) return;
  this.once('down', () => {
    rmSync(path, { force: true });
    createServer().listen(path).unref();
  });
  setTimeout(() => void lookup.worker?.terminate(), 300).unref(); // after the ready line
};

process.exitCode = await main(args);
