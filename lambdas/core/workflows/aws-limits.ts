/**
 * The limits AWS applies to a workflow's executions, which the local engine (local.ts) applies too, so that a run
 * that would fail in AWS fails on a laptop and in the tests, the same way.
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
 */

/** A state's input or output, a task's result, an execution's input: at most 256 KiB as UTF-8 JSON. */
export const MAX_PAYLOAD_BYTES = 262_144;

/** SNS Publish: a Subject of fewer than 100 characters, printable ASCII on one line. */
export const MAX_SNS_SUBJECT_LENGTH = 99;

/** ECS RunTask: the overrides' JSON, formatting included, at most this many characters. */
export const MAX_ECS_OVERRIDES_LENGTH = 8_192;

/** StartExecution's Name: 1-80 characters, none of whitespace, brackets, wildcards, these specials or control characters. */
const MAX_EXECUTION_NAME_LENGTH = 80;
const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/]/;
const isControl = (character: string) => {
  const code = character.codePointAt(0)!;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
};

export function payloadBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value ?? null), 'utf8');
}

/** Why SNS would refuse `subject` (InvalidParameter), or undefined when it takes it. */
export function snsSubjectProblem(subject: string): string | undefined {
  if (subject.length > MAX_SNS_SUBJECT_LENGTH) return `Subject is ${subject.length} characters; SNS takes fewer than 100`;
  if (!/^[\x20-\x7e]+$/.test(subject)) return 'Subject must be printable ASCII on one line';
  return undefined;
}

/** Why Step Functions would refuse `name` for an execution (InvalidName), or undefined when it takes it. */
export function executionNameProblem(name: string): string | undefined {
  const fits = name.length >= 1 && name.length <= MAX_EXECUTION_NAME_LENGTH && !NAME_FORBIDDEN.test(name) && ![...name].some(isControl);
  return fits
    ? undefined
    : `execution name "${name}" must be 1-80 characters without whitespace, brackets, wildcards, control or special characters`;
}
