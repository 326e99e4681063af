"""xmpp-core/depcheck.sh: the layering rule fails the build when broken.

Each case copies xmpp-core/ (and common/'s headers) into a temporary tree,
adds one include, and runs the checker there."""
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def tree(tmp_path):
    shutil.copytree(ROOT / "xmpp-core", tmp_path / "xmpp-core",
                    ignore=shutil.ignore_patterns("*.o", "*.d"))
    (tmp_path / "common").mkdir()
    for h in (ROOT / "common").glob("*.h"):
        shutil.copy(h, tmp_path / "common")
    return tmp_path / "xmpp-core"


def depcheck(x):
    return subprocess.run(["sh", str(x / "depcheck.sh")],
                          capture_output=True, text=True, timeout=120)


def add_include(path, header):
    text = path.read_text()
    path.write_text(text.replace('#include "', '#include "%s"\n#include "' % header, 1))


def test_tree_as_shipped_passes(tmp_path):
    r = depcheck(tree(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "layering ok" in r.stdout


@pytest.mark.parametrize("where,header,why", [
    ("core/route/router.c", "carbons.h", "core includes module header carbons.h"),
    ("core/stream/c2s.c", "sm.h", "core includes module header sm.h"),
    ("im/roster.c", "mam.h", "im includes mam/mam.h"),
    ("mam/mam.c", "presence.h", "mam includes im/presence.h"),
    ("push/push.c", "pubsubstore.h", "push includes pubsub/pubsubstore.h"),
    ("services/upload.c", "nosuch.h", "nosuch.h is in no xmpp-core folder"),
])
def test_broken_include_fails(tmp_path, where, header, why):
    x = tree(tmp_path)
    add_include(x / where, header)
    r = depcheck(x)
    assert r.returncode == 1
    assert why in r.stderr
    assert where in r.stderr


def test_interface_line_allows_include(tmp_path):
    x = tree(tmp_path)
    add_include(x / "mam" / "mam.c", "presence.h")
    readme = x / "im" / "README.md"
    readme.write_text(readme.read_text().replace(
        "Interface headers: roster.h", "Interface headers: presence.h, roster.h"))
    r = depcheck(x)
    assert r.returncode == 0, r.stderr
