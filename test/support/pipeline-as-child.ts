/**
 * A pipeline started by a process of its own, so that a test can kill that process as a crash would (SIGKILL): one
 * stage, a shell that starts a worker and waits, as pg_restore -j waits for its workers. The stage writes its own and
 * its worker's process ids into the file named by the first argument, then this process waits for ever.
 */
import { startPipeline } from '../../lambdas/core/child-process.js';

const [pids] = process.argv.slice(2);
startPipeline({
  stages: [
    {
      command: 'sh',
      args: ['-c', 'sleep 1000 & echo "$$ $!" > "$1.tmp" && mv "$1.tmp" "$1"; wait', 'stage', pids!],
      env: { PATH: process.env.PATH },
      failure: 'RestoreFailed',
    },
  ],
});
setInterval(() => undefined, 60_000);
