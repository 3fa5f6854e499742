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
  firstSeen: number;
  lastSeen: number;
};
export type JobStatus = 'queued' | 'running' | 'completed' | 'failed';
export type Job = {
  id: string;
  client: string;
  kind: string;
  status: JobStatus;
  spec: { model?: string; label?: string | null; inputs?: string[]; deadline?: number };
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
  verification: null;
  prices: null;
  epochs: null;
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

/** URL of a blob download (inputs, outputs, models) by content id. */
export function blobUrl(cid: string): string {
  return new URL(`./v1/blobs/${encodeURIComponent(cid)}`, document.baseURI).href;
}
