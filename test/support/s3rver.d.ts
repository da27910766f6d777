// The parts of s3rver (CommonJS, untyped) the harness uses. S3rver extends Koa.
declare module 's3rver' {
  interface S3rverOptions {
    port?: number;
    address?: string;
    directory?: string;
    silent?: boolean;
  }

  /** The subset of a Koa context the harness middleware reads and writes. */
  interface KoaContext {
    method: string;
    path: string;
    query: Record<string, string | string[] | undefined>;
    status: number;
    type: string;
    body: unknown;
    /** A request header, or '' when absent. */
    get(field: string): string;
    /** s3rver's object store. */
    store: { existsObject(bucket: string, key: string): Promise<boolean> };
  }

  type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

  class S3rver {
    constructor(options: S3rverOptions);
    middleware: KoaMiddleware[];
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
  }

  namespace S3rver {
    export type { KoaContext, KoaMiddleware };
  }

  export = S3rver;
}
