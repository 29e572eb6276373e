/** (being written) */
export {};
