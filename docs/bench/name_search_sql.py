"""The SQL of a name search at 100,000 VMs, with and without the LOWER(name) index of
migration 0012 (SQLite, the default backend): an exact name and a prefix, as the store writes
them (see store/sql.rs `name_like`). Prints the mean time of each of 200 runs and the plan.

usage: python3 docs/bench/name_search_sql.py
"""
import sqlite3
import time
import uuid

c = sqlite3.connect(":memory:")
c.execute("PRAGMA case_sensitive_like = ON")
c.execute("CREATE TABLE vms (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, status TEXT)")
c.executemany("INSERT INTO vms VALUES (?, ?, 'down')",
              ((str(uuid.uuid4()), "bench-vm-%06d" % i) for i in range(100000)))
c.commit()

LIKE = "SELECT id FROM vms WHERE 1 = 1 AND LOWER(name) LIKE LOWER(?) ESCAPE '\\'"
EXACT_OLD = (LIKE, ("bench-vm-054321",))
EXACT_NEW = ("SELECT id FROM vms WHERE 1 = 1 AND LOWER(name) = LOWER(?)", ("bench-vm-054321",))
PREFIX_OLD = (LIKE, ("bench-vm-0543%",))
PREFIX_NEW = (LIKE + " AND LOWER(name) >= ? AND LOWER(name) < ?", ("bench-vm-0543%", "bench-vm-0543", "bench-vm-0544"))


def ms(query):
    sql, args = query
    start = time.perf_counter()
    for _ in range(200):
        c.execute(sql, args).fetchall()
    return (time.perf_counter() - start) / 200 * 1000


before = {"exact": ms(EXACT_OLD), "prefix": ms(PREFIX_OLD)}
c.execute("CREATE INDEX vms_name_lower ON vms (LOWER(name))")
after = {"exact": ms(EXACT_NEW), "prefix": ms(PREFIX_NEW)}
for k in before:
    print("%-6s before %8.3f ms  after %8.3f ms" % (k, before[k], after[k]))
for name, (sql, args) in [("exact", EXACT_NEW), ("prefix", PREFIX_NEW)]:
    print(name, c.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()[0][3])
