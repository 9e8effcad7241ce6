#!/usr/bin/python3
"""Reference for benches/apt.rs: python3-apt's TagFile + parse_depends over a Packages file.

Usage: apt_python_parse.py PACKAGES [ITERATIONS] [records|discard]

Prints "<stanzas> <seconds> <cpu-seconds> <fastest-seconds>": wall and CPU time of all
iterations, and the wall time of the fastest one (the interpreter start-up is not counted).
Must run under /usr/bin/python3 (Debian's python3-apt).

Modes:
- records (the default): the same work as mbi's parse_packages. Every stanza becomes a record
  (a tuple) of the fields mbi's BinaryPackage holds, with the seven relationship fields parsed
  by parse_depends, and the records are kept in a list until the iteration ends, as mbi's are
  kept in a Vec; each iteration ends by freeing them (mbi's bench drops its records too). The
  cyclic garbage collector is off while parsing, which is python at its fastest here: with it
  on, each collection walks every record kept so far and the same work takes ~4x as long.
  Python keeps the values as strings where mbi also parses versions, numbers and the SHA256,
  so the reference still does less than mbi.
- discard: the fields are read and the relations parsed, then dropped at once (no records are
  kept). This was the reference up to November 2026.
"""
import gc
import sys
import time

import apt_pkg

FIELDS = ("Pre-Depends", "Depends", "Recommends", "Conflicts", "Breaks", "Provides", "Replaces")


def records(path):
    out = []
    with open(path, "rb") as f:
        for sec in apt_pkg.TagFile(f):
            get = sec.get
            relations = []
            for fld in FIELDS:
                v = get(fld)
                relations.append(apt_pkg.parse_depends(v, False) if v else [])
            out.append(
                (
                    get("Package"),
                    get("Version"),
                    get("Architecture"),
                    get("Multi-Arch"),
                    get("Essential"),
                    get("Priority"),
                    get("Section"),
                    get("Source"),
                    relations,
                    get("Filename"),
                    get("Size"),
                    get("SHA256"),
                    get("Installed-Size"),
                )
            )
    return out


def discard(path):
    n = 0
    with open(path, "rb") as f:
        for sec in apt_pkg.TagFile(f):
            n += 1
            sec.get("Package")
            sec.get("Version")
            sec.get("Architecture")
            sec.get("Filename")
            sec.get("Size")
            sec.get("SHA256")
            sec.get("Multi-Arch")
            sec.get("Essential")
            sec.get("Priority")
            sec.get("Section")
            sec.get("Source")
            sec.get("Installed-Size")
            for fld in FIELDS:
                v = sec.get(fld)
                if v:
                    apt_pkg.parse_depends(v, False)
    return [None] * n


def main():
    apt_pkg.init_config()
    path = sys.argv[1]
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    mode = sys.argv[3] if len(sys.argv) > 3 else "records"
    parse = {"records": records, "discard": discard}[mode]
    if mode == "records":
        gc.disable()
    t = time.perf_counter()
    c = time.process_time()
    n = 0
    fastest = float("inf")
    for _ in range(iters):
        start = time.perf_counter()
        out = parse(path)
        n = len(out)
        del out
        fastest = min(fastest, time.perf_counter() - start)
    print(n, time.perf_counter() - t, time.process_time() - c, fastest)


if __name__ == "__main__":
    main()
