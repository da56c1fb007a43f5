"""The distributed engine (DESIGN.md §6): a national full run on Apache Spark.

Events are read in parallel partitions by hash bucket of the code (rules D, L, R) and of
the sale (rule S), straight from PostgreSQL over JDBC or from a Parquet export; each
bucket is one Python call that applies `reconciler.rules` to its codes in chunks and
syncs that chunk's flags and chains in PostgreSQL itself, with the same identity, review
and RESOLVED semantics as the in-process engine (`reconciler.store.sync_flags`). Only
per-chunk counts come back to the driver: no event passes through it.

Nothing here is imported by the in-process engine: pyspark and Java are needed only when
this engine is asked for (`pip install '.[spark]'`, and the OS packages named by
`requirements()`).
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

DEFAULT_JDBC_JAR = Path("/usr/share/java/postgresql.jar")  # Debian's libpostgresql-jdbc-java


class SparkUnavailable(RuntimeError):
    """The Spark engine was asked for on a machine that lacks something it needs."""


@dataclass(frozen=True)
class Requirements:
    java: str | None
    pyspark: bool
    pyarrow: bool
    jdbc_jar: Path | None

    def missing(self) -> list[str]:
        out = []
        if self.java is None:
            out.append("a Java runtime (`apt-get install default-jre-headless`, or set JAVA_HOME)")
        if not self.pyspark or not self.pyarrow:
            out.append("pyspark and pyarrow (`pip install 'tracesvc[spark]'`)")
        if self.jdbc_jar is None:
            out.append(
                f"the PostgreSQL JDBC driver (`apt-get install libpostgresql-jdbc-java` for {DEFAULT_JDBC_JAR}, "
                "or TRACESVC_JDBC_JAR)"
            )
        return out


def requirements(jdbc_jar: Path | None = None, *, need_jdbc: bool = True) -> Requirements:
    """What this machine has of what the engine needs (no import of pyspark: it starts nothing)."""
    import os  # noqa: PLC0415 (optional dependency: loaded only when used)

    java_home = os.environ.get("JAVA_HOME")
    java = shutil.which("java") or (str(Path(java_home) / "bin" / "java") if java_home else None)
    if java and not Path(java).exists():
        java = None
    jar = jdbc_jar or Path(os.environ.get("TRACESVC_JDBC_JAR", DEFAULT_JDBC_JAR))
    return Requirements(
        java=java,
        pyspark=importlib.util.find_spec("pyspark") is not None,
        pyarrow=importlib.util.find_spec("pyarrow") is not None,
        jdbc_jar=jar if (jar.exists() or not need_jdbc) else None,
    )


def require(jdbc_jar: Path | None = None, *, need_jdbc: bool = True) -> Requirements:
    """Raise SparkUnavailable naming everything missing, else return what was found."""
    found = requirements(jdbc_jar, need_jdbc=need_jdbc)
    missing = found.missing()
    if missing:
        raise SparkUnavailable("the Spark engine needs " + "; ".join(missing))
    return found
