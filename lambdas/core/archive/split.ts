import { closeSync, openSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { LifelineError } from '../errors.js';

/**
 * A restore reads the archive once, as it arrives (decompressed, in order: pg_dump's header and table of contents,
 * then each entry's data block). `ArchiveSplitter` splits it into:
 * - the head, a file pg_restore reads: the header and table of contents, then only the data blocks pg_restore is to
 *   restore itself (large objects; rows of an archive pg_dump compressed; every block when the restore runs in one
 *   transaction), each one's offset written into its slot of the table of contents, as pg_dump writes into a file
 *   it can seek in (pg_dump writing into a pipe, as every backup's does, leaves them unset);
 * - the rows of the tables a restore loads itself, in segments of whole rows, handed on as they arrive.
 * So a restore stages no more than the table of contents (and those blocks), and its first rows load while the rest
 * still downloads.
 *
 * The rows are not copied out of the bytes that arrive: pg_dump writes a table's rows one chunk a row, each behind a
 * 5-byte length (a sign byte, then 4 bytes least significant first), which is rewritten in place into the 5-byte head
 * of a CopyData message of PostgreSQL's protocol ('d', then the length with itself, most significant first). A
 * segment is then a few slices of those bytes that go to the server as they are (restore/row-loaders.ts).
 */

const MAGIC = 'PGDMP';
/** archCustom in pg_backup.h. */
const CUSTOM_FORMAT = 1;
/** pg_backup_archiver.h: the archive versions whose layout this knows, 1.12 (PostgreSQL 9.2 on) to 1.16 (17). */
const OLDEST_VERSION = version(1, 12);
const NEWEST_VERSION = version(1, 16);
const COMPRESSION_BYTE_FROM = version(1, 15);
const RELKIND_FROM = version(1, 16);
const TABLEAM_FROM = version(1, 14);
/** The offset slot's flag (K_OFFSET_* in pg_backup_archiver.h). */
const OFFSET_NOT_SET = 1;
const OFFSET_SET = 2;
const OFFSET_NO_DATA = 3;
/** Data block types (pg_backup_archiver.h). */
const BLOCK_DATA = 1;
const BLOCK_LARGE_OBJECTS = 3;
const NEWLINE = 0x0a;
/** The integer size whose chunk length is as long as a CopyData message's head, so that one is rewritten into the other. */
const FRAMED_INT_SIZE = 4;
/** A CopyData message's type byte (the frontend protocol's 'd'). */
const COPY_DATA = 0x64;
/** What pg_dump writes as a table's COPY statement; anything else is not loaded from here. */
const COPY_STATEMENT = /^COPY [^;]+ FROM stdin;\s*$/;
/** A table's rows are handed on in segments of whole rows of about this size. */
export const SEGMENT_BYTES = 1024 * 1024;
/** A table of contents larger than this (millions of large objects) is refused rather than held in memory. */
const MAX_TOC_BYTES = 256 * 1024 * 1024;

function version(major: number, minor: number): number {
  return (major * 256 + minor) * 256;
}

/** Thrown when the bytes are not an archive of a layout this knows: the whole archive is then staged for pg_restore. */
class UnknownLayout extends Error {}

/** A cursor over the archive's head, with pg_dump's integer and string encodings (ReadInt, ReadStr). */
class Cursor {
  constructor(
    private readonly bytes: Buffer,
    public position: number,
    private readonly intSize: number,
  ) {}

  byte(): number {
    if (this.position >= this.bytes.length) throw new RangeError('past the bytes read');
    return this.bytes[this.position++]!;
  }

  /** A sign byte, then `intSize` bytes, least significant first. */
  int(): number {
    const negative = this.byte() !== 0;
    let value = 0;
    for (let i = 0; i < this.intSize; i++) value += this.byte() * 2 ** (8 * i);
    return negative ? -value : value;
  }

  /** The bytes of a string (a length, -1 for none, then that many bytes), undefined for none. */
  string(): Buffer | undefined {
    const length = this.int();
    if (length < 0) return undefined;
    if (this.position + length > this.bytes.length) throw new RangeError('past the bytes read');
    this.position += length;
    return this.bytes.subarray(this.position - length, this.position);
  }
}

interface TableOfContents {
  intSize: number;
  offSize: number;
  /** Each data entry's offset slot (flag byte, then offSize bytes) in the head, by dump id. */
  slots: Map<number, number>;
  /** Where the data blocks begin. */
  dataStart: number;
  /** pg_dump compressed the data blocks itself (-Z): their chunks are not rows. */
  compressed: boolean;
  /** The COPY statement of each table's data entry, by dump id. */
  copyStatements: Map<number, string>;
  /** The client encoding the data was dumped in (the ENCODING entry). */
  encoding: string | undefined;
}

/** ReadHead and ReadToc of pg_backup_archiver.c, keeping what splitting the archive needs; RangeError: read more. */
function parseTableOfContents(bytes: Buffer): TableOfContents {
  if (bytes.length < MAGIC.length) throw new RangeError('past the bytes read');
  if (bytes.toString('latin1', 0, MAGIC.length) !== MAGIC) throw new UnknownLayout('not a custom-format archive');
  const head = new Cursor(bytes, MAGIC.length, 0);
  const archiveVersion = version(head.byte(), head.byte()) + head.byte();
  if (archiveVersion < OLDEST_VERSION || archiveVersion >= NEWEST_VERSION + 256) {
    throw new UnknownLayout(`archive version ${archiveVersion >> 16}.${(archiveVersion >> 8) & 255}`);
  }
  const intSize = head.byte();
  const offSize = head.byte();
  if (intSize < 1 || intSize > 6 || offSize < 1 || offSize > 8) throw new UnknownLayout(`integer size ${intSize}, offset size ${offSize}`);
  if (head.byte() !== CUSTOM_FORMAT) throw new UnknownLayout('not a custom-format archive');
  const cursor = new Cursor(bytes, head.position, intSize);
  // The compression algorithm (0: none), or before 1.15 the level (0: none).
  const compressed = (archiveVersion >= COMPRESSION_BYTE_FROM ? cursor.byte() : cursor.int()) !== 0;
  for (let field = 0; field < 7; field++) cursor.int(); // the creation time
  for (let field = 0; field < 3; field++) cursor.string(); // database name, server and pg_dump versions

  const slots = new Map<number, number>();
  const copyStatements = new Map<number, string>();
  let encoding: string | undefined;
  const count = cursor.int();
  for (let i = 0; i < count; i++) {
    const dumpId = cursor.int();
    if (dumpId <= 0) throw new UnknownLayout(`entry ${i + 1} has dump id ${dumpId}`);
    cursor.int(); // had a data dumper
    for (let field = 0; field < 3; field++) cursor.string(); // table OID, OID, tag
    const kind = cursor.string()?.toString('latin1');
    cursor.int(); // section
    const definition = cursor.string();
    cursor.string(); // drop statement
    const copy = cursor.string();
    if (kind === 'TABLE DATA' && copy) copyStatements.set(dumpId, copy.toString('utf8'));
    if (kind === 'ENCODING' && definition) encoding = /^SET client_encoding = '([\w-]+)';/.exec(definition.toString('latin1'))?.[1];
    for (let field = 0; field < 2; field++) cursor.string(); // namespace, tablespace
    if (archiveVersion >= TABLEAM_FROM) cursor.string();
    if (archiveVersion >= RELKIND_FROM) cursor.int();
    cursor.string(); // owner
    cursor.string(); // "false": no table WITH OIDS
    while (cursor.string()); // dependencies, up to a missing string
    const slot = cursor.position;
    const flag = cursor.byte();
    if (flag !== OFFSET_NOT_SET && flag !== OFFSET_SET && flag !== OFFSET_NO_DATA) throw new UnknownLayout(`data offset flag ${flag}`);
    cursor.position += offSize;
    if (cursor.position > bytes.length) throw new RangeError('past the bytes read');
    if (flag !== OFFSET_NO_DATA) slots.set(dumpId, slot);
  }
  return { intSize, offSize, slots, dataStart: cursor.position, compressed, copyStatements, encoding };
}

/** A data entry's offset slot: the flag, then the offset, least significant byte first; NOT_SET without one. */
function offsetSlot(position: number | undefined, offSize: number): Buffer {
  const slot = Buffer.alloc(1 + offSize);
  slot[0] = position === undefined ? OFFSET_NOT_SET : OFFSET_SET;
  if (position !== undefined && position >= 2 ** (8 * offSize))
    throw new UnknownLayout(`offset ${position} does not fit in ${offSize} bytes`);
  let rest = position ?? 0;
  for (let i = 1; i <= offSize; i++) {
    slot[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return slot;
}

/** A table whose rows the restore loads itself, from a data entry of the archive. */
export interface RowsTable {
  dumpId: number;
  /** pg_dump's `COPY ... FROM stdin;` for them. */
  copy: string;
}

/** What the head says, once it is in the file. */
export interface ArchiveHead {
  /** The file pg_restore reads: the table of contents now; the blocks it restores once the archive ended. */
  path: string;
  /**
   * The tables whose rows can be handed on as COPY text, and the client encoding they were dumped in; none when
   * pg_dump compressed them or wrote integers of another size, or the archive's layout is unknown (its whole archive
   * is staged, and the head called only once it ended).
   */
  tables: RowsTable[];
  encoding: string | undefined;
}

/** What the restore takes from the archive, decided once its head is known. */
export interface SplitPlan {
  /** The data entries (of `ArchiveHead.tables`) whose rows are handed on. */
  loaded: ReadonlySet<number>;
  /** The data entries whose blocks are kept in the head file for pg_restore; those in neither are skipped. */
  staged: ReadonlySet<number>;
  /** Settles once pg_restore no longer reads the table of contents, into which the offsets are then written. */
  headRead: Promise<unknown>;
}

/** Whole rows of a table: COPY text in CopyData messages, to be written to a connection in COPY as they are. */
export interface RowSegment {
  table: RowsTable;
  /** Slices of the bytes that arrived: whole messages together, though one slice may end inside a message. */
  messages: Buffer[];
  /** Their bytes, all told. */
  bytes: number;
}

export interface SplitterCallbacks {
  /** The head is in the file: what to load and what to stage. */
  head(head: ArchiveHead): Promise<SplitPlan>;
  /** Rows to load; the archive is read on once it resolves. */
  rows(segment: RowSegment): Promise<void>;
}

type Disposition = 'load' | 'stage' | 'skip';

/**
 * The decompressed archive's sink (see the top of this file). It fails (RestoreFailed) on bytes that are not data
 * blocks where the table of contents ends, or an archive that ends inside one; an archive whose layout it does not
 * know is staged whole. It rewrites the chunks' lengths in the buffers it is written: give it bytes nothing else reads.
 */
export class ArchiveSplitter extends Writable {
  private readonly fd: number;
  /** The head's bytes until the table of contents parsed. */
  private head: Buffer[] = [];
  private headBytes = 0;
  private nextParse = 64 * 1024;
  private toc: TableOfContents | undefined;
  /** Unknown layout: every byte goes to the file. */
  private whole = false;
  private plan: SplitPlan | undefined;
  /** Bytes of a header or integer that a chunk cut short, read together with the next chunk. */
  private carry: Buffer = Buffer.alloc(0);
  private state: 'block' | 'chunks' | 'body' | 'objects' = 'block';
  private bodyLeft = 0;
  private inLargeObjects = false;
  private block: { dumpId: number; disposition: Disposition; table?: RowsTable } = { dumpId: 0, disposition: 'skip' };
  /** The rows of the segment being gathered: slices of the bytes that arrived, their chunks' lengths rewritten. */
  private messages: Buffer[] = [];
  private messageBytes = 0;
  /** Where each staged block starts in the head file, by dump id. */
  private readonly staged = new Map<number, number>();
  private fileBytes = 0;
  private fileClosed = false;

  constructor(
    readonly path: string,
    private readonly callbacks: SplitterCallbacks,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.fd = openSync(path, 'w');
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.take(chunk).then(
      () => callback(),
      (error: unknown) => callback(this.failure(error)),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.conclude().then(
      () => callback(),
      (error: unknown) => callback(this.failure(error)),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.closeFile();
    callback(error);
  }

  private closeFile(): void {
    if (this.fileClosed) return;
    this.fileClosed = true;
    closeSync(this.fd);
  }

  private failure(error: unknown): Error {
    if (error instanceof LifelineError) return error;
    return new LifelineError('RestoreFailed', `reading the archive into ${this.path} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }

  private toFile(bytes: Buffer): void {
    for (let at = 0; at < bytes.length;) at += writeSync(this.fd, bytes, at, bytes.length - at, this.fileBytes + at);
    this.fileBytes += bytes.length;
  }

  private async take(chunk: Buffer): Promise<void> {
    if (this.whole) return this.toFile(chunk);
    if (this.toc) return this.data(chunk);
    this.head.push(chunk);
    this.headBytes += chunk.length;
    if (this.headBytes >= this.nextParse) await this.parseHead(false);
  }

  /** Parses the head read so far; `ended`: the archive has no more bytes. */
  private async parseHead(ended: boolean): Promise<void> {
    const bytes = Buffer.concat(this.head);
    this.head = [bytes];
    let toc: TableOfContents;
    try {
      toc = parseTableOfContents(bytes);
    } catch (error) {
      if (error instanceof RangeError && !ended) {
        if (bytes.length > MAX_TOC_BYTES)
          throw new LifelineError('RestoreFailed', `the archive's table of contents is over ${MAX_TOC_BYTES} bytes`);
        this.nextParse = bytes.length * 2;
        return;
      }
      if (!(error instanceof UnknownLayout) && !(error instanceof RangeError)) throw error;
      // pg_restore reads what this does not know (or says what is wrong with it).
      this.whole = true;
      this.head = [];
      this.toFile(bytes);
      return;
    }
    this.toc = toc;
    this.head = [];
    this.toFile(bytes.subarray(0, toc.dataStart));
    const tables =
      toc.compressed || toc.encoding === undefined || toc.intSize !== FRAMED_INT_SIZE
        ? []
        : [...toc.copyStatements].filter(([, copy]) => COPY_STATEMENT.test(copy)).map(([dumpId, copy]) => ({ dumpId, copy }));
    this.plan = await this.callbacks.head({ path: this.path, tables, encoding: toc.encoding });
    await this.data(bytes.subarray(toc.dataStart));
  }

  private disposition(dumpId: number): Disposition {
    if (this.plan!.loaded.has(dumpId)) return 'load';
    return this.plan!.staged.has(dumpId) ? 'stage' : 'skip';
  }

  /**
   * Walks the data blocks: each a type byte and its entry's dump id, then length-prefixed chunks up to a zero
   * length (large objects: OID, chunks, up to OID 0). An uncompressed archive has a chunk per row, so this loop
   * runs millions of times: it reads the buffer directly.
   */
  private async data(chunk: Buffer): Promise<void> {
    const bytes = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    const { intSize } = this.toc!;
    const int = (at: number) => {
      let value = 0;
      for (let i = intSize; i > 0; i--) value = value * 256 + bytes[at + i]!;
      return bytes[at] === 0 ? value : -value;
    };
    /** Where the bytes not yet written to the head file begin (a staged block's). */
    let unwritten = 0;
    /** Where the rows not yet in `messages` begin (a loaded block's, whose rows go on from the last bytes); -1: none. */
    let rows = this.block.disposition === 'load' && this.state !== 'block' ? 0 : -1;
    let at = 0;
    const flushStaged = (to: number) => {
      if (this.block.disposition === 'stage' && to > unwritten) this.toFile(bytes.subarray(unwritten, to));
      unwritten = to;
    };
    const gather = (to: number) => {
      if (rows >= 0 && to > rows) {
        this.messages.push(bytes.subarray(rows, to));
        this.messageBytes += to - rows;
      }
      rows = -1;
    };
    /** A segment ends where a chunk ends a row (a chunk is a row, but need not be), once it holds SEGMENT_BYTES. */
    const segmentEndsAt = (to: number) => rows >= 0 && this.messageBytes + to - rows >= SEGMENT_BYTES && bytes[to - 1] === NEWLINE;
    while (at < bytes.length) {
      if (this.state === 'body') {
        const take = Math.min(this.bodyLeft, bytes.length - at);
        at += take;
        this.bodyLeft -= take;
        if (this.bodyLeft > 0) continue;
        this.state = 'chunks';
        if (segmentEndsAt(at)) {
          gather(at);
          await this.handOn();
          rows = at;
        }
        continue;
      }
      const need = this.state === 'block' ? 2 + intSize : 1 + intSize;
      if (at + need > bytes.length) break;
      if (this.state === 'block') {
        flushStaged(at);
        const type = bytes[at]!;
        if (type !== BLOCK_DATA && type !== BLOCK_LARGE_OBJECTS) throw this.malformed(`a data block of type ${type}`);
        const dumpId = int(at + 1);
        if (!this.toc!.slots.has(dumpId)) throw this.malformed(`a data block for entry ${dumpId}, which has no data`);
        const disposition = this.disposition(dumpId);
        this.block = {
          dumpId,
          disposition,
          table: disposition === 'load' ? { dumpId, copy: this.toc!.copyStatements.get(dumpId)! } : undefined,
        };
        if (disposition === 'stage') {
          if (this.staged.has(dumpId)) throw this.malformed(`a second data block for entry ${dumpId}`);
          this.staged.set(dumpId, this.fileBytes);
        }
        unwritten = at;
        at += 2 + intSize;
        if (disposition === 'load') rows = at;
        this.inLargeObjects = type === BLOCK_LARGE_OBJECTS;
        this.state = this.inLargeObjects ? 'objects' : 'chunks';
      } else if (this.state === 'objects') {
        this.state = int(at) === 0 ? 'block' : 'chunks';
        at += 1 + intSize;
      } else {
        const length = int(at);
        if (length < 0) throw this.malformed('a negative chunk length');
        if (length > 0 && rows >= 0) {
          bytes[at] = COPY_DATA;
          bytes.writeUInt32BE(length + 4, at + 1);
        }
        at += 1 + intSize;
        if (length > 0 && at + length <= bytes.length) {
          // The whole chunk is in these bytes, as nearly every row is: past it at once.
          at += length;
          if (segmentEndsAt(at)) {
            gather(at);
            await this.handOn();
            rows = at;
          }
        } else if (length > 0) {
          this.state = 'body';
          this.bodyLeft = length;
        } else if (this.inLargeObjects) {
          this.state = 'objects';
        } else {
          this.state = 'block';
          if (rows >= 0) {
            gather(at - 1 - intSize); // without the end of the block
            await this.handOn();
          }
        }
      }
    }
    flushStaged(at);
    gather(at);
    if (at < bytes.length) this.carry = Buffer.from(bytes.subarray(at));
  }

  /** Hands on the rows gathered, if any (an empty table's block holds just the end marker). */
  private async handOn(): Promise<void> {
    if (this.messageBytes === 0) return;
    const segment = { table: this.block.table!, messages: this.messages, bytes: this.messageBytes };
    this.messages = [];
    this.messageBytes = 0;
    await this.callbacks.rows(segment);
  }

  private malformed(what: string): LifelineError {
    return new LifelineError('RestoreFailed', `the archive holds ${what} at ${this.fileBytes}; it is no archive pg_dump wrote`);
  }

  /** The archive ended: the offsets of the staged blocks go into the table of contents (or, staged whole, the head is known). */
  private async conclude(): Promise<void> {
    if (!this.toc && !this.whole) await this.parseHead(true);
    if (this.whole) {
      this.closeFile();
      await this.callbacks.head({ path: this.path, tables: [], encoding: undefined });
      return;
    }
    if (this.state !== 'block' || this.carry.length > 0) {
      throw new LifelineError('RestoreFailed', 'the archive ends inside a data block: it was cut short');
    }
    await this.plan!.headRead;
    const { slots, offSize } = this.toc!;
    for (const [dumpId, slot] of slots) {
      const bytes = offsetSlot(this.staged.get(dumpId), offSize);
      writeSync(this.fd, bytes, 0, bytes.length, slot);
    }
    this.closeFile();
  }
}
