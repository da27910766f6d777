import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setImmediate, setTimeout } from 'node:timers/promises';
import { LifelineError } from '../errors.js';

/**
 * pg_dump leaves the data offsets out of a custom-format archive it writes to a pipe, as every backup's is:
 * it cannot go back to fill them in. pg_restore -j then finds each table's rows by skipping every data block
 * before them (a seek per row in an uncompressed archive, in every worker) and, not knowing the tables' sizes,
 * cannot start the largest first. `writeDataOffsets` gives a staged archive what pg_dump writes into one it can
 * seek in: each data entry's offset in the table of contents, in the slot pg_dump left for it. pg_restore checks
 * the entry id of every block it seeks to, so a wrong offset fails the restore rather than misplace data.
 *
 * The same walk finds where each table's rows lie and where they can be cut into parts, so that the restore can
 * load a table too large for one connection over several (`readRows`).
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
/** The rows of a table can be cut about every this many bytes (`TableRows.cuts`). */
export const CUT_SPACING_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;
/** What pg_dump writes as a table's COPY statement; anything else is not loaded from here. */
const COPY_STATEMENT = /^COPY [^;]+ FROM stdin;\s*$/;

/**
 * The data is read in windows this large, which stay in the processor's cache (1 MiB windows read 4x slower here);
 * the table of contents is read whole, in a window as large as it needs.
 */
const WINDOW_BYTES = 256 * 1024;
/** How long the walk waits for a file still being written to grow, before it reads on. */
const FOLLOW_MS = 2;
/** A table of contents larger than this (millions of large objects) is left as it is, rather than read into memory. */
const MAX_TOC_BYTES = 256 * 1024 * 1024;
/** The walk yields to the event loop every this many windows, so that a stop (SIGTERM) is heard while it reads. */
const WINDOWS_PER_YIELD = 64;

function version(major: number, minor: number): number {
  return (major * 256 + minor) * 256;
}

/** The file's bytes from `start`, as far as they were read. */
class Window {
  constructor(
    readonly bytes: Buffer,
    readonly start: number,
  ) {}

  has(position: number, length: number): boolean {
    return position >= this.start && position + length <= this.start + this.bytes.length;
  }

  byte(position: number): number {
    return this.bytes[position - this.start]!;
  }
}

function readWindow(file: number, start: number, bytes: Buffer): Window {
  return new Window(bytes.subarray(0, readSync(file, bytes, 0, bytes.length, start)), start);
}

/** The staged archive, open; `writing` says whether the decompression still writes it (the walk then follows it). */
interface StagedFile {
  fd: number;
  writing: () => boolean;
}

/** Thrown when the bytes are not an archive of a layout this knows; the archive is then left as it is. */
class UnknownLayout extends Error {}

/** A cursor over a window, with pg_dump's integer and string encodings (ReadInt, ReadStr). */
class Cursor {
  constructor(
    private readonly window: Window,
    public position: number,
    private readonly intSize: number,
  ) {}

  byte(): number {
    if (!this.window.has(this.position, 1)) throw new RangeError('past the window');
    return this.window.byte(this.position++);
  }

  /** A sign byte, then `intSize` bytes, least significant first. */
  int(): number {
    const negative = this.byte() !== 0;
    let value = 0;
    for (let i = 0; i < this.intSize; i++) value += this.byte() * 2 ** (8 * i);
    return negative ? -value : value;
  }

  /** A length (-1 for none), then that many bytes. */
  skipString(): boolean {
    return this.string() !== undefined;
  }

  /** The bytes of a string, undefined for none. */
  string(): Buffer | undefined {
    const length = this.int();
    if (length < 0) return undefined;
    if (!this.window.has(this.position, length)) throw new RangeError('past the window');
    const at = this.position - this.window.start;
    this.position += length;
    return this.window.bytes.subarray(at, at + length);
  }
}

interface Layout {
  version: number;
  intSize: number;
  offSize: number;
}

interface DataEntry {
  dumpId: number;
  /** Where its offset slot (flag byte, then offSize bytes) is in the file. */
  slot: number;
}

interface TableOfContents {
  layout: Layout;
  /** Entries whose data offset pg_dump could not write. */
  unset: DataEntry[];
  /** Where the data blocks begin. */
  dataStart: number;
  /** pg_dump compressed the data blocks itself (-Z): their chunks are not rows. */
  compressed: boolean;
  /** The COPY statement of each table's data entry, by dump id. */
  copyStatements: Map<number, string>;
  /** The client encoding the data was dumped in (the ENCODING entry). */
  encoding: string | undefined;
}

/** ReadHead and ReadToc of pg_backup_archiver.c, keeping only what finding and writing the offsets needs. */
function parseTableOfContents(window: Window): TableOfContents {
  if (window.bytes.toString('latin1', 0, MAGIC.length) !== MAGIC) throw new UnknownLayout('not a custom-format archive');
  const head = new Cursor(window, MAGIC.length, 0);
  const archiveVersion = version(head.byte(), head.byte()) + head.byte();
  if (archiveVersion < OLDEST_VERSION || archiveVersion >= NEWEST_VERSION + 256) {
    throw new UnknownLayout(`archive version ${archiveVersion >> 16}.${(archiveVersion >> 8) & 255}`);
  }
  const intSize = head.byte();
  const offSize = head.byte();
  if (intSize < 1 || intSize > 6 || offSize < 1 || offSize > 8) throw new UnknownLayout(`integer size ${intSize}, offset size ${offSize}`);
  if (head.byte() !== CUSTOM_FORMAT) throw new UnknownLayout('not a custom-format archive');
  const cursor = new Cursor(window, head.position, intSize);
  // The compression algorithm (0: none), or before 1.15 the level (0: none).
  const compressed = (archiveVersion >= COMPRESSION_BYTE_FROM ? cursor.byte() : cursor.int()) !== 0;
  for (let field = 0; field < 7; field++) cursor.int(); // the creation time
  for (let field = 0; field < 3; field++) cursor.skipString(); // database name, server and pg_dump versions

  const unset: DataEntry[] = [];
  const copyStatements = new Map<number, string>();
  let encoding: string | undefined;
  const count = cursor.int();
  for (let i = 0; i < count; i++) {
    const dumpId = cursor.int();
    if (dumpId <= 0) throw new UnknownLayout(`entry ${i + 1} has dump id ${dumpId}`);
    cursor.int(); // had a data dumper
    for (let field = 0; field < 3; field++) cursor.skipString(); // table OID, OID, tag
    const kind = cursor.string()?.toString('latin1');
    cursor.int(); // section
    const definition = cursor.string();
    cursor.skipString(); // drop statement
    const copy = cursor.string();
    if (kind === 'TABLE DATA' && copy) copyStatements.set(dumpId, copy.toString('utf8'));
    if (kind === 'ENCODING' && definition) encoding = /^SET client_encoding = '([\w-]+)';/.exec(definition.toString('latin1'))?.[1];
    for (let field = 0; field < 2; field++) cursor.skipString(); // namespace, tablespace
    if (archiveVersion >= TABLEAM_FROM) cursor.skipString();
    if (archiveVersion >= RELKIND_FROM) cursor.int();
    cursor.skipString(); // owner
    cursor.skipString(); // "false": no table WITH OIDS
    while (cursor.skipString()); // dependencies, up to a missing string
    const slot = cursor.position;
    if (!window.has(slot, 1 + offSize)) throw new RangeError('past the window');
    const flag = cursor.byte();
    if (flag !== OFFSET_NOT_SET && flag !== OFFSET_SET && flag !== OFFSET_NO_DATA) throw new UnknownLayout(`data offset flag ${flag}`);
    cursor.position += offSize;
    if (flag === OFFSET_NOT_SET) unset.push({ dumpId, slot });
  }
  return {
    layout: { version: archiveVersion, intSize, offSize },
    unset,
    dataStart: cursor.position,
    compressed,
    copyStatements,
    encoding,
  };
}

async function readTableOfContents(file: StagedFile, signal: AbortSignal | undefined): Promise<TableOfContents> {
  for (let length = WINDOW_BYTES; ;) {
    const finished = !file.writing(); // before the read: a short read then is the end of the file
    const window = readWindow(file.fd, 0, Buffer.allocUnsafe(length));
    try {
      return parseTableOfContents(window);
    } catch (error) {
      const short = window.bytes.length < length;
      if (short && !finished) {
        // Not written that far yet.
        await setTimeout(FOLLOW_MS, undefined, { signal });
        continue;
      }
      if (!(error instanceof RangeError) || short) throw error;
      // A table of contents larger than the window: read more.
      if (length * 4 > MAX_TOC_BYTES) throw new UnknownLayout(`a table of contents over ${MAX_TOC_BYTES} bytes`);
      length *= 4;
    }
  }
}

interface DataBlock {
  /** Where its header (type byte and dump id) is. */
  start: number;
  /** Just past its last chunk (the zero length that ends it). */
  end: number;
  /** See TableRows.cuts. */
  cuts: number[];
}

/**
 * Each data block by dump id: the blocks follow the table of contents, each a type byte and its entry's dump
 * id, then length-prefixed chunks up to a zero length (large objects: OID, chunks, up to OID 0). An
 * uncompressed archive has a chunk per row, so this loop runs millions of times: it reads the buffer directly.
 */
async function findDataBlocks(file: StagedFile, toc: TableOfContents, signal: AbortSignal | undefined): Promise<Map<number, DataBlock>> {
  const { intSize } = toc.layout;
  const blocks = new Map<number, DataBlock>();
  // Between windows the walk keeps where it is: before a block, or in a block's chunks, or between large objects.
  let state: 'block' | 'chunks' | 'objects' = 'block';
  let inLargeObjects = false;
  let block: DataBlock = { start: 0, end: 0, cuts: [] };
  let nextCut = 0;
  let position = toc.dataStart;
  const buffer = Buffer.allocUnsafe(WINDOW_BYTES);
  for (let windows = 1; ; windows++) {
    if (windows % WINDOWS_PER_YIELD === 1) {
      await setImmediate();
      signal?.throwIfAborted();
    }
    const finished = !file.writing(); // before the read: a short read then is the end of the file
    const { bytes, start } = readWindow(file.fd, position, buffer);
    /** pg_dump's int at `at` in the window: a sign byte, then intSize bytes, least significant first. */
    const int = (at: number) => (bytes[at] === 0 ? 1 : -1) * bytes.readUIntLE(at + 1, intSize);
    let at = position - start;
    // A step reads a block header (type byte and dump id) or an int; a chunk's body may run past the window.
    while (at + (state === 'block' ? 2 + intSize : 1 + intSize) <= bytes.length) {
      if (state === 'block') {
        const type = bytes[at]!;
        if (type !== BLOCK_DATA && type !== BLOCK_LARGE_OBJECTS) throw new UnknownLayout(`data block type ${type} at ${start + at}`);
        const dumpId = int(at + 1);
        if (blocks.has(dumpId)) throw new UnknownLayout(`a second data block for entry ${dumpId}`);
        block = { start: start + at, end: 0, cuts: [] };
        blocks.set(dumpId, block);
        nextCut = block.start + CUT_SPACING_BYTES;
        at += 2 + intSize;
        inLargeObjects = type === BLOCK_LARGE_OBJECTS;
        state = inLargeObjects ? 'objects' : 'chunks';
      } else if (state === 'objects') {
        state = int(at) === 0 ? 'block' : 'chunks';
        at += 1 + intSize;
        if (state === 'block') block.end = start + at;
      } else {
        const length = int(at);
        if (length < 0) throw new UnknownLayout(`a negative chunk length at ${start + at}`);
        // A cut goes before a chunk whose predecessor ends a row (a chunk is a row, but need not be).
        if (start + at >= nextCut && length > 0 && !inLargeObjects && at > 0 && bytes[at - 1] === NEWLINE) {
          block.cuts.push(start + at);
          nextCut = start + at + CUT_SPACING_BYTES;
        }
        at += 1 + intSize + length;
        if (length === 0) {
          state = inLargeObjects ? 'objects' : 'block';
          if (state === 'block') block.end = start + at;
        }
      }
    }
    if (bytes.length < WINDOW_BYTES) {
      if (finished) {
        // The file ends in this window: exactly after a block, or the archive is cut short.
        if (state !== 'block' || at !== bytes.length) throw new UnknownLayout('a truncated data block');
        return blocks;
      }
      await setTimeout(FOLLOW_MS, undefined, { signal }); // the decompression has not got this far yet
    }
    position = start + at;
  }
}

/** The offset slot's bytes for a data block at `position`: the flag, then the offset, least significant byte first. */
function offsetSlot(position: number, offSize: number): Buffer {
  if (position >= 2 ** (8 * offSize)) throw new UnknownLayout(`offset ${position} does not fit in ${offSize} bytes`);
  const slot = Buffer.alloc(1 + offSize);
  slot[0] = OFFSET_SET;
  let rest = position;
  for (let i = 1; i <= offSize; i++) {
    slot[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return slot;
}

/** A table's rows in the staged archive. */
export interface TableRows {
  /** Its data entry's dump id. */
  dumpId: number;
  /** pg_dump's `COPY ... FROM stdin;` for them. */
  copy: string;
  /** Its data block: from its header to just past its last chunk. */
  start: number;
  end: number;
  /**
   * Where the rows can be cut into parts: chunk headers at least CUT_SPACING_BYTES apart, each right after a
   * row's end. `readRows` takes the rows from the start or a cut, to a later cut or the end.
   */
  cuts: number[];
}

/** Where the rows of an archive's tables lie: only for an archive pg_dump did not compress, whose chunks hold rows as COPY text. */
export interface ArchiveRows {
  /** The client encoding the rows were dumped in. */
  encoding: string;
  /** pg_dump's integer width in this archive. */
  intSize: number;
  tables: TableRows[];
}

export interface DataOffsets {
  /** How many entries got their offset; 0 when the archive had them all, or is of a layout this does not know. */
  written: number;
  /** Why the archive was left as it is, when it was. */
  leftAsIs?: string;
  /** Where each table's rows lie, when written and pg_dump did not compress them. */
  rows?: ArchiveRows;
}

function archiveRows(toc: TableOfContents, blocks: Map<number, DataBlock>): ArchiveRows | undefined {
  if (toc.compressed || toc.encoding === undefined) return undefined;
  const tables = [...toc.copyStatements].flatMap(([dumpId, copy]) => {
    const block = blocks.get(dumpId);
    return block && COPY_STATEMENT.test(copy) ? [{ dumpId, copy, ...block }] : [];
  });
  return { encoding: toc.encoding, intSize: toc.layout.intSize, tables };
}

/** Opens the staged archive, waiting for the decompression to create it while `writing`. */
async function openStaged(path: string, writing: () => boolean, signal: AbortSignal | undefined): Promise<StagedFile> {
  for (;;) {
    const finished = !writing();
    try {
      return { fd: openSync(path, 'r+'), writing };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || finished) throw error;
      await setTimeout(FOLLOW_MS, undefined, { signal });
    }
  }
}

/**
 * Writes the missing data offsets into the table of contents of the staged archive at `path`, and says where
 * each table's rows lie. An archive of a layout this does not know is left as it is: pg_restore still restores
 * it, only slower. Nothing is written unless the whole file parsed, to its last byte. While `writing` says the
 * decompression still writes the file, the walk follows it and waits at its end; it writes once that ends.
 * `signal` stops it while it reads.
 */
export async function writeDataOffsets(path: string, signal?: AbortSignal, writing = () => false): Promise<DataOffsets> {
  const failed = (error: unknown) =>
    new LifelineError('RestoreFailed', `writing the data offsets into the staged archive ${path} failed: ${(error as Error).message}`, {
      cause: error,
    });
  let staged: StagedFile;
  try {
    staged = await openStaged(path, writing, signal);
  } catch (error) {
    throw signal?.aborted ? error : failed(error);
  }
  const file = staged.fd;
  try {
    let slots: { at: number; bytes: Buffer }[];
    let rows: ArchiveRows | undefined;
    try {
      const toc = await readTableOfContents(staged, signal);
      if (toc.unset.length === 0) return { written: 0 };
      const blocks = await findDataBlocks(staged, toc, signal);
      // An entry without a block stays unset: pg_restore says so when it looks for one.
      slots = toc.unset.flatMap(({ dumpId, slot }) => {
        const block = blocks.get(dumpId);
        return block === undefined ? [] : [{ at: slot, bytes: offsetSlot(block.start, toc.layout.offSize) }];
      });
      rows = archiveRows(toc, blocks);
    } catch (error) {
      if (error instanceof UnknownLayout || error instanceof RangeError) return { written: 0, leftAsIs: error.message };
      throw signal?.aborted ? error : failed(error);
    }
    try {
      for (const { at, bytes } of slots) writeSync(file, bytes, 0, bytes.length, at);
    } catch (error) {
      throw failed(error);
    }
    return { written: slots.length, ...(rows && { rows }) };
  } finally {
    closeSync(file);
  }
}

/** A table's rows are not where the walk found them: the staged archive changed since. */
function misplaced(at: number): LifelineError {
  return new LifelineError('RestoreFailed', `the staged archive has no row chunk where one was found at ${at}`);
}

/**
 * The rows of `table` from `from` (its start, or one of its cuts) up to `to` (a later cut, or its end), as
 * COPY text: the chunks' bodies without their length prefixes, gathered into buffers of about WINDOW_BYTES.
 */
export async function* readRows(path: string, rows: ArchiveRows, table: TableRows, from: number, to: number): AsyncGenerator<Buffer> {
  const { intSize } = rows;
  const file = await open(path, 'r');
  try {
    if (from === table.start) {
      const header = Buffer.alloc(2 + intSize);
      await file.read(header, 0, header.length, from);
      if (header[0] !== BLOCK_DATA || header[1] !== 0 || header.readUIntLE(2, intSize) !== table.dumpId) throw misplaced(from);
    }
    const window = Buffer.allocUnsafe(WINDOW_BYTES);
    let out = Buffer.allocUnsafe(WINDOW_BYTES);
    let used = 0;
    let position = from === table.start ? from + 2 + intSize : from; // past the block header
    while (position < to) {
      const { bytesRead } = await file.read(window, 0, WINDOW_BYTES, position);
      let at = 0;
      while (position + at < to && at + 1 + intSize <= bytesRead) {
        const length = (window[at] === 0 ? 1 : -1) * window.readUIntLE(at + 1, intSize);
        if (length < 0 || position + at + 1 + intSize + length > to) throw misplaced(position + at);
        const body = at + 1 + intSize;
        if (body + length > bytesRead) break; // the body runs past the window: read it from its header again
        if (used + length > out.length) {
          if (used > 0) yield out.subarray(0, used);
          out = Buffer.allocUnsafe(Math.max(WINDOW_BYTES, length));
          used = 0;
        }
        window.copy(out, used, body, body + length);
        used += length;
        at = body + length;
      }
      if (at === 0) {
        // A row larger than the window, or the file ends early.
        if (bytesRead < 1 + intSize) throw misplaced(position);
        const length = window.readUIntLE(1, intSize);
        const body = Buffer.allocUnsafe(length);
        const { bytesRead: read } = await file.read(body, 0, length, position + 1 + intSize);
        if (read < length) throw misplaced(position);
        if (used > 0) yield out.subarray(0, used);
        yield body;
        out = Buffer.allocUnsafe(WINDOW_BYTES);
        used = 0;
        at = 1 + intSize + length;
      }
      position += at;
    }
    if (used > 0) yield out.subarray(0, used);
  } finally {
    await file.close();
  }
}
