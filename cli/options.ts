/** Shared option parsers for the `realgen` command. */

/** Parses an integer option ≥ `min`; the error names the flag and the value given. */
export function intOption(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
}
