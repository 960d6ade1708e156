// piscina's worker entry for `netbranch stress` when it runs from source (tests, benchmarks, tsx).
// Node 20 cannot load a .ts file in a worker unless tsx is in the thread's execArgv (`node --import
// tsx` passes it on; `tsx`'s programmatic register() does not), so this plain module registers tsx
// itself and re-exports the task. The compiled build (dist/actors/stress/stress.js) points piscina straight
// at dist/actors/stress/stress-task.js and never loads this file; if a compiled sibling sits next to this
// file anyway, it is used as is.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let loading = null;

async function load() {
  const js = new URL('./stress-task.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return (await import(js.href)).default;
  const api = await import('tsx/esm/api');
  api.register();
  return (await import(new URL('./stress-task.ts', import.meta.url).href)).default;
}

export default async function stressTask(job) {
  loading ??= load();
  return (await loading)(job);
}
