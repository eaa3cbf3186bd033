/**
 * tfjs on its WebAssembly backend in Node, ready for training: the .wasm binaries are loaded from
 * the installed package by file path (nothing is fetched); the filter gradient of Conv2D, which the
 * backend lacks, is registered (conv2d-backprop-filter.ts), and its input gradient, which it ships
 * as a slow loop, is replaced (conv2d-backprop-input.ts). Both run on the backend's XNNPACK Conv2D.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths, getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { registerConv2DBackpropFilterViaConv } from './conv2d-backprop-filter.ts';
import { registerConv2DBackpropInputViaConv } from './conv2d-backprop-input.ts';

/** What the backend turned out to be after initialisation. */
export interface WasmBackendInfo {
  backend: string;
  /** WebAssembly SIMD in use (the SIMD build of the backend was loaded). */
  simd: boolean;
  /** Threads used by XNNPACK (1 in Node: the threaded build needs cross-origin isolation). */
  threads: number;
  /** Kernels registered by this project (missing from the backend, or replacing a slow one). */
  addedKernels: string[];
  tfjsVersion: string;
}

let initialised: Promise<WasmBackendInfo> | null = null;

/** Directory (with trailing separator) holding tfjs-backend-wasm's .wasm files. */
export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@tensorflow/tfjs-backend-wasm');
  // entry is .../tfjs-backend-wasm/dist/tf-backend-wasm.node.js (or similar) inside dist/
  return join(dirname(entry), '/');
}

/**
 * Select the wasm backend and register the gradient kernels it lacks (once per process; later calls
 * re-select wasm if another backend was set meanwhile). With `requireSimd`, fails when the SIMD
 * build could not be used, since training would then be several times slower.
 */
export async function initWasmBackend(options: { requireSimd?: boolean } = {}): Promise<WasmBackendInfo> {
  initialised ??= (async () => {
    setWasmPaths(wasmBinaryDir());
    const added: string[] = [];
    if (registerConv2DBackpropFilterViaConv('wasm')) added.push('Conv2DBackpropFilter');
    if (registerConv2DBackpropInputViaConv('wasm')) added.push('Conv2DBackpropInput');
    const ok = await tf.setBackend('wasm');
    if (!ok) throw new Error(`tfjs wasm backend failed to initialise (binaries looked up in ${wasmBinaryDir()})`);
    await tf.ready();
    const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    return { backend: 'wasm', simd, threads: getThreadsCount(), addedKernels: added, tfjsVersion: tf.version.tfjs };
  })();
  const info = await initialised;
  if (options.requireSimd && !info.simd) throw new Error('tfjs wasm backend: WebAssembly SIMD is not available in this Node build');
  if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
  return info;
}
