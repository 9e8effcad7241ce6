#!/usr/bin/env python3
"""Resolve git conflict blocks by keeping both sides (ours, then theirs), dropping lines of
theirs that already appear verbatim in ours when they look like single-line declarations."""
import re, sys
for p in sys.argv[1:]:
    s = open(p).read()
    def keep(m):
        ours, theirs = m.group(1), m.group(2)
        ol = set(l for l in ours.splitlines() if l.strip())
        t = [l for l in theirs.splitlines(keepends=True)
             if not (l.strip() and l.rstrip('\n') in ol and ('.workspace' in l or l.startswith('pub mod') or l.startswith('pub use')))]
        return ours + ''.join(t)
    s2 = re.sub(r'<<<<<<< [^\n]*\n(.*?)=======\n(.*?)>>>>>>> [^\n]*\n', keep, s, flags=re.S)
    open(p, 'w').write(s2)
