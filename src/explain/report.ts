/**
 * The pictures of explained images, written to an output folder:
 *
 *   <out>/index.html                    every image: thumbnail, prediction, explained class, link to its card
 *   <out>/explanations.json             the JSON document (schema.ts)
 *   <out>/exemplars/...                 the explained classes' exemplar patches, copied from the network
 *                                       under the same relative paths
 *   <out>/<NNNN>-<name>/card.html       one card per image (card.ts)
 *   <out>/<NNNN>-<name>/input.png       the image as the model saw it
 *   <out>/<NNNN>-<name>/prototype-<i>.png   heatmap overlay with the strongest-region box, per prototype
 *   <out>/<NNNN>-<name>/residual.png    the residual term's heatmap (allocator 'none' only)
 *   <out>/<NNNN>-<name>/combined.png    each pixel coloured by its strongest prototype, with a legend
 *
 * NNNN is the image's position in the list given, so names never collide.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { claimOutputFolder, recordOutputEntries } from '../io/output-folder.ts';
import { InputError } from '../util/errors.ts';
import { writeCard } from './card.ts';
import { escapeHtml, type CardData, type CardPrototype } from './card-html.ts';
import type { Explainer, ImageExplanation } from './explain.ts';
import { combinedView } from '../pictures/combined.ts';
import { encodePng } from '../pictures/image.ts';
import { pictureScale } from '../pictures/layers.ts';
import { overlay } from '../pictures/overlay.ts';
import type { ExplanationDocument } from './schema.ts';
import { strongestRegion } from '../pictures/strongest-region.ts';

/** Options of the pictures. */
export interface PictureOptions {
  /** Embed each card's pictures in the card as data: URIs (one self-contained file per card; default false: linked). */
  inline?: boolean;
  /**
   * Size of overlays and combined views as a multiple of the input size (heatmaps are upsampled to
   * it directly). Default 'auto': the smallest integer that makes the longer side at least 224
   * pixels (1 for ImageNet-size inputs, 7 for 32 x 32). input.png is always the input size.
   */
  scale?: number | 'auto';
}

/** The pictures of one image, paths relative to the output folder (POSIX separators). */
export interface ImagePictures {
  /** The image's folder. */
  dir: string;
  card: string;
  input: string;
  combined: string;
  /** One overlay per prototype, in prototype order. */
  overlays: string[];
  /** The residual term's overlay (allocator 'none'), if any. */
  residual?: string;
}

/** A file-name-safe stem of an image path: letters, digits, '.', '_' and '-' kept, at most 60 characters. */
export function safeStem(image: string): string {
  const b = basename(image, extname(image)).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return (b || 'image').slice(0, 60);
}

/** Fixed-point for moderate values, scientific otherwise, with a typographic minus. */
const fmt = (v: number) => (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : v.toFixed(3)).replace('-', '\u2212');

/** Writes pictures and cards as images are explained, then the index and the JSON document. */
export class PictureWriter {
  private readonly copied = new Set<string>();
  /** Top-level entries already recorded in the folder's claim (recorded once, before they are written). */
  private readonly recorded = new Set<string>();
  private readonly rows: string[] = [];

  private constructor(
    private readonly ex: Explainer,
    /** Absolute output folder. */
    readonly dir: string,
    private readonly opts: PictureOptions,
  ) {}

  /**
   * Prepare the output folder: created if needed, claimed for explanations (io/output-folder.ts).
   * @throws InputError when `out` is a file, or a non-empty folder protolens did not write explanations into.
   */
  static async create(ex: Explainer, out: string, opts: PictureOptions = {}): Promise<PictureWriter> {
    pictureScale(1, 1, opts.scale);
    const dir = await claimOutputFolder(out, 'explanations');
    return new PictureWriter(ex, dir, opts);
  }

  /** Copy a network-relative exemplar file into the output folder under the same path (once). */
  private async copyExemplar(rel: string): Promise<void> {
    if (this.copied.has(rel)) return;
    const src = resolve(this.ex.network.dir, rel);
    const dst = resolve(this.dir, rel);
    if (src !== dst) {
      await mkdir(dirname(dst), { recursive: true });
      try {
        await copyFile(src, dst);
      } catch (e) {
        throw new InputError(`exemplar picture ${src} (listed in ${this.ex.exemplars?.file}): ${(e as Error).message}`);
      }
    }
    this.copied.add(rel);
  }

  /** Write the pictures and the card of one explained image. Requires `r.rgb`. */
  async write(r: ImageExplanation): Promise<ImagePictures> {
    const rgb = r.rgb;
    if (!rgb) throw new Error('PictureWriter.write: the explanation has no input RGB (keepRgb)');
    const folder = `${String(r.index).padStart(4, '0')}-${safeStem(r.image)}`;
    const abs = join(this.dir, folder);
    await this.record([folder, 'exemplars']); // recorded before writing: a killed run is cleaned up too
    await mkdir(abs, { recursive: true });
    const { width: w, height: h, data } = rgb;
    const { height: mh, width: mw } = r.featureMap;
    const e = r.explained;
    const pct = this.ex.percentile;
    const scale = pictureScale(w, h, this.opts.scale);
    const rel = (name: string) => `${folder}/${name}`;

    await writeFile(join(abs, 'input.png'), await encodePng(data, w, h));
    const overlays: string[] = [];
    const cardProtos: CardPrototype[] = [];
    for (const t of e.prototypes) {
      const name = `prototype-${t.prototype}.png`;
      const box = t.box ?? strongestRegion(t.heatmap, mh, mw, w, h, pct);
      await writeFile(join(abs, name), await overlay(data, w, h, t.heatmap, mh, mw, { box, percentile: pct, scale }));
      overlays.push(rel(name));
      for (const x of t.exemplars) {
        await this.copyExemplar(x.crop);
        await this.copyExemplar(x.context);
      }
      cardProtos.push({
        id: t.prototype,
        contribution: t.contribution,
        overlayPath: name,
        box,
        exemplars: t.exemplars.map((x) => ({ path: `../${x.crop}`, contextPath: `../${x.context}`, sourceImage: x.image, score: x.score })),
      });
    }
    let residual: string | undefined;
    if (e.residual) {
      const box = strongestRegion(e.residual.heatmap, mh, mw, w, h, pct);
      await writeFile(join(abs, 'residual.png'), await overlay(data, w, h, e.residual.heatmap, mh, mw, { box, percentile: pct, scale }));
      residual = rel('residual.png');
      cardProtos.push({ id: e.prototypes.length, label: 'Residual term', contribution: e.residual.contribution, overlayPath: 'residual.png', box, exemplars: [] });
    }
    const k = e.prototypes.length;
    const maps = new Float32Array(k * mh * mw);
    e.prototypes.forEach((t, i) => maps.set(t.heatmap, i * mh * mw));
    const combined = await combinedView(
      data, w, h,
      { data: maps, k, height: mh, width: mw },
      e.prototypes.map((t) => t.contribution),
      e.prototypes.map((t) => `Prototype ${t.prototype}`),
      { scale },
    );
    await writeFile(join(abs, 'combined.png'), combined);

    const ex = this.ex;
    const card: CardData = {
      imagePath: 'input.png',
      imageName: r.image,
      imageSize: { width: w, height: h },
      classNames: ex.network.manifest.classNames,
      logits: r.logits,
      probabilities: r.probabilities,
      explainedClass: e.index,
      bias: e.bias,
      prototypes: cardProtos,
      combinedViewPath: 'combined.png',
      boxPercentile: pct,
      details: [
        ['model', ex.modelPath],
        ['model SHA-256', ex.classifier.sha256],
        ['network', resolve(ex.network.dir)],
        ['prototypes of the explained class', String(e.prototypes.length)],
        ['explained class', e.selectedBy === 'predicted' ? 'the predicted class' : 'chosen with --class'],
        ['contributions + bias - logit', e.difference.toExponential(2)],
        ...r.notes.map((n) => ['note', n] as const),
      ],
    };
    await writeCard(join(abs, 'card.html'), card, { topK: ex.top, inline: this.opts.inline ?? false });

    const href = escapeHtml(`${encodeURIComponent(folder)}/card.html`);
    this.rows.push(
      `<tr><td class="num">${r.index + 1}</td>` +
        `<td><a href="${href}"><img src="${escapeHtml(`${encodeURIComponent(folder)}/input.png`)}" alt="${escapeHtml(`Input image ${r.image}`)}" width="${Math.min(96, w)}"></a></td>` +
        `<td class="path"><a href="${href}">${escapeHtml(r.image)}</a></td>` +
        `<td>${escapeHtml(r.predicted.name)} <span class="num">(${(100 * r.predicted.probability).toFixed(1)}%)</span></td>` +
        `<td>${escapeHtml(e.name)}${e.selectedBy === 'option' ? ' <span class="badge">--class</span>' : ''}</td>` +
        `<td class="num">${fmt(e.logit)}</td><td class="num">${fmt(e.bias)}</td>` +
        `<td class="num">${e.prototypes.map((t) => (t.contribution >= 0 ? '+' : '') + fmt(t.contribution)).join(' ')}</td></tr>`,
    );
    return { dir: folder, card: rel('card.html'), input: rel('input.png'), combined: rel('combined.png'), overlays, ...(residual ? { residual } : {}) };
  }

  /** Record entries in the folder's claim, touching the claim file only for names not recorded yet. */
  private async record(names: string[]): Promise<void> {
    const fresh = names.filter((n) => !this.recorded.has(n));
    if (fresh.length === 0) return;
    await recordOutputEntries(this.dir, fresh);
    for (const n of fresh) this.recorded.add(n);
  }

  /** Write explanations.json and index.html (after the last image). */
  async finish(doc: ExplanationDocument): Promise<void> {
    await this.record(['explanations.json', 'index.html']);
    await writeJsonAtomic(join(this.dir, 'explanations.json'), doc);
    await writeFileAtomic(join(this.dir, 'index.html'), indexHtml(doc, this.rows));
  }
}

function indexHtml(doc: ExplanationDocument, rows: readonly string[]): string {
  const failed = doc.failures
    .map((f) => `<li><span class="path">${escapeHtml(f.image)}</span>: ${escapeHtml(f.error)}</li>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Explanations (${doc.summary.explained} of ${doc.summary.images} images)</title>
<style>
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: #1a1a1a; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #d9d9d9; vertical-align: middle; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.path { word-break: break-all; }
.badge { font-size: 0.75rem; border: 1px solid currentColor; border-radius: 3px; padding: 0 4px; color: #555; }
img { display: block; height: auto; border: 1px solid #d9d9d9; }
.sub { color: #555; word-break: break-all; }
</style>
</head>
<body>
<main>
<h1>Explanations</h1>
<p class="sub">Network ${escapeHtml(doc.network.dir)} (${doc.network.classes} classes, ${doc.network.k} prototypes each); model ${escapeHtml(doc.model.path)}.
${doc.summary.explained} of ${doc.summary.images} images explained${doc.summary.failed ? `, ${doc.summary.failed} failed` : ''}. Numbers in explanations.json (schema ${escapeHtml(doc.schema)}, version ${doc.version}).</p>
<table>
<thead><tr><th class="num" scope="col">#</th><th scope="col">Picture</th><th scope="col">Image</th><th scope="col">Predicted</th><th scope="col">Explained class</th><th class="num" scope="col">Logit</th><th class="num" scope="col">Bias</th><th class="num" scope="col">Prototype contributions</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
${failed ? `<h2>Images that could not be explained</h2>\n<ul>\n${failed}\n</ul>` : ''}
</main>
</body>
</html>
`;
}
