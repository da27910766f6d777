import { describe, expect, it } from 'vitest';
import { TierChoice } from '../../lambdas/core/backup/request.js';
import { runCli } from '../support/cli.js';
import { Trigger } from '../../lambdas/core/vault/manifest.js';

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

  it('offers the choices and defaults of its options as the schemas in core define them', async () => {
    const { code, stdout } = await runCli(['backup', '--help']);
    expect(code).toBe(0);
    const help = stdout.replace(/\s+/g, ' ');
    expect(help).toContain(`(choices: ${TierChoice.options.map((tier) => `"${tier}"`).join(', ')}, default: "auto")`);
    expect(help).toContain(`(choices: ${Trigger.options.map((trigger) => `"${trigger}"`).join(', ')}, default: "manual")`);
    expect(help).toContain('--time-zone <zone> IANA time zone whose calendar picks monthly/weekly tiers (default: "UTC")');
  });

  it('names every bad flag, touching nothing (exit code 2)', async () => {
    const restore = await runCli(['restore', '--bucket', 'vault', '--latest', '--at', 'yesterday', '--jobs', '0']);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toBe(
      '\nlifeline: InvalidInput: --at: must be an ISO 8601 time with a zone, such as "2026-11-23T10:50:00Z"; --jobs: Too small: expected number to be >=1\n',
    );
    const backup = await runCli(['backup', '--bucket', 'vault', '--database', '../etc', '--time-zone', 'Mars/Olympus']);
    expect(backup.code).toBe(2);
    expect(backup.stderr).toMatch(
      /--database: must be 1-63 letters.*; --time-zone: must be an IANA time zone such as "Europe\/Berlin", not "Mars\/Olympus"/,
    );
    const selector = await runCli(['restore', '--bucket', 'vault', '--latest', '--key', 'daily/x']);
    expect(selector.stderr).toContain('lifeline: InvalidInput: give exactly one of --key, --latest or --at');
    const database = await runCli(['restore', '--bucket', 'vault', '--latest']);
    expect(database.stderr).toContain('lifeline: InvalidInput: --database: required with --latest and --at');
  });
});
