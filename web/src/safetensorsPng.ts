/** Reading a render output's PNG in the browser, without the protocol code (no DOM needed: tested in node). */

/**
 * The PNG bytes a render output carries (its uint8 tensor `png`), from the safetensors bytes.
 *
 * @example const png = pngOfSafetensors(new Uint8Array(await (await fetch(url)).arrayBuffer()));
 */
export function pngOfSafetensors(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) throw new Error('not a safetensors file');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<
    string,
    { dtype?: string; data_offsets?: [number, number] }
  >;
  const t = header.png;
  if (t?.dtype !== 'U8' || !t.data_offsets) throw new Error('no png tensor');
  const [a, b] = t.data_offsets;
  return bytes.subarray(8 + headerLen + a, 8 + headerLen + b);
}
