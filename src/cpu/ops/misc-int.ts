/** Integer instructions added while bringing up user-mode programs (run-elf). */
export {};
