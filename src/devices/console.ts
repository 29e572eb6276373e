/**
 * dom0's console backend for a PV domU (what xenconsoled does): drains the
 * guest's hvc0 output ring (struct xencons_interface in xen/io/console.h)
 * into a sink and feeds typed input into the guest's input ring. Keeps the
 * whole output as scrollback from the first byte (early console_io output
 * goes into the same stream).
 */

/** struct xencons_interface offsets (xen/io/console.h). */
export const XENCONS = {
  in: 0, // char in[1024]
  out: 1024, // char out[2048]
  in_cons: 3072,
  in_prod: 3076,
  out_cons: 3080,
  out_prod: 3084,
  inSize: 1024,
  outSize: 2048,
} as const;

export class ConsoleBackend {
  private readonly dv: DataView;
  /** Everything the guest printed, for `waitFor` and attach-time replay. */
  private readonly chunks: Uint8Array[] = [];
  private total = 0;
  private readonly pendingInput: number[] = [];
  private readonly listeners = new Set<(bytes: Uint8Array) => void>();

  constructor(
    private readonly ram: Uint8Array,
    /** Byte offset of the console page in `ram`. */
    private readonly page: number,
    /** Raise the console event channel in the guest. */
    private notifyGuest: () => void = () => {},
  ) {
    this.dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  }

  setNotify(f: () => void): void {
    this.notifyGuest = f;
  }

  /** Subscribe to output; returns an unsubscribe function. */
  onOutput(f: (bytes: Uint8Array) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Output that did not come through the ring (HYPERVISOR_console_io). */
  emit(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const copy = bytes.slice();
    this.chunks.push(copy);
    this.total += copy.length;
    for (const l of this.listeners) l(copy);
  }

  /** Everything printed so far. */
  scrollback(): Uint8Array {
    const out = new Uint8Array(this.total);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }

  /** Queue bytes typed by the user; they enter the ring as space allows. */
  input(bytes: Uint8Array): void {
    for (const b of bytes) this.pendingInput.push(b);
    this.kick();
  }

  /** Process both rings (on a guest notification, or periodically). */
  kick(): void {
    const dv = this.dv;
    const p = this.page;
    let notify = false;
    // Guest → host.
    const outCons = dv.getUint32(p + XENCONS.out_cons, true);
    const outProd = dv.getUint32(p + XENCONS.out_prod, true);
    let avail = (outProd - outCons) >>> 0;
    if (avail > XENCONS.outSize) avail = XENCONS.outSize; // a confused guest: never read past the ring
    if (avail > 0) {
      const bytes = new Uint8Array(avail);
      for (let k = 0; k < avail; k++) bytes[k] = this.ram[p + XENCONS.out + ((outCons + k) & (XENCONS.outSize - 1))]!;
      dv.setUint32(p + XENCONS.out_cons, (outCons + avail) >>> 0, true);
      this.emit(bytes);
      notify = true;
    }
    // Host → guest.
    if (this.pendingInput.length > 0) {
      const inCons = dv.getUint32(p + XENCONS.in_cons, true);
      let inProd = dv.getUint32(p + XENCONS.in_prod, true);
      let space = XENCONS.inSize - ((inProd - inCons) >>> 0);
      let n = 0;
      while (space > 0 && n < this.pendingInput.length) {
        this.ram[p + XENCONS.in + (inProd & (XENCONS.inSize - 1))] = this.pendingInput[n++]!;
        inProd = (inProd + 1) >>> 0;
        space--;
      }
      if (n > 0) {
        this.pendingInput.splice(0, n);
        dv.setUint32(p + XENCONS.in_prod, inProd, true);
        notify = true;
      }
    }
    if (notify) this.notifyGuest();
  }
}
