import { z } from 'zod';

/** The human decision a `.waitForTaskToken` task is answered with (SendTaskSuccess output), in every workflow that asks one. */
export const ApprovalDecision = z.strictObject({
  /** The approver's AWS identity (STS caller ARN), or the local operator in a rehearsal. */
  approver: z.string().min(1),
  comment: z.string().max(1000).nullable(),
  decidedAt: z.iso.datetime({ offset: true }),
});
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;
