/**
 * The scheduler interface. A scheduler sees providers as capacity (slots, memory, GPU, cached
 * models) and tasks as requirements; the coordinator calls `pick` for each queued task and then
 * tells the scheduler what changed. Later schedulers (learned placement, reputation-aware) implement
 * the same interface and pass the same compliance suite (`schedulerCompliance.ts`).
 */
export type ProviderCapacity = {
  address: string;
  /** Concurrency slots the provider advertised. */
  slots: number;
  memoryMiB: number;
  gpu: boolean;
  /** Content ids the provider already caches (models especially). */
  cached: Iterable<string>;
  /** Slots already in use when the provider is (re)added, e.g. leases that survived a restart. */
  active?: number;
};

export type TaskRequirements = {
  /** Content id of the model the task runs: providers caching it are preferred. */
  model: string;
  minMemoryMiB: number;
  gpu: boolean;
  /** Providers that must not get this task (for example those that already failed it). */
  exclude?: ReadonlySet<string>;
  /**
   * When given, only these providers may get the task (the coordinator asking for one given
   * provider, or for one of its trusted few): a scheduler looks each up instead of searching the
   * fleet, so such a pick costs O(|only|), not O(fleet) as an `exclude` of everyone else would.
   */
  only?: ReadonlySet<string>;
};

export interface Scheduler {
  /** Adds a provider, or replaces its capacity when it reconnects. */
  upsertProvider(provider: ProviderCapacity): void;
  removeProvider(address: string): void;
  /** Picks a provider for the task and reserves one of its slots; undefined when none fits now. */
  pick(task: TaskRequirements): string | undefined;
  /** Frees a slot reserved by `pick` (task finished, failed or its lease expired). */
  release(address: string): void;
  /** Records that a provider now caches (or no longer caches) a blob. */
  setCached(address: string, cid: string, cached: boolean): void;
  /**
   * What a provider caches as far as the scheduler knows (undefined: not in the scheduler); the
   * session reads it to bound the advertised set (MAX_ADVERTISED_CACHE).
   */
  cachedOf?(address: string): ReadonlySet<string> | undefined;
  /** Slots in use on a provider. */
  active(address: string): number;
  /** Total free slots across providers. */
  freeSlots(): number;
  /**
   * Learns from a finished task: `seconds` of measured inference for `model` on `address`.
   * Schedulers that do not learn ignore it.
   */
  observe?(address: string, model: string, seconds: number): void;
}
