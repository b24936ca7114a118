/** 32-bit FNV-1 (multiply, then xor — not FNV-1a) over UTF-8 bytes, as Go's hash/fnv New32. */
export function fnv1_32(...parts: string[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    for (const byte of Buffer.from(part, 'utf8')) {
      h = Math.imul(h, 0x01000193) >>> 0;
      h = (h ^ byte) >>> 0;
    }
  }
  return h;
}
