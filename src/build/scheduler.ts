/**
 * Run work over a dependency graph, at most `jobs` at a time: a node starts
 * when all its dependencies have finished. When one fails, its dependents
 * (transitively) are skipped; independent work goes on and finishes.
 * Ready nodes start in the order given (dependencies first), so runs are
 * predictable.
 */
export interface GraphOutcome<N> {
  failed: Map<N, unknown>;
  /** Each skipped node, with the failed node that caused it. */
  skipped: Map<N, N>;
}

export async function runGraph<N>(
  nodes: readonly N[],
  depsOf: (node: N) => readonly N[],
  jobs: number,
  work: (node: N) => Promise<void>,
): Promise<GraphOutcome<N>> {
  const waitingOn = new Map<N, number>();
  const dependents = new Map<N, N[]>();
  for (const node of nodes) {
    const deps = [...new Set(depsOf(node))];
    waitingOn.set(node, deps.length);
    for (const dep of deps) dependents.set(dep, [...(dependents.get(dep) ?? []), node]);
  }
  const order = new Map(nodes.map((n, i) => [n, i]));
  const ready = nodes.filter((n) => waitingOn.get(n) === 0);
  const failed = new Map<N, unknown>();
  const skipped = new Map<N, N>();
  const running = new Set<Promise<void>>();

  const skip = (node: N, cause: N) => {
    for (const next of dependents.get(node) ?? []) {
      if (skipped.has(next)) continue;
      skipped.set(next, cause);
      skip(next, cause);
    }
  };
  const start = (node: N) => {
    const task = work(node).then(
      () => {
        for (const next of dependents.get(node) ?? []) {
          const left = waitingOn.get(next)! - 1;
          waitingOn.set(next, left);
          if (left === 0 && !skipped.has(next)) ready.push(next);
        }
        ready.sort((a, b) => order.get(a)! - order.get(b)!);
      },
      (error: unknown) => {
        failed.set(node, error);
        skip(node, node);
      },
    );
    const tracked = task.finally(() => running.delete(tracked));
    running.add(tracked);
  };

  while (ready.length > 0 || running.size > 0) {
    while (ready.length > 0 && running.size < Math.max(1, jobs)) start(ready.shift()!);
    if (running.size > 0) await Promise.race(running);
  }
  return { failed, skipped };
}
