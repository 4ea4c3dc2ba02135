// Everything observable, in order, with timestamps: what tests and benchmarks assert on.
import { nowMs } from './clock.js';
import type { TimelineEntry, TimelineEntryOf, TimelineKind } from './types.js';

// Distributes Omit over the union so each entry keeps its own fields.
type WithoutAt<T> = T extends unknown ? Omit<T, 'atMs'> : never;
export type TimelineInput = WithoutAt<TimelineEntry> & { atMs?: number };

type Listener = (entry: TimelineEntry) => void;

export class Timeline {
  readonly entries: TimelineEntry[] = [];
  private readonly listeners = new Set<Listener>();

  record(input: TimelineInput): TimelineEntry {
    const entry = { ...input, atMs: input.atMs ?? nowMs() } as TimelineEntry;
    this.entries.push(entry);
    for (const listener of this.listeners) listener(entry);
    return entry;
  }

  of<K extends TimelineKind>(kind: K): TimelineEntryOf<K>[] {
    return this.entries.filter((e): e is TimelineEntryOf<K> => e.kind === kind);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first entry (already recorded or future) of `kind` matching `predicate`. */
  waitFor<K extends TimelineKind>(
    kind: K,
    predicate: (entry: TimelineEntryOf<K>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<TimelineEntryOf<K>> {
    const existing = this.of(kind).find(predicate);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new Error(`timeline: no '${kind}' entry matched within ${timeoutMs} ms`));
      }, timeoutMs);
      const unsubscribe = this.subscribe((entry) => {
        if (entry.kind === kind && predicate(entry as TimelineEntryOf<K>)) {
          clearTimeout(timer);
          unsubscribe();
          resolve(entry as TimelineEntryOf<K>);
        }
      });
    });
  }
}
