import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

/** Any call to AWS from these commands would fail with a connection error, not with the error each test expects. */
const NO_AWS = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:9',
  AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9',
};

describe('the workflow commands refuse a bad request before calling AWS (exit code 2)', () => {
  it('start restore: checks the input with the state machine’s schema and words', async () => {
    const { code, stdout, stderr } = await runCli(['start', 'restore', '--database', 'shop', '--at', 'yesterday', '--jobs', '0'], NO_AWS);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      '\nlifeline: InvalidInput: invalid restore input: at: must be an ISO 8601 time with a zone, such as "2026-11-23T10:50:00Z"; jobs: Too small: expected number to be >=1\n',
    );
  });

  it('approve, reject, status: name what is not an execution ARN', async () => {
    const notAnArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:lifeline-restore';
    for (const args of [
      ['approve', notAnArn],
      ['reject', notAnArn, '--reason', 'wrong backup'],
      ['status', notAnArn],
    ]) {
      const { code, stderr } = await runCli(args, NO_AWS);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toBe(
        `\nlifeline: InvalidInput: "${notAnArn}" is not a Step Functions execution ARN (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)\n`,
      );
    }
  });

  it('run restore: only with --local, and --approve or --reject, not both', async () => {
    const remote = await runCli(['run', 'restore', '--input', 'in.json', '--settings', 'local.json']);
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('lifeline: InvalidInput: --local: is required');
    const both = await runCli([
      'run',
      'restore',
      '--local',
      '--input',
      'in.json',
      '--settings',
      'local.json',
      '--approve',
      '--reject',
      'no',
    ]);
    expect(both.stderr).toContain('lifeline: InvalidInput: --reject: give --approve or --reject, not both');
  });

  it('runner restore: exits with the code that names InvalidInput to the workflow, for a job that is not one', async () => {
    const { code, stdout, stderr } = await runCli(['runner', 'restore'], {
      ...NO_AWS,
      VAULT_BUCKET: 'vault',
      LIFELINE_STAGING_DIR: os.tmpdir(),
      LIFELINE_RESTORE_JOB: '{"key": "daily/shop/x.dump"}',
    });
    expect(code).toBe(10);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^lifeline: InvalidInput: invalid LIFELINE_RESTORE_JOB: serverSecretArn: /);
  });
});
