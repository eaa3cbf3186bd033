/**
 * The committed WebAssembly modules (base64 in generated .ts files, scripts/build-wasm.sh): their
 * instantiation and a bump allocator in their linear memory.
 */

/** What every module exports besides its functions. */
export interface WasmMemoryExports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
}

/** Instantiate a module from its base64 bytes (synchronously: the modules are a few kB). */
export function instantiateBase64<T extends WasmMemoryExports>(base64: string): T {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as T;
}

/** Bump allocation in a module's memory, 16-byte aligned, growing it as needed; a new arena per call. */
export class Arena {
  private top: number;
  constructor(private readonly m: WasmMemoryExports) {
    this.top = ((m.__heap_base.value as number) + 15) & ~15;
  }
  alloc(bytes: number): number {
    const at = this.top;
    this.top = (at + bytes + 15) & ~15;
    const need = this.top - this.m.memory.buffer.byteLength;
    if (need > 0) this.m.memory.grow(Math.ceil(need / 65536));
    return at;
  }
  put(data: ArrayLike<number> & { byteLength: number; buffer: ArrayBufferLike; byteOffset: number }): number {
    const at = this.alloc(data.byteLength);
    new Uint8Array(this.m.memory.buffer, at, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return at;
  }
}
