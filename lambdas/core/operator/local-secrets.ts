import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  UpdateSecretVersionStageCommand,
  type DescribeSecretCommandOutput,
  type GetSecretValueCommandOutput,
  type PutSecretValueCommandOutput,
  type UpdateSecretVersionStageCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LifelineError } from '../errors.js';

/**
 * An application's connection secret kept in a file, as a local application reads it (a URL, JSON with DATABASE_URL,
 * or the RDS JSON shape), with Secrets Manager's versions and staging labels kept beside it, so that a local cutover
 * swaps and reverts it exactly as it does a secret in AWS. The file always holds the AWSCURRENT version; a file
 * changed by hand is a new version, made current, as someone else's PutSecretValue would be.
 */

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
const metadata = { $metadata: { httpStatusCode: 200 } };

interface Version {
  value: string;
  stages: string[];
  created: string;
}

/** The versions of one secret file, kept in the state directory (mode 0600: they hold the connections' passwords). */
interface Versions {
  versions: Record<string, Version>;
}

export interface LocalSecretFile {
  /** The stand-in ARN the cutover settings name it by. */
  arn: string;
  /** The file the application reads. */
  file: string;
}

const notFound = (message: string) => new ResourceNotFoundException({ ...metadata, message });

export class LocalSecretStore {
  private readonly files: ReadonlyMap<string, string>;
  private readonly stateDirectory: string;

  /** `stateDirectory` keeps each secret's versions, under its ARN's name. */
  constructor(secrets: readonly LocalSecretFile[], stateDirectory: string) {
    this.files = new Map(secrets.map((s) => [s.arn, s.file]));
    this.stateDirectory = stateDirectory;
  }

  has(arn: string): boolean {
    return this.files.has(arn);
  }

  /** Answers a Secrets Manager command for one of its secrets, in the real API's shape and with its errors. */
  async send(command: unknown): Promise<unknown> {
    const input = (command as { input: { SecretId?: string } }).input;
    const arn = input.SecretId ?? '';
    const file = this.files.get(arn);
    if (file === undefined) throw notFound("Secrets Manager can't find the specified secret.");
    const name = arn.split(':secret:')[1]?.replace(/-\w{6}$/, '');
    const state = await this.load(arn, file);
    const id = (stage: string) => Object.entries(state.versions).find(([, v]) => v.stages.includes(stage))?.[0];
    if (command instanceof GetSecretValueCommand) {
      const { VersionId, VersionStage } = command.input;
      const versionId = VersionId ?? id(VersionStage ?? CURRENT);
      const version = versionId === undefined ? undefined : state.versions[versionId];
      if (!version || versionId === undefined) throw notFound("Secrets Manager can't find the specified secret value.");
      const output: GetSecretValueCommandOutput = {
        ...metadata,
        ARN: arn,
        Name: name,
        VersionId: versionId,
        SecretString: version.value,
        VersionStages: version.stages,
        CreatedDate: new Date(version.created),
      };
      return output;
    }
    if (command instanceof DescribeSecretCommand) {
      const labelled = Object.entries(state.versions).filter(([, v]) => v.stages.length > 0);
      const output: DescribeSecretCommandOutput = {
        ...metadata,
        ARN: arn,
        Name: name,
        VersionIdsToStages: Object.fromEntries(labelled.map(([versionId, v]) => [versionId, v.stages])),
      };
      return output;
    }
    if (command instanceof PutSecretValueCommand) {
      const { SecretString, ClientRequestToken, VersionStages } = command.input;
      if (SecretString === undefined) throw new InvalidParameterException({ ...metadata, message: 'You must provide SecretString.' });
      const versionId = ClientRequestToken ?? randomUUID();
      const existing = state.versions[versionId];
      if (existing) {
        // The same token with the same value is the same request; with another value, it is refused.
        if (existing.value !== SecretString) {
          throw new ResourceExistsException({
            ...metadata,
            message: 'You can’t modify an existing version, you can only create a new version.',
          });
        }
      } else {
        state.versions[versionId] = { value: SecretString, stages: [], created: new Date().toISOString() };
        for (const stage of VersionStages ?? [CURRENT]) moveStage(state, stage, versionId);
        await this.save(arn, file, state);
      }
      const output: PutSecretValueCommandOutput = {
        ...metadata,
        ARN: arn,
        Name: name,
        VersionId: versionId,
        VersionStages: state.versions[versionId]!.stages,
      };
      return output;
    }
    if (command instanceof UpdateSecretVersionStageCommand) {
      const { VersionStage = '', MoveToVersionId, RemoveFromVersionId } = command.input;
      const holder = id(VersionStage);
      if (holder !== undefined && holder !== RemoveFromVersionId && holder !== MoveToVersionId) {
        throw new InvalidParameterException({
          ...metadata,
          message: `The parameter RemoveFromVersionId can't be empty. Staging label ${VersionStage} is currently attached to version ${holder}, so you must explicitly reference that version in RemoveFromVersionId.`,
        });
      }
      if (!MoveToVersionId || !state.versions[MoveToVersionId]) throw notFound("Secrets Manager can't find the specified secret version.");
      moveStage(state, VersionStage, MoveToVersionId);
      await this.save(arn, file, state);
      const output: UpdateSecretVersionStageCommandOutput = { ...metadata, ARN: arn, Name: name };
      return output;
    }
    throw new LifelineError(
      'InvalidConfig',
      `a local secret answers GetSecretValue, DescribeSecret, PutSecretValue and UpdateSecretVersionStage only`,
    );
  }

  private versionsFile(arn: string): string {
    return join(this.stateDirectory, 'secrets', `${arn.split(':secret:')[1]?.replaceAll('/', '_') ?? 'secret'}.json`);
  }

  /** The secret's versions, with the file's content as AWSCURRENT: a file changed by hand is a new version. */
  private async load(arn: string, file: string): Promise<Versions> {
    let value: string;
    try {
      value = await readFile(file, 'utf8');
    } catch (error) {
      throw new LifelineError(
        'SecretUnreadable',
        `the local secret file ${file} cannot be read (${(error as NodeJS.ErrnoException).code}); write the application's connection there (a URL, or JSON with DATABASE_URL)`,
      );
    }
    const text = await readFile(this.versionsFile(arn), 'utf8').catch(() => undefined);
    const state: Versions = text === undefined ? { versions: {} } : (JSON.parse(text) as Versions);
    const current = Object.values(state.versions).find((v) => v.stages.includes(CURRENT));
    if (current?.value !== value) {
      const versionId = randomUUID();
      state.versions[versionId] = { value, stages: [], created: new Date().toISOString() };
      moveStage(state, CURRENT, versionId);
      await this.save(arn, undefined, state);
    }
    return state;
  }

  /** The file first (what the application reads), then the versions: a crash between reads back as a change by hand. */
  private async save(arn: string, file: string | undefined, state: Versions): Promise<void> {
    if (file !== undefined) {
      const current = Object.values(state.versions).find((v) => v.stages.includes(CURRENT))!;
      if ((await readFile(file, 'utf8')) !== current.value) await replaceFile(file, current.value);
    }
    const versions = this.versionsFile(arn);
    await mkdir(dirname(versions), { recursive: true, mode: 0o700 });
    await replaceFile(versions, JSON.stringify(state, null, 2));
  }
}

/** Written whole or not at all, readable by its owner only. */
async function replaceFile(file: string, content: string): Promise<void> {
  const temporary = `${file}.${randomUUID()}.tmp`;
  await writeFile(temporary, content, { mode: 0o600 });
  await rename(temporary, file);
}

/** A staging label to `versionId` from whichever version had it; AWSCURRENT leaves AWSPREVIOUS on the one it left. */
function moveStage(state: Versions, stage: string, versionId: string): void {
  const holder = Object.entries(state.versions).find(([, v]) => v.stages.includes(stage))?.[0];
  if (holder === versionId) return;
  if (stage === CURRENT) {
    for (const version of Object.values(state.versions)) version.stages = version.stages.filter((s) => s !== PREVIOUS);
    if (holder !== undefined) state.versions[holder]!.stages = [...state.versions[holder]!.stages.filter((s) => s !== CURRENT), PREVIOUS];
  } else if (holder !== undefined) {
    state.versions[holder]!.stages = state.versions[holder]!.stages.filter((s) => s !== stage);
  }
  state.versions[versionId]!.stages.push(stage);
}
