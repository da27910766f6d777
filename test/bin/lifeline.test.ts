import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

/**
 * The CLI's output is for operators and scripts: on the project's Node nothing else may reach it, such as the
 * AWS SDK's warning about an old Node (which the SDK prints on Node 20) or Node's own deprecation warnings.
 */
describe('the lifeline CLI', () => {
  it('prints its help on stdout and nothing on stderr', async () => {
    const { code, stdout, stderr } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: lifeline \[options\] \[command\]\n/);
    expect(stderr).toBe('');
  });

  it('reports an unreachable S3 endpoint with its own error line alone on stderr', async () => {
    const { code, stdout, stderr } = await runCli(['list', '--bucket', 'vault', '--s3-endpoint', 'http://127.0.0.1:9'], {
      // Credentials, so that the request itself is what fails.
      AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^\nlifeline: StorageFailed: listing s3:\/\/vault\/daily\/ failed: [^\n]*ECONNREFUSED[^\n]*\n$/);
  });
});
