/**
 * A direct-mapped, tagged software TLB: the CPU's fast path for every memory
 * access. One entry per 4 KiB linear page, indexed by the low bits of the page
 * number; separate read, write and execute views so a permission check is a
 * tag compare. Entries hold the page's offset in RAM.
 *
 * A tag is the linear address with the page offset cleared, as (lo, hi). An
 * invalid entry has hi = INVALID_HI, which no canonical address has.
 */
export const TLB_BITS = 12;
export const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;
export const INVALID_HI = 0x40000000;

export class TlbView {
  readonly tagLo = new Int32Array(TLB_SIZE);
  readonly tagHi = new Int32Array(TLB_SIZE).fill(INVALID_HI);
  /** RAM offset of the page's first byte. */
  readonly base = new Int32Array(TLB_SIZE);

  set(lo: number, hi: number, ramPage: number): void {
    const idx = (lo >>> 12) & TLB_MASK;
    this.tagLo[idx] = lo & ~0xfff;
    this.tagHi[idx] = hi;
    this.base[idx] = ramPage << 12;
  }

  /** Drop the entry for one linear page, if present. */
  invalidatePage(lo: number, hi: number): void {
    const idx = (lo >>> 12) & TLB_MASK;
    if (this.tagLo[idx] === (lo & ~0xfff) && this.tagHi[idx] === hi) this.tagHi[idx] = INVALID_HI;
  }

  /** Drop every entry that maps RAM page `ramPage`. */
  invalidateRamPage(ramPage: number): void {
    const b = ramPage << 12;
    for (let i = 0; i < TLB_SIZE; i++) if (this.base[i] === b) this.tagHi[i] = INVALID_HI;
  }

  flush(): void {
    this.tagHi.fill(INVALID_HI);
  }
}

export class Tlb {
  readonly read = new TlbView();
  readonly write = new TlbView();
  readonly exec = new TlbView();
  /**
   * Bumped whenever translations may have changed (flushes, invalidations):
   * the CPU's chained blocks skip the code-TLB check only within one generation.
   */
  gen = 0;

  flush(): void {
    this.read.flush();
    this.write.flush();
    this.exec.flush();
    this.gen++;
  }

  invalidatePage(lo: number, hi: number): void {
    this.read.invalidatePage(lo, hi);
    this.write.invalidatePage(lo, hi);
    this.exec.invalidatePage(lo, hi);
    this.gen++;
  }
}
