import { DescribeExecutionCommand, GetExecutionHistoryCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { isDeepStrictEqual } from 'node:util';
import { restoreWorkflowName } from '../names.js';
import type { ApprovalDecision } from '../workflows/approval.js';
import type { CutoverInput } from './input.js';

/**
 * Whether the approval a cutover input carries is the one the handing-over execution obtained. Anyone who may start
 * the cutover may write `approval` and `origin` into its input; only the restore and PITR state machines write their
 * own history. The approval is taken when:
 *
 * - `origin.executionArn` names an execution of this deployment's restore or PITR state machine (DescribeExecution's
 *   stateMachineArn, not the ARN's text) that is RUNNING, under this cutover's own name (HandOver names its child after
 *   itself), and
 * - that execution's history holds the HandOver it scheduled: a `states:startExecution` of this cutover's state machine
 *   under this cutover's name, with exactly this input (its application, database, origin and approval).
 *
 * Execution names are unique per state machine, so a cutover started by hand under that name either is the hand-over
 * (the same input, approved) or takes the name first, and then the restore's own start fails (CutoverUnresolved).
 * Anything else, or a Step Functions call that fails, leaves the approval untaken: the cutover asks a person itself.
 */

/** The state machines whose executions hand over to cutover, by workflow. */
export interface HandOverStateMachines {
  restore: readonly string[];
  pitr: readonly string[];
}

/** This deployment's restore and PITR state machines, from the cutover execution's own ARN. */
export function handOverStateMachines(cutoverExecutionArn: string): HandOverStateMachines {
  const match = /^(arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}):execution:(.+)-cutover:[^:]+$/.exec(cutoverExecutionArn);
  if (!match) return { restore: [], pitr: [] };
  const [, prefix, deployment] = match as unknown as [string, string, string];
  const machine = (name: string) => [`${prefix}:stateMachine:${name}`];
  // The PITR workflow's state machine is `<deployment>-pitr` (pitr/state.ts pitrWorkflowName).
  return { restore: machine(restoreWorkflowName(deployment)), pitr: machine(`${deployment}-pitr`) };
}

export interface OriginCheck {
  stepFunctions: SFNClient;
  /** The state machines allowed to hand over; by default this deployment's restore and PITR (handOverStateMachines). */
  stateMachines?: HandOverStateMachines;
}

/** The approval when the handing-over execution vouches for it; else null and the reason, for the question asked instead. */
export async function trustedApproval(
  input: CutoverInput,
  /** The input as the execution received it, compared with what the handing-over execution scheduled. */
  received: unknown,
  execution: { id: string },
  check: OriginCheck | undefined,
): Promise<{ approval: ApprovalDecision | null; distrusted: string | null }> {
  if (!input.approval) return { approval: null, distrusted: null };
  const untaken = (reason: string) => ({ approval: null, distrusted: `The input's approval was not taken: ${reason}.` });
  const origin = input.origin;
  if (!origin || origin.workflow === 'manual' || !origin.executionArn) {
    return untaken('only a restore or PITR execution that hands over may bring one (origin.executionArn)');
  }
  if (!check) return untaken('this cutover cannot read Step Functions executions');
  const name = execution.id.split(':').at(-1);
  // The workflow the origin names must be its state machine's: a PITR's hand-over may name a server no config does.
  const allowed = (check.stateMachines ?? handOverStateMachines(execution.id))[origin.workflow];
  const cutoverStateMachine = execution.id.replace(':execution:', ':stateMachine:').replace(/:[^:]*$/, '');
  try {
    const described = await check.stepFunctions.send(new DescribeExecutionCommand({ executionArn: origin.executionArn }));
    if (!allowed.includes(described.stateMachineArn ?? '')) {
      return untaken(
        `${origin.executionArn} is not an execution of ${allowed.join(' or ') || `this deployment's ${origin.workflow} workflow`}`,
      );
    }
    if (described.status !== 'RUNNING') return untaken(`${origin.executionArn} is ${described.status}, not running`);
    if (described.name !== name) return untaken(`${origin.executionArn} hands over under its own name, not ${name}`);
    let nextToken: string | undefined;
    // The hand-over is among the newest events of an execution that waits for its child: a few pages at most.
    for (let pages = 0; pages < MAX_PAGES; pages += 1) {
      const page = await check.stepFunctions.send(
        new GetExecutionHistoryCommand({
          executionArn: origin.executionArn,
          reverseOrder: true,
          includeExecutionData: true,
          maxResults: 1000,
          nextToken,
        }),
      );
      for (const event of page.events ?? []) {
        const details = event.taskScheduledEventDetails;
        if (event.type !== 'TaskScheduled' || details?.resourceType !== 'states' || !details.resource?.startsWith('startExecution'))
          continue;
        const scheduled = parseJson(details.parameters) as { StateMachineArn?: unknown; Name?: unknown; Input?: unknown } | undefined;
        const scheduledInput = typeof scheduled?.Input === 'string' ? parseJson(scheduled.Input) : scheduled?.Input;
        if (scheduled?.StateMachineArn === cutoverStateMachine && scheduled.Name === name && isDeepStrictEqual(scheduledInput, received)) {
          return { approval: input.approval, distrusted: null };
        }
      }
      nextToken = page.nextToken;
      if (!nextToken) break;
    }
    return untaken(`${origin.executionArn} handed over no cutover with this input`);
  } catch (error) {
    return untaken(`${origin.executionArn} could not be read (${(error as Error).name})`);
  }
}

/** Step Functions keeps at most 25,000 events of an execution. */
const MAX_PAGES = 25;

function parseJson(text: string | undefined): unknown {
  try {
    return JSON.parse(text ?? '');
  } catch {
    return undefined;
  }
}
