/** FNV-1a over a string, folded into a 32-bit seed. */
export function hashString(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A small, fast, seeded pseudo-random stream (sfc32). One per sensor, keyed by
 * (seed, industry, device, sensor), so a sensor's values never depend on what else runs.
 */
export class RandomStream {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, key: string) {
    this.a = hashString(key, seed >>> 0);
    this.b = hashString(key, (seed ^ 0x9e3779b9) >>> 0);
    this.c = hashString(key, (seed * 31 + 7) >>> 0);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    return (this.nextInt32() >>> 0) / 4294967296;
  }

  /** A uniformly distributed signed 32-bit integer. */
  nextInt32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t;
  }

  /**
   * Standard normal, by Marsaglia and Tsang's ziggurat (128 layers): one 32-bit draw and a table
   * lookup in about 98 % of calls, exact tails.
   */
  gaussian(): number {
    const hz = this.nextInt32();
    const iz = hz & 127;
    if (Math.abs(hz) < KN[iz]!) return hz * WN[iz]!;
    return this.gaussianSlow(hz, iz);
  }

  private gaussianSlow(hz: number, iz: number): number {
    for (;;) {
      if (iz === 0) {
        let x: number;
        let y: number;
        do {
          x = -Math.log(1 - this.next()) / ZIGGURAT_R;
          y = -Math.log(1 - this.next());
        } while (y + y < x * x);
        return hz > 0 ? ZIGGURAT_R + x : -ZIGGURAT_R - x;
      }
      const x = hz * WN[iz]!;
      if (FN[iz]! + this.next() * (FN[iz - 1]! - FN[iz]!) < Math.exp(-0.5 * x * x)) return x;
      hz = this.nextInt32();
      iz = hz & 127;
      if (Math.abs(hz) < KN[iz]!) return hz * WN[iz]!;
    }
  }
}

const ZIGGURAT_R = 3.442619855899;
const KN = new Float64Array(128);
const WN = new Float64Array(128);
const FN = new Float64Array(128);
{
  const m1 = 2147483648;
  let dn = ZIGGURAT_R;
  let tn = dn;
  const vn = 9.91256303526217e-3;
  const q = vn / Math.exp(-0.5 * dn * dn);
  KN[0] = (dn / q) * m1;
  KN[1] = 0;
  WN[0] = q / m1;
  WN[127] = dn / m1;
  FN[0] = 1;
  FN[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    KN[i + 1] = (dn / tn) * m1;
    tn = dn;
    FN[i] = Math.exp(-0.5 * dn * dn);
    WN[i] = dn / m1;
  }
}
