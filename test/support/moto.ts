/**
 * moto_server (moto 5, Python) on a free loopback port: a real AWS API server for RDS, Secrets Manager and more,
 * with real SDK serialization and error codes. Each test file starts its own and stops it afterwards.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export interface MotoServer {
  /** http://127.0.0.1:<port>, for an SDK client's `endpoint`. */
  endpoint: string;
  /** What every SDK client of it takes: the endpoint, a region and fake credentials (moto checks no signature). */
  clientConfig: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  stop(): Promise<void>;
}

const STARTUP_MS = 30_000;

/** Fails with a clear message when moto_server is not on PATH (`pip install 'moto[server]'`). */
export function assertMotoServer(): void {
  const found = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw new Error("moto_server is not on PATH: these tests need it (pip install 'moto[server]>=5'), see .ci/run");
  }
}

/** Starts moto_server on 127.0.0.1 and an ephemeral port, which it prints once it listens. */
export async function startMoto(): Promise<MotoServer> {
  assertMotoServer();
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`moto_server did not start within ${STARTUP_MS} ms: ${output}`)), STARTUP_MS);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`moto_server exited with ${code}: ${output}`));
    });
  });
  child.stdout?.removeAllListeners('data');
  child.stderr?.removeAllListeners('data');
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    endpoint,
    clientConfig: { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** One EC2 Query API call to moto (no EC2 client in the project's dependencies); returns the response XML. */
export async function ec2Query(endpoint: string, parameters: Record<string, string>): Promise<string> {
  const body = new URLSearchParams({ ...parameters, Version: '2016-11-15' });
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x',
    },
    body,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`EC2 ${parameters.Action} failed: ${text}`);
  return text;
}

/** A VPC with two subnets in moto's EC2, for an RDS subnet group; returns the subnet ids. */
export async function createSubnets(endpoint: string): Promise<string[]> {
  const vpc = /<vpcId>([^<]+)<\/vpcId>/.exec(await ec2Query(endpoint, { Action: 'CreateVpc', CidrBlock: '10.0.0.0/16' }))![1]!;
  const subnets: string[] = [];
  for (const [cidr, zone] of [
    ['10.0.1.0/24', 'us-east-1a'],
    ['10.0.2.0/24', 'us-east-1b'],
  ]) {
    const xml = await ec2Query(endpoint, { Action: 'CreateSubnet', VpcId: vpc, CidrBlock: cidr!, AvailabilityZone: zone! });
    subnets.push(/<subnetId>([^<]+)<\/subnetId>/.exec(xml)![1]!);
  }
  return subnets;
}
