import { paginateLookupEvents, type CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { LifelineError } from '../errors.js';

/**
 * Who started an execution, as AWS authenticated the call: CloudTrail's StartExecution event whose response names the
 * execution (its userIdentity.arn). Step Functions itself keeps no caller. A run started by Lifeline (a schedule, an
 * alarm, a restore handing over to cutover) names Lifeline's role session, never a person's, so anyone may approve it.
 */

/** CloudTrail records a call within about 5 minutes (at most 15): StartExecution is looked for around the start. */
const WINDOW_MS = 5 * 60_000;

/** LookupEvents pages read at most (50 events each): the StartExecution calls of ten minutes in a busy account. */
const MAX_PAGES = 40;

interface StartExecutionRecord {
  userIdentity?: { arn?: string; type?: string; invokedBy?: string };
  responseElements?: { executionArn?: string } | null;
}

export async function executionStarter(deps: { sfn: SFNClient; cloudTrail: CloudTrailClient }, executionArn: string): Promise<string> {
  const { startDate } = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
  if (!startDate) throw new LifelineError('InvalidInput', `DescribeExecution of ${executionArn} gave no start date`);
  const pages = paginateLookupEvents(
    { client: deps.cloudTrail },
    {
      LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'StartExecution' }],
      StartTime: new Date(startDate.getTime() - WINDOW_MS),
      EndTime: new Date(startDate.getTime() + WINDOW_MS),
    },
  );
  let read = 0;
  for await (const page of pages) {
    for (const event of page.Events ?? []) {
      const record = parseRecord(event.CloudTrailEvent);
      if (record?.responseElements?.executionArn !== executionArn) continue;
      const starter = record.userIdentity?.arn ?? record.userIdentity?.invokedBy;
      if (starter) return starter;
    }
    read += 1;
    if (read >= MAX_PAGES) break;
  }
  throw new LifelineError(
    'StarterUnknown',
    `CloudTrail does not show yet who started ${executionArn} (it records a call within about 5 minutes, at most 15), and approval.separateDuties needs to know; nothing was decided: approve again in a few minutes`,
  );
}

function parseRecord(text: string | undefined): StartExecutionRecord | undefined {
  try {
    return JSON.parse(text ?? '') as StartExecutionRecord;
  } catch {
    return undefined;
  }
}
