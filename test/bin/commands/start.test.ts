import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';
import { startJsonEndpoint, type JsonEndpoint } from '../../support/json-endpoint.js';

const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:lifeline-restore';
const EXECUTION = 'arn:aws:states:us-east-1:000000000000:execution:lifeline-restore:3f2c-refused';
const REFUSAL =
  'database: "billing" is not a configured database of deployment lifeline (its restore group lifeline-restore-1 has no catalog entry for it)';
/** How Step Functions records a Lambda task's failure that no Catch catches (ValidateInput's): Lambda's error JSON as the cause. */
const LAMBDA_ERROR = JSON.stringify({
  errorType: 'InvalidInput',
  errorMessage: REFUSAL,
  trace: [`InvalidInput: ${REFUSAL}`, '    at validateInput (file:///var/task/handler.mjs:1:2)'],
});

/** Credentials and a region, so that a call fails only where its endpoint does. */
const AWS = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

let sfn: JsonEndpoint;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  // An execution of the restore workflow that its first state refused: the input passed the schema, not the catalog.
  sfn = await startJsonEndpoint({
    'AWSStepFunctions.StartExecution': () => ({ executionArn: EXECUTION, startDate: 1795431000 }),
    'AWSStepFunctions.DescribeExecution': () => ({
      executionArn: EXECUTION,
      stateMachineArn: STATE_MACHINE,
      status: 'FAILED',
      startDate: 1795431000,
      stopDate: 1795431001,
      error: 'InvalidInput',
      cause: LAMBDA_ERROR,
    }),
    'AWSStepFunctions.GetExecutionHistory': ({ reverseOrder }: { reverseOrder?: boolean }) => {
      const events = [
        { id: 1, type: 'ExecutionStarted', timestamp: 1795431000 },
        { id: 2, type: 'TaskStateEntered', timestamp: 1795431000, stateEnteredEventDetails: { name: 'ValidateInput' } },
        { id: 3, type: 'LambdaFunctionFailed', timestamp: 1795431001, previousEventId: 2 },
        { id: 4, type: 'ExecutionFailed', timestamp: 1795431001, previousEventId: 3 },
      ];
      return { events: reverseOrder ? events.reverse() : events };
    },
  });
  env = { ...AWS, AWS_ENDPOINT_URL_SFN: sfn.url };
});

afterAll(async () => {
  await sfn.close();
});

describe("a workflow's first state refusing the input, as the CLI prints it", () => {
  it('start restore --wait: lifeline: <its error>: <the message>, not Lambda’s error JSON', async () => {
    const { code, stdout, stderr } = await runCli(
      ['start', 'restore', '--database', 'billing', '--wait', '--state-machine', STATE_MACHINE],
      env,
    );
    expect(code).toBe(1);
    expect(stdout).toContain(`started ${EXECUTION}`);
    expect(stdout).toContain('ValidateInput');
    expect(stderr).toBe(`\nlifeline: InvalidInput: ${REFUSAL}\n`);

    const json = await runCli(['start', 'restore', '--database', 'billing', '--wait', '--state-machine', STATE_MACHINE, '--json'], env);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'FAILED', error: 'InvalidInput', cause: REFUSAL });
  });

  it('status: the error and its message', async () => {
    const { code, stdout } = await runCli(['status', EXECUTION], env);
    expect(code).toBe(0);
    expect(stdout).toContain(`\n  InvalidInput: ${REFUSAL}\n`);
    expect(stdout).not.toContain('errorType');
  });
});
