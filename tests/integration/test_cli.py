"""Every binary's command line as packagers and sysadmins try it first:
--help and -h print the usage on stdout and exit 0, --version and -V the
version, an unknown option exits 2 with the usage on stderr."""

import os

import pytest

from edgetest import binary, run

BINARIES = ["xmpp-core", "xmppctl", "turnd", "upload-gw", "portmap", "dumbclient-redirect"]
VERSION = open(os.path.join(os.path.dirname(__file__), "..", "..", "VERSION")).read().strip()


@pytest.mark.parametrize("name", BINARIES)
def test_help_version_and_bad_options(name):
    for args in (["--help"], ["-h"]):
        r = run([binary(name)] + args)
        assert r.returncode == 0 and r.stdout.startswith("usage: " + name), (args, r)
        assert "-c file" in r.stdout and r.stderr == ""
    for args in (["--version"], ["-V"]):
        r = run([binary(name)] + args)
        assert r.returncode == 0 and r.stdout == "%s %s\n" % (name, VERSION), (args, r)
    r = run([binary(name), "--frobnicate"])
    assert r.returncode == 2 and "usage: " + name in r.stderr and r.stdout == ""
    # after -c, "--help" is the name of a configuration file (xmppctl,
    # given no command, says how to use it)
    r = run([binary(name), "-t", "-c", "--help"])
    assert r.returncode != 0 and r.stdout == ""
    assert ("--help" in r.stderr) if name != "xmppctl" else r.stderr.startswith("usage: xmppctl")
