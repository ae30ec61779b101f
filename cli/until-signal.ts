/** Waiting in the foreground for the operator's Ctrl-C (SIGINT) or a SIGTERM, for commands that serve until stopped. */

/** Resolves with the first SIGINT or SIGTERM; the handlers are removed again, so a second signal acts as usual. */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
