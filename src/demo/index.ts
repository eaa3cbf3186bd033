/** The demo: the whole method on the bundled parts dataset, shown on one HTML page (`npm run demo`). */
export { runDemo, DEMO_STEPS, type DemoHooks, type DemoProgress, type DemoResult, type DemoStepName } from './run-demo.ts';
export { resolveDemoOptions, DEFAULT_DEMO_MODEL, DEFAULT_DEMO_OUT, DEFAULT_DEMO_CACHE, DEFAULT_DEMO_K, DEFAULT_EXPLAINED_CLASSES, DEFAULT_DEMO_EXEMPLARS, DEFAULT_DEMO_SEED, type DemoOptions, type ResolvedDemoOptions, type DemoDatasetOverrides } from './options.ts';
export { readDemoModelRecord, type DemoModelRecord } from './model-record.ts';
export { prepareDemoFolder, DEMO_CLAIM_FILE, DEMO_LAYOUT } from './output-folder.ts';
export { classifySplit, argmax, type TestPassResult, type Misclassified } from './test-pass.ts';
export { chooseImages, type ChosenImage } from './choose-images.ts';
export { renderDemoPage } from './page.ts';
export { pageClasses, attributeView, describePreprocess, type PageClassInputs } from '../html/page-classes.ts';
export { evaluationView } from './page-evaluation.ts';
export { brokenReferences, pageReferences } from './page-links.ts';
export type * from '../html/page-data.ts';
export { formatDemoSummary, DEMO_SUMMARY_SCHEMA, DEMO_SUMMARY_VERSION, type DemoSummary, type SetFigures } from './summary.ts';
export { runDemoCli, demoSpec, demoOptionsFromArgs } from '../cli/demo.ts';
