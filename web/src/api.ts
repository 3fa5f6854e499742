/**
 * Types of the coordinator's read-only API and one fetch helper. The view types are the wire
 * contract's (src/protocol/http/, docs/protocol.md), imported as types only: the explorer bundle
 * carries none of the coordinator's zod schemas.
 */

/**
 * The job views under the explorer's names.
 * @example const { jobs } = await getJson<JobList>('/v1/jobs');
 */
/**
 * The explorer aggregates.
 * @example const stats = await getJson<Stats>('/v1/stats');
 */
export type {
  AssignmentView as Assignment,
  FaultView as Fault,
  JobAssignments,
  JobVerificationView,
  ProviderHistory,
  Stats,
  TaskVerificationView as TaskVerification,
  VerificationPolicyView as VerificationPolicy,
} from '../../src/protocol/http/explorer.ts';
export type {
  JobList,
  JobStatus,
  JobView as Job,
  JobWithTasks,
  TaskView as Task,
} from '../../src/protocol/http/jobs.ts';
/**
 * The provider views.
 * @example const { providers } = await getJson<ProviderList>('/v1/providers');
 */
export type {
  CapabilityView as Capability,
  ProviderList,
  ProviderView as Provider,
  ReputationView as Reputation,
} from '../../src/protocol/http/providers.ts';
export type { TrainingView, TrainRoundView } from '../../src/protocol/http/training.ts';

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
 * @example const { providers } = await getJson<ProviderList>('/v1/providers');
 */
export async function getJson<T>(path: string, headers: Record<string, string> = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(`.${path}`, document.baseURI), {
      headers: { accept: 'application/json', ...headers },
    });
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

/**
 * URL of a blob download (inputs, outputs, models) by content id, only for a job that opted into
 * public data: a private job's data is readable only by its client and its leased providers
 * (signed requests the explorer cannot make), so the explorer offers no link to it
 * (docs/security.md, "Who can read what").
 *
 * @example blobUrlOf({ public: true }, cid) // 'http://…/v1/blobs/ab…'; undefined for a private job
 */
export function blobUrlOf(spec: { public?: unknown }, cid: string): string | undefined {
  if (spec.public !== true) return undefined;
  return new URL(`./v1/blobs/${encodeURIComponent(cid)}`, document.baseURI).href;
}
