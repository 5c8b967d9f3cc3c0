/** Where a feed keeps its cursor between runs. Synchronous or not, as the storage is. */
export interface CursorStore {
  get(key: string): string | null | Promise<string | null>;
  set(key: string, cursor: string): void | Promise<void>;
}

/** Forgets everything when the process ends: a new process starts from the feed's beginning. */
export class MemoryCursorStore implements CursorStore {
  private readonly cursors = new Map<string, string>();

  get(key: string): string | null {
    return this.cursors.get(key) ?? null;
  }

  set(key: string, cursor: string): void {
    this.cursors.set(key, cursor);
  }
}

/** A browser's `localStorage` (or any object with its `getItem`/`setItem`), under a prefix. */
export class LocalStorageCursorStore implements CursorStore {
  constructor(
    private readonly storage: Pick<Storage, "getItem" | "setItem"> = globalThis.localStorage,
    private readonly prefix = "messaging.cursor.",
  ) {}

  get(key: string): string | null {
    return this.storage.getItem(this.prefix + key);
  }

  set(key: string, cursor: string): void {
    this.storage.setItem(this.prefix + key, cursor);
  }
}
