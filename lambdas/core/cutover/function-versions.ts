import { GetAliasCommand, paginateListVersionsByFunction, UpdateAliasCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { LifelineError } from '../errors.js';
import type { Recorded, Side } from './state.js';

/**
 * The application version of Lambda functions invoked through an alias (the application's `lambdaAlias`): Record
 * keeps the version and revision the alias has and resolves the version an input's applicationVersion names; the
 * restart points the alias there, and every way back points it at the recorded version again. Only the function's
 * own published versions are listed (names and numbers), and an alias someone else moved meanwhile is left alone.
 */

export type AliasSwitch = NonNullable<Recorded['functions'][number]['alias']>;

const aliasOf = (name: string, alias: string) => `the alias ${alias} of Lambda function ${name}`;

async function getAlias(lambda: LambdaClient, name: string, alias: string) {
  try {
    return await lambda.send(new GetAliasCommand({ FunctionName: name, Name: alias }));
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
    throw new LifelineError(
      'InvalidConfig',
      `${aliasOf(name, alias)} does not exist (the application's lambdaAlias names the alias its functions are invoked through): ${(error as Error).message}`,
    );
  }
}

/** The function's published versions (not $LATEST), each with its qualified ARN. */
async function publishedVersions(lambda: LambdaClient, name: string): Promise<{ version: number; arn: string }[]> {
  const versions: { version: number; arn: string }[] = [];
  for await (const page of paginateListVersionsByFunction({ client: lambda }, { FunctionName: name })) {
    for (const { Version, FunctionArn } of page.Versions ?? []) {
      if (Version !== undefined && /^\d+$/.test(Version)) versions.push({ version: Number(Version), arn: FunctionArn ?? '' });
    }
  }
  return versions;
}

/**
 * The alias as it is, and the version `version` names for it: "previous", the newest published version below the
 * one the alias points at; a version number, or the function's ARN qualified with it, which must be published.
 */
export async function recordAliasSwitch(lambda: LambdaClient, name: string, alias: string, version: string): Promise<AliasSwitch> {
  const current = await getAlias(lambda, name, alias);
  const where = aliasOf(name, alias);
  // Pointing a weighted alias at one version would end someone's gradual deployment, and its weights could not come back.
  const weights = Object.keys(current.RoutingConfig?.AdditionalVersionWeights ?? {});
  if (weights.length > 0) {
    throw new LifelineError(
      'InvalidInput',
      `applicationVersion: ${where} splits its traffic between versions ${current.FunctionVersion} and ${weights.join(', ')} (a gradual deployment): finish or undo that deployment first`,
    );
  }
  const from = current.FunctionVersion ?? '';
  const published = await publishedVersions(lambda, name);
  let deploy: number | undefined;
  if (version === 'previous') {
    if (!/^\d+$/.test(from)) {
      throw new LifelineError(
        'InvalidInput',
        `applicationVersion: "previous": ${where} points at ${from}, not a published version: name the version to deploy`,
      );
    }
    deploy = published
      .map((v) => v.version)
      .filter((v) => v < Number(from))
      .sort((a, b) => b - a)[0];
    if (deploy === undefined) {
      throw new LifelineError(
        'InvalidInput',
        `applicationVersion: "previous": Lambda function ${name} has no published version before ${from}, the one ${where} points at; name the version to deploy`,
      );
    }
  } else {
    const number = Number(version.slice(version.lastIndexOf(':') + 1));
    // A qualified ARN must be one of this function's own versions' ARNs (same account, region and name).
    deploy = published.find((v) => v.version === number && (!version.startsWith('arn:') || v.arn === version))?.version;
    if (deploy === undefined) {
      throw new LifelineError('InvalidInput', `applicationVersion: ${version} is not a published version of Lambda function ${name}`);
    }
  }
  return { name: alias, version: from, revisionId: current.RevisionId ?? '', deploy: String(deploy) };
}

/**
 * Points the alias at the chosen version (`new`) or back at the recorded one (`old`), idempotently: an alias already
 * there is left as it is. Forward, the alias must be as Record found it (its revision too); back, on the version this
 * cutover pointed it at. Anything else, or a change between reading and updating it (UpdateAlias's RevisionId), is
 * someone else's: AliasMoved, and the alias stays where they put it.
 */
export async function pointAlias(lambda: LambdaClient, name: string, alias: AliasSwitch, side: Side): Promise<void> {
  const [from, to] = side === 'new' ? [alias.version, alias.deploy] : [alias.deploy, alias.version];
  const current = await getAlias(lambda, name, alias.name);
  if (current.FunctionVersion === to) return;
  const expected =
    side === 'new'
      ? `version ${from} (revision ${alias.revisionId}), as this cutover recorded it`
      : `version ${from}, where this cutover pointed it`;
  const moved = (found: string) =>
    new LifelineError(
      'AliasMoved',
      `${aliasOf(name, alias.name)} ${found}, not ${expected}: someone else moved it, and it was left there; ` +
        `point it at the version ${name} should run (version ${alias.version} before the cutover)`,
    );
  const found = `points at version ${current.FunctionVersion} (revision ${current.RevisionId})`;
  if (current.FunctionVersion !== from || (side === 'new' && current.RevisionId !== alias.revisionId)) throw moved(found);
  try {
    await lambda.send(
      new UpdateAliasCommand({ FunctionName: name, Name: alias.name, FunctionVersion: to, RevisionId: current.RevisionId }),
    );
  } catch (error) {
    if ((error as Error).name === 'PreconditionFailedException') throw moved('changed while this cutover pointed it');
    throw error;
  }
}
