import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * A deploy-time value of `scope`'s stack as text: resolved, its joins flattened, and each other part (a reference,
 * an attribute, a pseudo parameter) written by `reference`.
 */
export function deployedText(scope: IConstruct, value: string, reference: (node: Record<string, unknown>) => string): string {
  const flatten = (node: unknown): string => {
    if (typeof node === 'string') return node;
    const value = node as Record<string, unknown>;
    if (Array.isArray(value['Fn::Join'])) {
      const [delimiter, items] = value['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    return reference(value);
  };
  return flatten(Stack.of(scope).resolve(value));
}
