import { constants } from 'node:os';

/**
 * SIGINT or SIGTERM stops the run through its signal, so that it cleans up after itself; a second one ends it at once.
 * The entry makes one and gives it to the commands; it reads which signal stopped the run for the exit code.
 */
export class Interruption {
  #by: 'SIGINT' | 'SIGTERM' | undefined;

  /** The signal that stopped the run, if one did. */
  get by(): 'SIGINT' | 'SIGTERM' | undefined {
    return this.#by;
  }

  /** The run's AbortSignal. Only a command that asks for it handles the signals: the others keep Node's default. */
  signal(): AbortSignal {
    const controller = new AbortController();
    for (const name of ['SIGINT', 'SIGTERM'] as const) {
      process.on(name, () => {
        if (this.#by) process.exit(128 + constants.signals[name]);
        this.#by = name;
        process.stderr.write(`\nlifeline: ${name}: stopping and cleaning up (send it again to quit at once)\n`);
        controller.abort();
      });
    }
    return controller.signal;
  }
}
