/**
 * How a draining agent knows it is done: nothing runs or waits for its ack, and nothing new came
 * for `quietMs`. An assignment the coordinator leased before it read the agent's `drain` may
 * still be on its way (a lease commits, then its assignment is sent); dropping it left the task
 * leased to an agent that had gone (test/network.test.ts, "SIGTERM drains a provider").
 *
 * @example await waitDrained(() => running.size > 0, 60_000);
 */
export async function waitDrained(busy: () => boolean, timeoutMs: number, quietMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quietSince = 0;
  while (Date.now() < deadline) {
    if (busy()) quietSince = 0;
    else if (quietSince === 0) quietSince = Date.now();
    else if (Date.now() - quietSince >= quietMs) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
