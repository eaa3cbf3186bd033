/**
 * The class gallery of the demo report and the viewer: per class its look (part attributes, when known), its test accuracy and
 * its k prototypes, each shown by its best training image (box and faint heatmap), its exemplar
 * patches, its part fidelity and, when the evaluation ran, the part it lands on.
 */
import { CATEGORICAL_PALETTE } from '../pictures/palette.ts';
import type { PageClass, PagePrototype } from './page-data.ts';
import { classNumber, displayName, esc, num, pct, url } from './format.ts';

/** The body region of a CUB part name ('nape' -> 'head'), or null for names outside CUB's 15. */
export function bodyRegion(part: string): string | null {
  const regions: Record<string, string> = {
    back: 'body', belly: 'body', breast: 'body',
    beak: 'beak',
    crown: 'head', forehead: 'head', 'left eye': 'head', 'right eye': 'head', nape: 'head', throat: 'head',
    'left leg': 'legs', 'right leg': 'legs',
    'left wing': 'wing', 'right wing': 'wing',
    tail: 'tail',
  };
  return regions[part] ?? null;
}

/** The colour of prototype i: the combined view's palette, so chips match the explanation pictures. */
export const protoColour = (i: number) => CATEGORICAL_PALETTE[i % CATEGORICAL_PALETTE.length];

function prototypeBlock(p: PagePrototype, cname: string): string {
  const best = p.exemplars[0];
  const label = `P${p.index}`;
  const ctx = best
    ? `<a class="ctx" href="${url(best.context, 'exemplar context')}"><img src="${url(best.context, 'exemplar context')}" width="84" height="84" alt="${esc(`${cname}, prototype ${p.index}: best training image ${best.image}, strongest region boxed`)}"></a>`
    : '<span class="ctx none">no exemplar</span>';
  const crops = p.exemplars
    .map(
      (e, r) =>
        `<a href="${url(e.context, 'exemplar context')}" title="${esc(`${e.image} (score ${e.score.toFixed(3)})`)}"><img src="${url(e.crop, 'exemplar crop')}" width="40" height="40" alt="${esc(`${cname}, prototype ${p.index}: patch ${r + 1} from ${e.image}`)}"></a>`,
    )
    .join('');
  const part = p.dominantPart;
  const region = part ? bodyRegion(part.name) : null;
  const partText = part
    ? `<span class="part${part.consistent ? ' ok' : ''}" title="${esc(`the part inside this prototype's region in ${pct(part.rate, 0)} of the class's test images where it is visible`)}">${esc(part.name)}${region && region !== part.name ? ` <small>(${esc(region)})</small>` : ''} ${pct(part.rate, 0)}${part.consistent ? ' \u2713' : ''}</span>`
    : '';
  const stats = [
    p.lowFidelity
      ? `<span class="lowfid" title="below the build's part-fidelity threshold: this prototype's heatmap no longer follows the part NMF found (rebuild with --low-fidelity residual-term to keep the parts)">\u26a0 fidelity ${num(p.partFidelity, 2)}</span>`
      : `<span title="cosine between the refined prototype's heatmaps and its NMF part's">fidelity ${num(p.partFidelity, 2)}</span>`,
    p.alpha !== null ? `<span title="NMF scaling alpha">\u03b1 ${num(p.alpha, 2)}</span>` : '',
    p.stability !== null ? `<span title="share of test images whose part hits survive input noise">stable ${pct(p.stability, 0)}</span>` : '',
    p.purity !== null ? `<span title="purity (PIP-Net): share of its top 10 training patches on one part${p.purity.part ? ` (${esc(p.purity.part)})` : ''}">pure ${pct(p.purity.value, 0)}</span>` : '',
  ].filter(Boolean);
  return `<div class="proto">
<div class="ptop"><span class="pchip" style="--c:${protoColour(p.index)}">${label}</span>${partText}</div>
<div class="pbody">${ctx}<div class="crops">${crops}</div></div>
<div class="pstats">${stats.join('<span class="dot">\u00b7</span>')}</div>
</div>`;
}

/** Styles of one prototype block (chip, part label, context picture, crops, stats): shared by every page showing the gallery. */
export const PROTOTYPE_BLOCK_CSS = `.proto { border-top: 1px solid var(--line); padding-top: 6px; margin-top: 6px; }
.lowfid { color: #b3261e; font-weight: 600; }
.ptop { display: flex; align-items: center; gap: 8px; font-size: 0.85rem; }
.pchip { display: inline-block; min-width: 28px; text-align: center; font-weight: 700; font-size: 0.78rem; border-radius: 4px; padding: 0 5px; color: #fff; background: var(--c); text-shadow: 0 0 2px #0009; }
.part { color: var(--sub); }
.part.ok { color: var(--ok); font-weight: 600; }
.pbody { display: flex; gap: 8px; align-items: center; margin-top: 4px; }
.ctx img { display: block; width: 84px; height: 84px; border-radius: 4px; border: 1px solid var(--line); }
.crops { display: flex; flex-wrap: wrap; gap: 4px; }
.crops img { display: block; width: 40px; height: 40px; object-fit: contain; background: var(--soft); border: 1px solid var(--line); border-radius: 3px; }
.pstats { font-size: 0.78rem; color: var(--sub); margin-top: 3px; }
.dot { margin: 0 5px; }`;

/** The HTML shown at the right of a class's header; default: its test accuracy. */
export type ClassStatus = (c: PageClass) => string;

function testAccuracyStatus(c: PageClass): string {
  const acc = c.testImages > 0 ? `${c.testCorrect}/${c.testImages} test images right` : 'no test images';
  const accClass = c.testImages > 0 && c.testCorrect < c.testImages ? 'acc warn' : 'acc';
  const regions = [
    c.distinctiveness !== null ? `<span title="distinctiveness (PNP): 100 x (1 - mean overlap of the boxes around each pair of the class's prototype peaks), test images">distinct ${c.distinctiveness.toFixed(0)}</span>` : '',
    c.comprehensiveness !== null ? `<span title="comprehensiveness (PNP): overlap (IoU, %) of the prototypes' strong regions with the object's mask, test images">on object ${c.comprehensiveness.toFixed(0)}</span>` : '',
  ].filter((x) => x !== '');
  return `<span class="${accClass}">${esc(acc)}</span>${regions.length ? `<span class="acc">${regions.join('<span class="dot">\u00b7</span>')}</span>` : ''}`;
}

/** A class's prototype blocks: inline in an eager gallery, or the fragment a lazy gallery loads. */
export function classPrototypesHtml(c: PageClass): string {
  const cname = displayName(c.name);
  return c.prototypes.map((p) => prototypeBlock(p, cname)).join('\n');
}

/**
 * A lazy gallery: each class's prototype blocks are a separate fragment (`fragment(c)`, a URL
 * relative to the page), loaded when the class comes near the viewport; the page itself holds only
 * the class headers, so it stays small and paints at once at 1,000 classes.
 */
export interface LazyGallery {
  fragment: (c: PageClass) => string;
}

/** Classes beyond which the viewer and the site load the gallery lazily. */
export const LAZY_GALLERY_CLASSES = 100;

function classCard(c: PageClass, status: ClassStatus, lazy: LazyGallery | null): string {
  const cname = displayName(c.name);
  const attrs = c.attributes
    .map((a) => `<li><b>${esc(a.part)}</b> ${a.colour ? `<i class="sw" style="background:${esc(a.colour)}"></i>` : ''}${esc(a.text)}</li>`)
    .join('');
  const body = lazy
    ? `<div class="lazy" data-fragment="${url(lazy.fragment(c), 'gallery fragment')}" style="min-height:${c.prototypes.length * 118}px" aria-busy="true"></div>`
    : classPrototypesHtml(c);
  return `<article class="cls" id="class-${c.index}">
<header><h3><span class="cid">${esc(classNumber(c.name, c.index))}</span> ${esc(cname)}</h3>${status(c)}</header>
${attrs ? `<ul class="attrs">${attrs}</ul>` : ''}
${body}
</article>`;
}

/**
 * The lazy gallery's loader: fetches a class's fragment when its placeholder comes within 800 px of
 * the viewport (and at once for a class reached by an anchor), then shows it.
 */
export const LAZY_GALLERY_SCRIPT = `
(() => {
  const load = (el) => {
    if (el.dataset.loading) return;
    el.dataset.loading = '1';
    fetch(el.dataset.fragment).then((r) => (r.ok ? r.text() : Promise.reject(new Error('HTTP ' + r.status)))).then(
      (html) => { el.outerHTML = html; },
      (e) => { el.textContent = 'Could not load this class: ' + e.message; el.removeAttribute('aria-busy'); },
    );
  };
  const boxes = document.querySelectorAll('.lazy[data-fragment]');
  if (!('IntersectionObserver' in window)) { boxes.forEach(load); return; }
  const io = new IntersectionObserver((entries) => entries.forEach((e) => { if (e.isIntersecting) { io.unobserve(e.target); load(e.target); } }), { rootMargin: '800px 0px' });
  boxes.forEach((b) => io.observe(b));
})();
`;

/** The gallery section: every class (lazy: the prototypes of each class as a fragment, see LazyGallery). */
export function gallerySection(
  classes: readonly PageClass[],
  k: number,
  exemplars: number,
  region: { size: number; input: number } | null,
  status: ClassStatus = testAccuracyStatus,
  lazy: LazyGallery | null = null,
): string {
  return `<section id="prototypes">
<h2>The prototypes of every class</h2>
<p class="lead">Each class's head vector is rewritten exactly as the sum of ${k} prototypes. A prototype is shown by the
training image that activates it most (box = its strongest region, faint heatmap) and its ${exemplars} best
training patches (click one for its whole image). <b>fidelity</b> is the cosine between the refined prototype's
heatmaps and its NMF part's (1 = the refinement kept the part).${
    region
      ? ` The part name is the annotated keypoint that falls inside the prototype\u2019s region most often on the class\u2019s test images (\u2713: in at least 80% of them, the consistency criterion). That region is ${region.size} \u00d7 ${region.size} pixels of the ${region.input}-pixel input, so neighbouring keypoints share it: a prototype on the wing, which lies over the back, is often counted as \u201cback\u201d.`
      : ''
  }</p>
<div class="gallery">
${classes.map((c) => classCard(c, status, lazy)).join("\n")}
</div>
</section>`;
}
