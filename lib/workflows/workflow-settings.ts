import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { deployedText } from '../deployed-text.js';

/** The longest values the deploy-time parts of the settings can take, to size them as Lambda and SSM will see them. */
const LONGEST = { partition: 'aws-iso-b', region: 'ap-southeast-5', account: '123456789012', other: `sg-${'f'.repeat(17)}` };

/**
 * A workflow's settings (object or string) as JSON with every deploy-time part (partition, region, account, created
 * ids) at its longest: the most that Lambda's environment or an SSM parameter will have to hold, checked at synth.
 */
export function longestDeployedForm(scope: IConstruct, value: unknown): string {
  const json = typeof value === 'string' ? value : Stack.of(scope).toJsonString(value);
  return deployedText(scope, json, (node) => {
    if (node.Ref === 'AWS::Partition') return LONGEST.partition;
    if (node.Ref === 'AWS::Region') return LONGEST.region;
    if (node.Ref === 'AWS::AccountId') return LONGEST.account;
    return LONGEST.other;
  });
}
