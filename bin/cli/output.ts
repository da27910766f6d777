/** What the commands print: one JSON object with --json, else lines for a person. */

const MiB = 1024 * 1024;

export function formatBytes(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** Bytes and rate on one refreshing stderr line, only for a person watching a terminal. */
export function progress(json: boolean): ((bytes: number) => void) | undefined {
  if (json || !process.stderr.isTTY) return undefined;
  const started = Date.now();
  let shown = 0;
  return (bytes) => {
    const now = Date.now();
    if (now - shown < 500) return;
    shown = now;
    const rate = bytes / MiB / Math.max((now - started) / 1000, 0.001);
    process.stderr.write(`\r${formatBytes(bytes)} at ${rate.toFixed(1)} MiB/s   `);
  };
}

export function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

export const time = (date: Date | null | undefined) => date?.toISOString() ?? '-';
