#!/usr/bin/python3
"""Reference for benches/apt.rs: python3-apt's TagFile + parse_depends over a Packages file.

Usage: apt_python_parse.py PACKAGES [ITERATIONS]
Prints "<stanzas> <seconds> <cpu-seconds>": wall and CPU time of all iterations (the
interpreter start-up is not counted). Must run under /usr/bin/python3 (Debian's python3-apt).
"""
import sys
import time

import apt_pkg

FIELDS = ("Depends", "Pre-Depends", "Conflicts", "Breaks", "Provides", "Replaces", "Recommends")


def parse(path):
    n = 0
    with open(path, "rb") as f:
        tf = apt_pkg.TagFile(f)
        for sec in tf:
            n += 1
            # The fields mbi's record holds, as python3-apt would read them.
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
    return n


def main():
    apt_pkg.init_config()
    path = sys.argv[1]
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    t = time.perf_counter()
    c = time.process_time()
    n = 0
    for _ in range(iters):
        n = parse(path)
    print(n, time.perf_counter() - t, time.process_time() - c)


if __name__ == "__main__":
    main()
