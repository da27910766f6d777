import { MAX_SNS_SUBJECT_LENGTH } from './aws-limits.js';

/**
 * Every notification's subject, as SNS takes it: `Lifeline: <what>` on one line of printable ASCII, cut to 99
 * characters. Names can be long enough (63 for a database, twice in some subjects) that SNS would refuse the publish,
 * and with it the notification or, for an approval, the run; the message itself always says everything.
 */
export function notificationSubject(what: string): string {
  const line = `Lifeline: ${what}`.replace(/\s+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return line.length <= MAX_SNS_SUBJECT_LENGTH ? line : `${line.slice(0, MAX_SNS_SUBJECT_LENGTH - 3)}...`;
}
