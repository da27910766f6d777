import type { IConstruct } from 'constructs';
import { deployedText } from './deployed-text.js';

/**
 * A resource ARN as cdk-nag names it in a finding id (`Resource::...`): references become `<Name>` or
 * `<Resource.Attribute>`, joins are flattened. Acknowledgments must match these ids exactly.
 */
export function nagResource(scope: IConstruct, arn: string): string {
  const named = deployedText(scope, arn, (node) => {
    if (node.Ref !== undefined) return `<${node.Ref as string}>`;
    if (Array.isArray(node['Fn::GetAtt'])) {
      const [resource, attribute] = node['Fn::GetAtt'] as [string, string];
      return `<${resource}.${attribute}>`;
    }
    return JSON.stringify(node);
  });
  return `Resource::${named}`;
}
