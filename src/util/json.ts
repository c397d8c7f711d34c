/** Where JSON.parse stopped, as a 1-based line and column. */
export function jsonErrorPosition(text: string, message: string): { line: number; col: number } {
  const lineCol = /line (\d+) column (\d+)/.exec(message);
  if (lineCol) return { line: Number(lineCol[1]), col: Number(lineCol[2]) };
  const position = /position (\d+)/.exec(message);
  const offset = position ? Number(position[1]) : firstBadOffset(text);
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: before[before.length - 1]!.length + 1 };
}

/** Bounds the prefix search below (quadratic, meant for manifests of a few KiB). */
const SEARCH_LIMIT = 64 * 1024;

/**
 * Node 20 reports some errors ("Unexpected token 't', … is not valid JSON")
 * without a position: the first bad character is where a prefix stops being
 * merely unfinished.
 */
function firstBadOffset(text: string): number {
  if (text.length > SEARCH_LIMIT) return text.length;
  for (let i = 1; i <= text.length; i++) {
    try {
      JSON.parse(text.slice(0, i));
    } catch (error) {
      const message = (error as Error).message;
      const at = /position (\d+)/.exec(message);
      // An error at the very end of the prefix only means "not finished yet".
      if (at) {
        if (Number(at[1]) < i - 1) return Number(at[1]);
        continue;
      }
      if (!/end of JSON input/i.test(message)) return i - 1;
    }
  }
  return text.length;
}
