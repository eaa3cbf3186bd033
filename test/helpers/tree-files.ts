// Every file below a folder with its bytes, to compare two output folders file by file.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Relative path -> bytes of every file below `dir`. */
export function treeFiles(dir: string, root = dir, out = new Map<string, Buffer>()): Map<string, Buffer> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) treeFiles(p, root, out);
    else out.set(relative(root, p), readFileSync(p));
  }
  return out;
}
