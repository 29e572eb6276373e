/** The CPUID a PV domU sees (being written). */
export function pvCpuid(_leaf: number, _sub: number, out: Int32Array, _vcpus: number): void {
  out.fill(0);
}
