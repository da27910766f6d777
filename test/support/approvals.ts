import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { localStepFunctions } from '../../lambdas/core/operator/local-aws.js';
import { answerDecisionRequest, type FunctionUrlResult } from '../../lambdas/core/operator/approve-url.js';
import type { DecisionDeps } from '../../lambdas/core/operator/approvals.js';
import { localSeal } from '../../lambdas/core/workflows/approval.js';
import type { CallbackAnswer, CallbackRequest } from '../../lambdas/core/workflows/local.js';

/**
 * Step Functions as the approve function meets it, for executions the local engine runs: their history from the
 * engine's record (local-aws.ts), and SendTaskSuccess/SendTaskFailure answering the waiting task whose token they
 * carry, as the service does (an unknown token is TaskDoesNotExist).
 */
export class ApprovalDesk {
  private readonly waiting = new Map<string, (answer: CallbackAnswer) => void>();
  readonly sfn: SFNClient;

  constructor() {
    const local = localStepFunctions();
    const read = local.send.bind(local) as (command: unknown) => Promise<unknown>;
    const send = (command: unknown): Promise<unknown> => {
      if (command instanceof SendTaskSuccessCommand || command instanceof SendTaskFailureCommand) {
        const { taskToken } = command.input;
        const resolve = this.waiting.get(taskToken!);
        if (!resolve) return Promise.reject(Object.assign(new Error('Task Does Not Exist'), { name: 'TaskDoesNotExist' }));
        this.waiting.delete(taskToken!);
        resolve(
          command instanceof SendTaskSuccessCommand
            ? { output: JSON.parse(command.input.output!) }
            : { error: command.input.error!, cause: command.input.cause! },
        );
        return Promise.resolve({ $metadata: { httpStatusCode: 200 } });
      }
      return read(command);
    };
    this.sfn = Object.assign(local, { send });
  }

  /** The local engine's `answer`: the task waits until a decision is sent for its token. */
  wait(request: CallbackRequest): Promise<CallbackAnswer> {
    return new Promise((resolve) => this.waiting.set(request.token, resolve));
  }

  /**
   * `lifeline approve` or `reject` by `caller`, as the approve function receives it once Lambda authenticated the
   * signed request to its URL: the function URL event (payload 2.0), answered by the function's core.
   */
  decide(
    caller: string,
    body: Record<string, unknown>,
    deps: Partial<Pick<DecisionDeps, 'starterOf' | 'seal'>> = {},
  ): Promise<FunctionUrlResult> {
    const event = {
      version: '2.0',
      rawPath: '/',
      requestContext: {
        authorizer: { iam: { accountId: '000000000000', callerId: 'AROAEXAMPLE:caller', userArn: caller, userId: 'AROAEXAMPLE:caller' } },
        http: { method: 'POST', path: '/' },
      },
      body: JSON.stringify(body),
      isBase64Encoded: false,
    };
    return answerDecisionRequest(event, { sfn: this.sfn, seal: deps.seal ?? localSeal(), starterOf: deps.starterOf });
  }
}
