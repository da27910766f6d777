import { GetObjectCommand, paginateListObjectsV2, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { LifelineError } from '../errors.js';
import { ValidationReport } from '../restore/state.js';
import { storage, writeOnce } from '../vault/backups.js';
import { DatabaseLabel } from '../vault/keys.js';

/** What a restore drill stores in the vault and prints: its verdict and why, the backup it restored, and the checks. */

/** The vault prefix of every drill report; its lifecycle rule is the vault's DRILL_REPORT_DAYS. */
export const DRILLS_PREFIX = 'drills/';

/** How long the vault keeps a drill report: five quarterly drills, so a year of them is always there. */
export const DRILL_REPORT_DAYS = 400;

/** The most drift lines a report carries (it travels through the workflow's state); `lifeline diff` prints them all. */
export const MAX_DRIFT_LINES = 100;

export const DRILL_VERDICTS = ['PASSED', 'FAILED', 'TIMED_OUT'] as const;
export const DrillVerdict = z.enum(DRILL_VERDICTS);
export type DrillVerdict = z.infer<typeof DrillVerdict>;

export const DrillReport = z.strictObject({
  reportVersion: z.literal(1),
  database: DatabaseLabel,
  /** The drill execution's ARN (or a local run's name). */
  execution: z.string().min(1),
  verdict: DrillVerdict,
  /** One paragraph: what passed, or what failed and where. */
  reason: z.string(),
  backup: z
    .strictObject({
      key: z.string(),
      tier: z.string(),
      takenAt: z.iso.datetime(),
      bytes: z.number().int().nonnegative(),
      /** The source server's version, as the manifest records it; null where the manifest could not be read. */
      serverVersion: z.string().nullable(),
    })
    .nullable(),
  /** The throwaway server the backup was restored into (`postgres (PostgreSQL) 15.4`), or null when none started. */
  server: z.string().nullable(),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  /** The restore's time (download, checksum, pg_restore), null when it did not finish. */
  restoreSeconds: z.number().nonnegative().nullable(),
  /** restoreSeconds per GiB of the stored (compressed) archive: what the next restore of this database can expect. */
  restoreSecondsPerGiB: z.number().nonnegative().nullable(),
  /** The restored database's checks, as a restore's validation reports them; null when the restore did not finish. */
  validation: ValidationReport.omit({ timing: true }).nullable(),
  /** What was done with the throwaway server: stopped and removed, or why not. */
  teardown: z.string().nullable(),
  /**
   * Schema and row drift from the backup the previous drill of the database restored to this one's (drift/), as
   * `lifeline diff <fromKey> <toKey>` prints it, cut to MAX_DRIFT_LINES; null for the first drill or the same backup.
   */
  drift: z
    .strictObject({
      previousExecution: z.string(),
      fromKey: z.string(),
      toKey: z.string(),
      lines: z.array(z.string()).max(MAX_DRIFT_LINES + 1),
    })
    .nullable()
    .default(null),
});
export type DrillReport = z.infer<typeof DrillReport>;

/** `20261123T105037.123Z`, as backup keys are stamped. */
const stamp = (at: Date) => at.toISOString().replace(/[-:]/g, '');

/**
 * `drills/<database>/<YYYY>/<MM>/<DD>/<UTC stamp>-<execution name>.json`, dated by the drill's start: one key per
 * execution, fixed before it runs, so that the runner and the workflow's last step write one report between them.
 */
export function drillReportKey(database: string, startedAt: Date, executionName: string): string {
  const [date] = startedAt.toISOString().split('T') as [string];
  return `${DRILLS_PREFIX}${database}/${date.replace(/-/g, '/')}/${stamp(startedAt)}-${executionName}.json`;
}

/** Stores a report once: BackupExists when its key already holds one (the vault never replaces an object). */
export async function writeDrillReport(s3: S3Client, bucket: string, key: string, report: DrillReport): Promise<void> {
  await storage(`writing s3://${bucket}/${key}`, () =>
    s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(DrillReport.parse(report), null, 2),
        ContentType: 'application/json',
        ...writeOnce(undefined),
      }),
    ),
  );
}

/** The report stored under `key`, or undefined when there is none; VerificationFailed for one that is not a report. */
export async function readDrillReport(s3: S3Client, bucket: string, key: string): Promise<DrillReport | undefined> {
  const text = await storage(`reading s3://${bucket}/${key}`, async () => {
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return await object.Body!.transformToString();
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') return undefined;
      throw error;
    }
  });
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = DrillReport.safeParse(json);
  if (!parsed.success) throw new LifelineError('VerificationFailed', `s3://${bucket}/${key} is not a drill report`);
  return parsed.data;
}

/** The database's report keys, newest first. */
export async function drillReportKeys(s3: S3Client, bucket: string, database: string): Promise<string[]> {
  const keys: string[] = [];
  const prefix = `${DRILLS_PREFIX}${database}/`;
  await storage(`listing s3://${bucket}/${prefix}`, async () => {
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
      for (const { Key } of page.Contents ?? []) if (Key?.endsWith('.json')) keys.push(Key);
    }
  });
  return keys.sort().reverse();
}

/** The newest report of the database whose verdict is PASSED, or undefined when no drill of it has passed. */
export async function latestPassedDrill(s3: S3Client, bucket: string, database: string): Promise<DrillReport | undefined> {
  for (const key of await drillReportKeys(s3, bucket, database)) {
    const report = await readDrillReport(s3, bucket, key).catch(() => undefined);
    if (report?.verdict === 'PASSED') return report;
  }
  return undefined;
}

/** The newest stored report of the database that restored a backup, other than `execution`'s: the previous drill. */
export async function previousDrill(s3: S3Client, bucket: string, database: string, execution: string): Promise<DrillReport | undefined> {
  for (const key of await drillReportKeys(s3, bucket, database)) {
    const report = await readDrillReport(s3, bucket, key).catch(() => undefined);
    if (report && report.execution !== execution && report.backup) return report;
  }
  return undefined;
}
