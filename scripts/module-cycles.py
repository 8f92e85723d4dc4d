#!/usr/bin/env python3
"""Fails when gateway-core's top-level modules import each other in a circle.

Each file under functions/core/src belongs to its top-level module (`send/passthrough.rs` to
`send`); every `crate::<module>` it names (in a `use` or a path; comments skipped) is an
edge. Test files (`tests.rs`, `tests/`) are left out: tests may reach anything. Inline
`#[cfg(test)] mod tests` blocks are cut off at their start. Strongly connected components of more than one module are printed and fail the run.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "functions" / "core" / "src"
PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
GROUP = re.compile(r"\buse\s+crate::\{([^}]*)\}", re.S)


def module_of(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".rs")


def edges():
    graph = {}
    for path in ROOT.rglob("*.rs"):
        module = module_of(path)
        rel = path.relative_to(ROOT)
        # Tests may reach anything (the memory fakes above all); the graph is the product's.
        if module in ("lib", "main") or "tests" in rel.parts or rel.name == "tests.rs":
            continue
        source = path.read_text().split("#[cfg(test)]\nmod tests", 1)[0]
        text = "\n".join(line.split("//", 1)[0] for line in source.splitlines())
        names = set(PATH.findall(text))
        for group in GROUP.findall(text):
            names.update(re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group))
        graph.setdefault(module, set()).update(n for n in names if n != module)
    return graph


def cycles(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    graph = edges()
    found = cycles(graph)
    for component in found:
        members = set(component)
        detail = "; ".join(
            f"{m} -> {', '.join(sorted(graph[m] & members))}" for m in component
        )
        print(f"module cycle in gateway-core: {detail}", file=sys.stderr)
    if found:
        return 1
    print(f"gateway-core: {len(graph)} modules, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
