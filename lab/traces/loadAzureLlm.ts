/**
 * Loader for the Azure LLM inference trace (conversation service, about one hour of requests).
 */
import { requireSharedData } from './dataDir.ts';
import { readCsv } from './readCsv.ts';

/** Relative path of the Azure LLM conversation trace under the shared data folder. */
export const AZURE_LLM = 'traces/azure_llm_conv.csv';

/** One inference request. */
export type LlmRequest = { atMs: number; contextTokens: number; generatedTokens: number };

/**
 * Requests sorted by arrival time (milliseconds since the Unix epoch; sub-millisecond digits of
 * the trace's timestamps are dropped).
 *
 * @example
 * const reqs = loadAzureLlm(); // 19,366 requests
 */
export function loadAzureLlm(limit?: number): LlmRequest[] {
  return readCsv(requireSharedData(AZURE_LLM), limit)
    .map((r) => {
      const ts = r.TIMESTAMP ?? '';
      const [whole = '', frac = '0'] = ts.split('.');
      return {
        atMs: Date.parse(`${whole.replace(' ', 'T')}Z`) + Number(`0.${frac}`) * 1000,
        contextTokens: Number(r.ContextTokens),
        generatedTokens: Number(r.GeneratedTokens),
      };
    })
    .sort((a, b) => a.atMs - b.atMs);
}
