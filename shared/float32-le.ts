/**
 * Little-endian float32 bytes, for the dataset files (shared/data) and the wire (shared/protocol/codec.ts) alike.
 * Float32Array uses the platform byte order: every common platform is
 * LE, but a big-endian one falls back to an explicit DataView conversion instead of reading or writing garbage.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Copies little-endian float32 bytes into a fresh (hence aligned) Float32Array. */
export function float32FromLeBytes(buf: Uint8Array): Float32Array {
  const x = new Float32Array(buf.byteLength / 4);
  if (LITTLE_ENDIAN) {
    new Uint8Array(x.buffer).set(buf);
  } else {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let i = 0; i < x.length; i++) x[i] = dv.getFloat32(i * 4, true);
  }
  return x;
}

/** `x` as little-endian bytes: a view of it on LE platforms, a converted copy otherwise. */
export function float32ToLeBytes(x: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const out = new Uint8Array(x.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < x.length; i++) dv.setFloat32(i * 4, x[i] as number, true);
  return out;
}
