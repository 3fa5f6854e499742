/**
 * Live updates: one EventSource on /v1/events from the newest event at page load, a short feed of
 * recent events, and a debounced "something changed" signal the current view re-renders on.
 */
export type LiveEvent = {
  id: number;
  type: string;
  jobId: string | null;
  at: number;
  data: Record<string, unknown>;
};

const EVENT_TYPES = [
  'job.submitted',
  'job.running',
  'job.completed',
  'job.failed',
  'task.assigned',
  'task.result',
  'task.verified',
  'task.audit-waived',
  'task.disputed',
  'task.completed',
  'task.retry',
  'provider.connected',
  'provider.disconnected',
  'provider.faulted',
];
const FEED_SIZE = 40;
/** Re-render at most this often, so a busy network does not redraw on every event. */
const DEBOUNCE_MS = 400;

/** The newest events first (the overview's feed). */
export const feed: LiveEvent[] = [];

/**
 * Opens the stream and calls `onChange` (debounced) after events, `onState` as it connects/drops.
 * EventSource reconnects by itself and resumes with Last-Event-ID, so nothing is missed.
 * @example connectLive(42, () => rerender(), (s) => indicator(s));
 */
export function connectLive(
  afterId: number,
  onChange: () => void,
  onState: (state: 'live' | 'reconnecting') => void,
): EventSource {
  const source = new EventSource(new URL(`./v1/events?after=${afterId}`, document.baseURI));
  let timer: ReturnType<typeof setTimeout> | undefined;
  source.addEventListener('open', () => onState('live'));
  source.addEventListener('error', () => onState('reconnecting'));
  for (const type of EVENT_TYPES)
    source.addEventListener(type, (e) => {
      const msg = e as MessageEvent<string>;
      const data = JSON.parse(msg.data) as Record<string, unknown> & { jobId?: string | null; at?: number };
      feed.unshift({
        id: Number(msg.lastEventId),
        type,
        jobId: data.jobId ?? null,
        at: data.at ?? Date.now(),
        data,
      });
      feed.length = Math.min(feed.length, FEED_SIZE);
      clearTimeout(timer);
      timer = setTimeout(onChange, DEBOUNCE_MS);
    });
  return source;
}
