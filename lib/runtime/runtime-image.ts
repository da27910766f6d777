import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { ClientMajor } from '../config/postgres-clients.js';

const DOCKERFILE = 'lambdas/Dockerfile';

/** The build context: the repository root, found from here whether this runs from lib/ or a compiled dist/lib/. */
function repositoryRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, DOCKERFILE))) return dir;
    if (dirname(dir) === dir) throw new Error(`no ${DOCKERFILE} in any folder above ${here}`);
  }
}

/**
 * Everything the image does not need: kept out of the build context and of the asset hash, so that
 * infrastructure, tests and docs can change without a new image.
 */
const NOT_IN_IMAGE = [
  ...['.*', '**/node_modules', 'cdk.out', 'dist', 'bench', 'lib', 'state-machines/schemas', 'test', 'cdk.json', '*.md'],
  // The runner's CLI (its entry and command modules) is bundled into the image; the CDK app and its config are not.
  ...['bin/*', '!bin/lifeline.ts', '!bin/cli', '!bin/commands'],
];

export interface RuntimeImageProps {
  readonly postgresMajor: ClientMajor;
}

/**
 * The runtime's container image for one PostgreSQL client version, built from lambdas/Dockerfile at deploy time
 * (synth only describes it): every entry point in one image, the backup handler (its default command), the restore
 * and cutover steps handlers, and the CLI the runner tasks run.
 */
export class RuntimeImage extends Construct {
  readonly asset: DockerImageAsset;

  constructor(scope: Construct, id: string, props: RuntimeImageProps) {
    super(scope, id);
    this.asset = new DockerImageAsset(this, 'Asset', {
      directory: repositoryRoot(),
      file: DOCKERFILE,
      buildArgs: { POSTGRES_MAJOR: String(props.postgresMajor) },
      // Built the same on any workstation, an Apple-silicon laptop included.
      platform: Platform.LINUX_AMD64,
      exclude: NOT_IN_IMAGE,
    });
  }

  /** Lambda code that runs this image (the backup handler, or the handler `cmd` names); usable from any stack of the app. */
  code(cmd?: string[]): lambda.DockerImageCode {
    return lambda.DockerImageCode.fromEcr(this.asset.repository, { tagOrDigest: this.asset.imageTag, cmd });
  }
}
