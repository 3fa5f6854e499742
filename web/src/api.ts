/** Types of the coordinator's read-only API (docs/protocol.md) and one fetch helper. */

export type Gpu = { name: string; memoryMiB: number };
export type Provider = {
  address: string;
  connected: boolean;
  region: string;
  slots: number;
  active: number;
  hardware: {
    cpuModel: string;
    cpuCores: number;
    memoryBytes: number;
    gpus: Gpu[];
    executionProviders: string[];
  };
  agentVersion: string;
  tasksCompleted: number;
  tasksFailed: number;
  /** Verification (docs/verification.md); absent on a coordinator from before it landed. */
  reputation?: Reputation;
  /** Probability that this provider's next result is audited. */
  auditRate?: number;
  /** Cumulative earnings (ledger), base units; absent until settlement is served (settlement.ts). */
  earnings?: string;
  /** Stake on chain, base units; null when the coordinator runs without a chain. */
  stake?: string | null;
  /** Latest capability proof (docs/verification.md); null before any, absent on older coordinators. */
  capability?: Capability | null;
  firstSeen: number;
  lastSeen: number;
};
/** What the coordinator's capability proofs established about a provider's claimed hardware. */
export type Capability = {
  class: string;
  proven: boolean;
  gpuTrusted: boolean;
  gflops: number | null;
  provenAt: number | null;
  lastOutcome: 'pending' | 'passed' | 'slow' | 'wrong' | 'missed';
  checkedAt: number | null;
  reason: string;
};
export type Reputation = {
  alpha: number;
  beta: number;
  consecutiveValid: number;
  verifiedValid: number;
  faults: number;
  timeouts: number;
  updatedAt: number;
  score: number;
  trusted: boolean;
};
export type VerificationPolicy = { kind: 'none' } | { kind: 'audit' } | { kind: 'redundant'; k: number };
/** How one execution of a task counts: from the verdict, or (task still open) from its log. */
export type ExecutionOutcome =
  | 'valid'
  | 'fault'
  | 'timeout'
  | 'unverified'
  | 'undecided'
  | 'pending'
  | 'revealed'
  | 'abandoned';
export type TaskVerification = {
  taskIndex: number;
  taskId: string;
  policy: VerificationPolicy | null;
  audit: boolean;
  status: 'open' | 'accepted' | 'rejected' | 'disputed';
  verified: boolean | null;
  acceptedFrom: string | null;
  executions: { provider: string; role: string; outcome: ExecutionOutcome }[];
  faults: { provider: string; kind: string; agreeing: string[]; reasons: string[] }[];
  updatedAt: number;
};
export type Fault = {
  taskId: string;
  jobId: string;
  kind: string;
  at: number;
  /** Slash amount, base units, or null when the fault carried no slash entry. */
  slashed: string | null;
  evidence: {
    faultyDigest: string | null;
    acceptedDigest: string | null;
    agreeing: string[];
    digests: Record<string, string>;
    reasons: string[];
  } | null;
};
export type JobStatus = 'queued' | 'running' | 'completed' | 'failed';
export type Job = {
  id: string;
  client: string;
  kind: string;
  status: JobStatus;
  spec: {
    model?: string;
    label?: string | null;
    inputs?: string[];
    deadline?: number;
    verification?: { policy: 'none' | 'audit' | 'redundant'; k?: number };
  };
  tasksTotal: number;
  tasksDone: number;
  error: { code: string; message: string | null } | null;
  createdAt: number;
  updatedAt: number;
};
export type Task = {
  id: string;
  index: number;
  input: string;
  status: 'queued' | 'assigned' | 'completed' | 'failed' | 'cancelled';
  attempts: number;
  output: string | null;
  provider: string | null;
  lastError: string | null;
};
export type Assignment = {
  id: string;
  taskIndex: number;
  provider: string;
  status: 'leased' | 'completed' | 'failed' | 'expired';
  createdAt: number;
  finishedAt: number | null;
  error: { code: string; message: string | null } | null;
};
export type ProviderHistory = {
  address: string;
  faults: Fault[];
  assignments: {
    id: string;
    jobId: string;
    taskIndex: number;
    status: Assignment['status'];
    createdAt: number;
    finishedAt: number | null;
    errorCode: string | null;
  }[];
  sessions: { type: string; at: number; region: string | null; slots: number | null }[];
};
export type Stats = {
  generatedAt: number;
  lastEventId: number;
  providers: { known: number; online: number; classes: { cpu: number; gpu: number } };
  capacity: {
    cpuCores: number;
    memoryBytes: number;
    gpus: number;
    slots: number;
    active: number;
    utilization: number | null;
    gpuModels: { model: string; count: number; memoryMiB: number }[];
  };
  regions: {
    region: string;
    providers: number;
    online: number;
    cpuCores: number;
    gpus: number;
    slots: number;
  }[];
  jobsPerMinute: { start: number; submitted: number; completed: number }[];
  jobs: Record<JobStatus, number>;
  tasks: Record<Task['status'], number>;
  assignments: Record<Assignment['status'], number>;
  verification: {
    tasks: Record<TaskVerification['status'], number>;
    verified: number;
    unverified: number;
    audited: number;
    policies: Record<string, number>;
    faults: { total: number; byKind: Record<string, number> };
    /** Base units. */
    slashed: string;
  };
};

/** Failure to reach the coordinator or a non-2xx answer, with the PLX_ code when it sent one. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/**
 * GETs a JSON document from the coordinator that served this page.
 * @example const { providers } = await getJson<{ providers: Provider[] }>('/v1/providers');
 */
export async function getJson<T>(path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(`.${path}`, document.baseURI), { headers: { accept: 'application/json' } });
  } catch {
    throw new ApiError('The coordinator is unreachable.', null, null);
  }
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as {
      error?: { code?: string; message?: string };
    } | null;
    throw new ApiError(
      body?.error?.message ?? `The coordinator answered ${res.status}.`,
      res.status,
      body?.error?.code ?? null,
    );
  }
  return (await res.json()) as T;
}

/**
 * A document that may not be served: `absent` when the coordinator answers 404 (an endpoint that
 * has not landed yet, or settlement data on a coordinator without a chain), `error` for anything
 * else, so one missing panel never takes its whole page down.
 */
export type Optional<T> =
  | { state: 'ok'; data: T }
  | { state: 'absent' }
  | { state: 'error'; message: string };

/**
 * GETs and checks a document that may be absent (see {@link Optional}).
 * @example const epochs = await getOptional('/v1/epochs', parseEpochs);
 */
export async function getOptional<T>(path: string, parse: (json: unknown) => T): Promise<Optional<T>> {
  try {
    return { state: 'ok', data: parse(await getJson<unknown>(path)) };
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return { state: 'absent' };
    return { state: 'error', message: err instanceof Error ? err.message : String(err) };
  }
}

/** URL of a blob download (inputs, outputs, models) by content id. */
export function blobUrl(cid: string): string {
  return new URL(`./v1/blobs/${encodeURIComponent(cid)}`, document.baseURI).href;
}
