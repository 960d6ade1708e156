// Typed store errors: each says what was wrong and where, so a caller can count and report it.

export type StoreErrorCode =
  | 'unknown-table'
  | 'codec'
  | 'base-released'
  | 'unknown-replica'
  | 'bad-delta'
  | 'unknown-commit'
  | 'branch-closed'
  | 'not-a-child';

export class StoreError extends Error {
  constructor(readonly code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export class UnknownTableError extends StoreError {
  constructor(readonly table: string, known: readonly string[]) {
    super('unknown-table', `unknown table '${table}' (known: ${known.join(', ') || 'none'})`);
  }
}

/** A key or value failed its codec; `path` is where (`arp/10.0.0.2` or a field inside it). */
export class CodecError extends StoreError {
  constructor(readonly path: string, readonly codec: string, readonly reason: string) {
    super('codec', `${path ? `${path}: ` : ''}${reason} (${codec})`);
  }
}

/** A delta's base commit is no longer kept, so a three-way merge cannot be computed: resync. */
export class BaseReleasedError extends StoreError {
  constructor(readonly replica: string, readonly base: number, readonly oldestKept: number) {
    super('base-released', `delta from '${replica}' is based on commit ${base}, which was released (oldest kept: ${oldestKept}); take a fresh snapshot`);
  }
}

export class UnknownReplicaError extends StoreError {
  constructor(readonly replica: string) {
    super('unknown-replica', `delta from unknown replica '${replica}' (never attached, or detached); attach it again`);
  }
}

export class BadDeltaError extends StoreError {
  constructor(readonly where: string, reason: string) {
    super('bad-delta', `malformed delta at ${where}: ${reason}`);
  }
}

export class UnknownCommitError extends StoreError {
  constructor(readonly commit: number, readonly branch: string) {
    super('unknown-commit', `commit ${commit} is not (or no longer) in the history of branch '${branch}'`);
  }
}
