import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkClassCount } from '../../src/data/dataset.ts';
import { openImageFolder } from '../../src/data/image-folder.ts';
import { openDataset } from '../../src/data/open.ts';
import { compareCodePoints, isImageName } from '../../src/data/order.ts';
import type { ImageItem } from '../../src/data/types.ts';
import { InputError } from '../../src/util/errors.ts';
import { rawRgb, rgbImage, withTmp } from './helpers.ts';

async function all(it: AsyncIterable<ImageItem>): Promise<ImageItem[]> {
  const out: ImageItem[] = [];
  for await (const x of it) out.push(x);
  return out;
}

let png: Buffer | undefined;
async function put(path: string): Promise<void> {
  const bytes = (png ??= await rawRgb(rgbImage(4, 4, () => [9, 9, 9]), 4, 4).png().toBuffer());
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, bytes);
}

test('code-point order differs from UTF-16 order for astral characters, and is what we use', () => {
  const names = ['\u{1F600}', '\uFF21', 'b', 'B', '_', 'a'];
  assert.deepEqual([...names].sort(compareCodePoints), ['B', '_', 'a', 'b', '\uFF21', '\u{1F600}']);
  assert.deepEqual([...names].sort(), ['B', '_', 'a', 'b', '\u{1F600}', '\uFF21'], 'plain sort would put the emoji first');
  assert.ok(isImageName('x.JPG') && isImageName('y.JpEg') && isImageName('z.Png') && isImageName('w.TIFF'));
  assert.ok(!isImageName('notes.txt') && !isImageName('jpg') && !isImageName('x.jpg.bak'));
});

test('classes are folder names in code-point order; files sorted, nested folders after files; hidden and non-image entries ignored', async () => {
  await withTmp(async (root) => {
    for (const c of ['b', 'B', 'a', '\u{1F600}', '\uFF21']) await put(join(root, c, 'x.png'));
    await put(join(root, 'a', 'Z.PNG'));
    await put(join(root, 'a', 'b.JPG'));
    await put(join(root, 'a', 'sub', 'a.png'));
    await put(join(root, 'a', 'sub b', 'c.webp'));
    await put(join(root, 'a', 'sub', 'deeper', 'd.gif'));
    await put(join(root, 'a', '.hidden.png'));
    await put(join(root, 'a', '.cache', 'y.png'));
    await put(join(root, '.ipynb_checkpoints', 'q.png'));
    await writeFile(join(root, 'a', 'notes.txt'), 'hello');
    await writeFile(join(root, 'README'), 'top-level file');
    const ds = await openDataset(root);
    assert.equal(ds.format, 'imagefolder');
    assert.deepEqual(ds.classNames, ['B', 'a', 'b', '\uFF21', '\u{1F600}']);
    const a = await ds.itemsOfClass(1);
    // torchvision order, sorted(os.walk(...)) by directory path: 'a', 'a/sub', 'a/sub b', 'a/sub/deeper' (' ' < '/')
    assert.deepEqual(a.map((i) => i.id), ['a/Z.PNG', 'a/b.JPG', 'a/x.png', 'a/sub/a.png', 'a/sub b/c.webp', 'a/sub/deeper/d.gif']);
    assert.deepEqual(a.map((i) => i.index), [1, 2, 3, 4, 5, 6]);
    assert.ok(a.every((i) => i.label === 1));
    assert.equal(a[4].path, join(root, 'a', 'sub b', 'c.webp'));
    assert.equal(ds.size, 10);
    assert.deepEqual(ds.classSizes, [1, 6, 1, 1, 1]);
    const items = await all(ds.items());
    assert.deepEqual(items.map((i) => i.index), [...Array(10).keys()]);
    assert.deepEqual(items.map((i) => i.label), [0, 1, 1, 1, 1, 1, 1, 2, 3, 4]);
    assert.deepEqual(ds.ignored.map((f) => f.path).sort(), [join(root, 'README'), join(root, 'a', 'notes.txt')].sort());
    assert.equal(ds.ignoredCount, 2);
    assert.equal(ds.describe().classSource, 'directories');
  });
});

test('an explicit class list (array or file) sets the order; unknown classes and empty classes are errors', async () => {
  await withTmp(async (root) => {
    for (const c of ['cat', 'dog', 'eel']) await put(join(root, c, '1.png'));
    await put(join(root, 'dog', '2.png'));
    const ds = await openImageFolder(root, { classList: ['eel', 'cat'] });
    assert.deepEqual(ds.classNames, ['eel', 'cat']);
    assert.equal(ds.size, 2);
    assert.deepEqual(ds.ignored, [{ path: join(root, 'dog'), reason: 'class folder not in the class list' }]);
    const listFile = join(root, '..', `classes-${process.pid}.txt`);
    await writeFile(listFile, 'dog\r\n\ncat\neel\n');
    try {
      const fromFile = await openDataset(root, { classList: listFile });
      assert.deepEqual(fromFile.classNames, ['dog', 'cat', 'eel']);
      assert.deepEqual((await all(fromFile.items())).map((i) => i.id), ['dog/1.png', 'dog/2.png', 'cat/1.png', 'eel/1.png']);
      assert.equal(fromFile.describe().classSource, listFile);
      await writeFile(listFile, 'dog\ncat\ndog\n');
      await assert.rejects(openDataset(root, { classList: listFile }), /line 3: 'dog' repeats line 1/);
    } finally {
      await rm(listFile, { force: true });
    }
    await assert.rejects(openImageFolder(root, { classList: ['cat', 'cow'] }), (e: unknown) => e instanceof InputError && /names 1 classes with no folder: 'cow'/.test(e.message));
    await mkdir(join(root, 'fox'));
    await writeFile(join(root, 'fox', 'x.txt'), '');
    await assert.rejects(openImageFolder(root), (e: unknown) => e instanceof InputError && /1 class folders hold no images: 'fox'/.test(e.message));
    const lenient = await openImageFolder(root, { allowEmptyClasses: true });
    assert.deepEqual(lenient.classSizes, [1, 2, 1, 0]);
    await assert.rejects(openDataset(root, { split: 'train' }), /ImageFolder datasets have no 'train' split/);
    await assert.rejects(openDataset(join(root, 'nope')), /not a directory/);
  });
});

test('class count against a model head; a class listing that changed since opening is an error', async () => {
  await withTmp(async (root) => {
    for (const c of ['a', 'b']) await put(join(root, c, '1.png'));
    const ds = await openDataset(root);
    assert.doesNotThrow(() => checkClassCount(ds, 2, 'resnet.onnx'));
    assert.throws(() => checkClassCount(ds, 10, 'resnet.onnx'), (e: unknown) => e instanceof InputError && new RegExp(`dataset ${root} \\(imagefolder\\) has 2 classes but resnet\\.onnx has 10 outputs`).test(e.message));
    await put(join(root, 'b', '2.png'));
    await assert.rejects(ds.itemsOfClass(1), /changed since it was opened: class 'b' had 1 images, now 2/);
  });
});

test('symbolic links to folders are followed once; a link loop does not hang', async () => {
  await withTmp(async (root) => {
    await put(join(root, 'data', 'a', '1.png'));
    await mkdir(join(root, 'ds'));
    await symlink(join(root, 'data', 'a'), join(root, 'ds', 'a'));
    await symlink(join(root, 'ds', 'a'), join(root, 'data', 'a', 'loop'));
    const ds = await openDataset(join(root, 'ds'));
    assert.deepEqual(ds.classNames, ['a']);
    assert.deepEqual((await ds.itemsOfClass(0)).map((i) => i.id), ['a/1.png']);
  });
});

/** A folder this process cannot list: mode 000 (for a non-root user), else a link to /proc/1/fdinfo (root in a container). */
async function unreadableFolder(at: string): Promise<string> {
  const { chmod, readdir } = await import('node:fs/promises');
  await mkdir(at);
  await chmod(at, 0o000);
  if (await readdir(at).then(() => false, () => true)) return at;
  await chmod(at, 0o755);
  await rm(at, { recursive: true });
  await symlink('/proc/1/fdinfo', at);
  assert.ok(await readdir(at).then(() => false, () => true), 'precondition: no unreadable folder could be made here');
  return at;
}

test('an unreadable folder inside a class is an InputError naming it (it crashed with a stack trace), never skipped unseen', async () => {
  await withTmp(async (root) => {
    for (const c of ['a', 'b']) {
      await mkdir(join(root, c));
      await writeFile(join(root, c, 'x.png'), 'listed, not decoded');
    }
    const bad = await unreadableFolder(join(root, 'b', 'sub'));
    try {
      await assert.rejects(openImageFolder(root), (e) => e instanceof InputError && /dataset folder .*b\/sub cannot be read \(EACCES\)/.test((e as Error).message));
    } finally {
      await import('node:fs/promises').then((fs) => fs.chmod(bad, 0o755).catch(() => undefined));
    }
  });
});
