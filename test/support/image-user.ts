/**
 * Where tests run code as the image's unprivileged user. The checkout may sit below a directory only its
 * owner may enter (mktemp -d, a 0700 home), where that user reaches neither the Node binary (node_modules/node)
 * nor the files beside the tests: what it runs and reads goes in a directory of its own instead.
 */
import { chmod, copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface ImageUserDir {
  /** Mode 0755, under the system's temporary directory: for the bundles and files the user runs and reads. */
  path: string;
  /** A copy of the Node binary running the tests, executable by anyone. */
  node: string;
  /** Removes the directory and all it holds; safe to call more than once. */
  remove(): Promise<void>;
}

/** A fresh directory the image's user can enter, with a Node binary it can run; call remove() when done. */
export async function imageUserDir(): Promise<ImageUserDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lifeline-image-user-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    await chmod(dir, 0o755);
    const node = path.join(dir, 'node');
    await copyFile(process.execPath, node);
    await chmod(node, 0o755);
    return { path: dir, node, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
