// `netbranch events`: a table's changes as `conntrack -E` prints them, from the API's watch stream:
// `[NEW]` for a key not seen before, `[UPDATE]` for a known key that changed, `[DESTROY]` for a removed
// one (printed with its last value). The watch starts first and the table is listed after it, while the
// changes queue up, so no change falls between the two; `--json` prints one object per event.
import type { Command } from 'commander';
import type { Client } from '../api/client.js';
import type { ChangeEvent } from '../api/protocol.js';
import { CONNTRACK_EVENTS, type ConntrackEvent } from '../actors/router/nat-format.js';
import { apiCommand, followWatch, forwardRules, out, streamBounds, tablesClock, withClient, type ApiFlags, type StreamBounds } from './api-commands.js';
import { formatNatValue, formatValueLine, isForwarded, outsideAddress } from './api-format.js';
import { UsageError } from './usage.js';

type EventsFlags = ApiFlags & { table: string; prefix?: string; event: string; count?: string; seconds?: string };

/**
 * Changes the client holds while the table is listed (a busy router changes thousands of flows a second):
 * past this the client stops reading the socket, and the listing behind the changes would wait for ever.
 */
const SEED_BUFFER = 200_000;
/** Entries per list page while seeding. */
const SEED_PAGE = 10_000;

export function registerEvents(program: Command): void {
  apiCommand(program, 'events', 'a table\'s changes as `conntrack -E` prints them: [NEW], [UPDATE] and [DESTROY] lines until Ctrl-C (or --count, --seconds)',
    ['netbranch events', 'netbranch events --event new,destroy --count 10', 'netbranch events --table arp --seconds 30 --json'])
    .option('--table <table>', 'the table to follow: nat prints conntrack lines, any other table its key and fields', 'nat')
    .option('--prefix <p>', 'only keys starting with this, e.g. udp: or tcp:10.201.0.2:')
    .option('--event <kinds>', `only these events, comma-separated: ${CONNTRACK_EVENTS.join(', ')}`, CONNTRACK_EVENTS.join(','))
    .option('--count <n>', 'stop after this many events (of those printed)')
    .option('--seconds <s>', 'stop after this many seconds')
    .addHelpText('after', `
As conntrack -E: a NEW or UPDATE line has no counters and a DESTROY line has the flow's last counters; none
has mark= or use=. An entry made in the moment between the watch starting and the table being listed is
reported as UPDATE. --json prints {"type":"new","table":…,"key":…,"value":…} per event ("last": the removed
value, for destroy).
`)
    .action((opts: EventsFlags) => {
      const kinds = parseEventKinds(opts.event);
      const bounds = streamBounds(opts);
      return withClient(opts, (c) => followEvents(c, opts, kinds, bounds), { watchBuffer: SEED_BUFFER });
    });
}

/** `--event new,destroy` as event kinds; an unknown name is a usage error naming the valid ones. */
export function parseEventKinds(text: string): Set<ConntrackEvent> {
  const kinds = new Set<ConntrackEvent>();
  for (const name of text.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    if (!(CONNTRACK_EVENTS as readonly string[]).includes(name)) throw new UsageError(`--event: no event '${name}' (events: ${CONNTRACK_EVENTS.join(', ')})`);
    kinds.add(name as ConntrackEvent);
  }
  if (!kinds.size) throw new UsageError('--event: name at least one event, e.g. --event new');
  return kinds;
}

/** One change, classified. `last`: a removed entry's value as it was last seen (undefined: never seen). */
export interface TableEvent { type: ConntrackEvent; key: string; value: unknown; last: unknown }

/** The entries seen so far (the listing, then the stream), which tell NEW from UPDATE and give DESTROY its last value. */
export class KnownEntries {
  private readonly values = new Map<string, unknown>();

  seed(key: string, value: unknown): void {
    this.values.set(key, value);
  }

  classify(key: string, value: unknown): TableEvent {
    const last = this.values.get(key);
    if (value === null || value === undefined) {
      this.values.delete(key);
      return { type: 'destroy', key, value: null, last };
    }
    const type = this.values.has(key) ? 'update' : 'new';
    this.values.set(key, value);
    return { type, key, value, last: undefined };
  }
}

/** How an event prints: nat as a conntrack -E line, any other table `[NEW] arp KEY fields`. */
type EventLine = (ev: TableEvent) => string;

async function followEvents(c: Client, opts: EventsFlags, kinds: Set<ConntrackEvent>, bounds: StreamBounds): Promise<void> {
  const line = opts.json ? undefined : await eventLine(c, opts.table);
  const known = new KnownEntries();
  const w = await c.watch(opts.table, { prefix: opts.prefix });
  const seed = async () => {
    for await (const e of c.listAll(opts.table, { prefix: opts.prefix, pageSize: SEED_PAGE })) known.seed(e.key, e.value);
  };
  await followWatch(w, bounds, (change: ChangeEvent) => {
    const ev = known.classify(change.key, change.value);
    if (!kinds.has(ev.type)) return false;
    out(line ? line(ev) : JSON.stringify({ type: ev.type, table: change.table, key: ev.key, value: ev.value, ...(ev.last !== undefined ? { last: ev.last } : {}) }));
    return true;
  }, seed);
}

/** The printer for `table`: what nat's lines need (the outside address, the port-forward rules, the clock) read once. */
async function eventLine(c: Client, table: string): Promise<EventLine> {
  const now = await tablesClock(c);
  const tag = (type: ConntrackEvent) => `[${type.toUpperCase()}]`.padStart(9);
  if (table !== 'nat') {
    return (ev) => {
      const shown = ev.type === 'destroy' ? ev.last : ev.value;
      return `${tag(ev.type)} ${table} ${ev.key}${shown === undefined ? '' : ` ${formatValueLine(shown, now())}`}`;
    };
  }
  const outsideIp = outsideAddress(c.server ?? await c.hello());
  const rules = await forwardRules(c);
  return (ev) => {
    const flow = ev.type === 'destroy' ? ev.last : ev.value;
    if (flow === undefined) return `${tag(ev.type)} nat ${ev.key}`; // removed before we saw it: only its key is known
    return formatNatValue(flow, now(), { forwarded: isForwarded(flow, rules), outsideIp, event: ev.type });
  };
}
